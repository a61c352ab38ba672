from django.urls import path

from tickets.api import privacy, views

org_urlpatterns = [
    path("tickets/", views.TicketListView.as_view(), name="ticket-list"),
    path("tickets/bulk/", views.TicketBulkView.as_view(), name="ticket-bulk"),
    path("tickets/<int:ticket_id>/", views.TicketDetailView.as_view(), name="ticket-detail"),
    path("tickets/<int:ticket_id>/messages/", views.TicketMessagesView.as_view(), name="ticket-messages"),
    path("tickets/<int:ticket_id>/notes/", views.TicketNotesView.as_view(), name="ticket-notes"),
    path("tickets/<int:ticket_id>/replies/", views.TicketRepliesView.as_view(), name="ticket-replies"),
    path("contacts/", views.ContactListView.as_view(), name="contact-list"),
    path("contacts/<int:contact_id>/", views.ContactDetailView.as_view(), name="contact-detail"),
    path("contacts/<int:contact_id>/export/", privacy.ContactExportView.as_view(), name="contact-export"),
    path("contacts/<int:contact_id>/erase/", privacy.ContactEraseView.as_view(), name="contact-erase"),
    path("privacy/exports/<int:export_id>/", privacy.ExportDetailView.as_view(), name="privacy-export-detail"),
    path(
        "privacy/exports/<int:export_id>/download/",
        privacy.ExportDownloadView.as_view(),
        name="privacy-export-download",
    ),
    path("privacy/retention/", privacy.RetentionView.as_view(), name="privacy-retention"),
    path("tags/", views.TagListView.as_view(), name="tag-list"),
    path("tags/<int:tag_id>/", views.TagDetailView.as_view(), name="tag-detail"),
    path("canned-responses/", views.CannedListView.as_view(), name="canned-list"),
    path("canned-responses/<int:canned_id>/", views.CannedDetailView.as_view(), name="canned-detail"),
    path("canned-responses/<int:canned_id>/render/", views.CannedRenderView.as_view(), name="canned-render"),
    path("saved-views/", views.SavedViewListView.as_view(), name="saved-view-list"),
    path("saved-views/<int:view_id>/", views.SavedViewDetailView.as_view(), name="saved-view-detail"),
]
