from django.urls import path

from tickets.api import contacts, intake, privacy, views

org_urlpatterns = [
    path("tickets/", views.TicketListView.as_view(), name="ticket-list"),
    path("tickets/bulk/", views.TicketBulkView.as_view(), name="ticket-bulk"),
    path("tickets/<int:ticket_id>/", views.TicketDetailView.as_view(), name="ticket-detail"),
    path("tickets/<int:ticket_id>/messages/", views.TicketMessagesView.as_view(), name="ticket-messages"),
    path("tickets/<int:ticket_id>/notes/", views.TicketNotesView.as_view(), name="ticket-notes"),
    path("tickets/<int:ticket_id>/replies/", views.TicketRepliesView.as_view(), name="ticket-replies"),
    path("intake/<int:event_id>/", intake.IntakeStatusView.as_view(), name="intake-status"),
    path("contacts/", contacts.ContactListView.as_view(), name="contact-list"),
    path("contacts/<int:contact_id>/", contacts.ContactDetailView.as_view(), name="contact-detail"),
    path("contacts/<int:contact_id>/identities/", contacts.ContactIdentitiesView.as_view(), name="contact-identities"),
    path(
        "contacts/<int:contact_id>/identities/<int:identity_id>/",
        contacts.ContactIdentityDetailView.as_view(),
        name="contact-identity-detail",
    ),
    path("contacts/<int:contact_id>/merge/", contacts.ContactMergeView.as_view(), name="contact-merge"),
    path("contacts/<int:contact_id>/merges/", contacts.ContactMergesView.as_view(), name="contact-merges"),
    path("contact-merges/<int:merge_id>/undo/", contacts.MergeUndoView.as_view(), name="contact-merge-undo"),
    path("contact-suggestions/", contacts.SuggestionListView.as_view(), name="contact-suggestion-list"),
    path(
        "contact-suggestions/<int:suggestion_id>/merge/",
        contacts.SuggestionMergeView.as_view(),
        name="contact-suggestion-merge",
    ),
    path(
        "contact-suggestions/<int:suggestion_id>/dismiss/",
        contacts.SuggestionDismissView.as_view(),
        name="contact-suggestion-dismiss",
    ),
    path("contact-attributes/", contacts.AttributeListView.as_view(), name="contact-attribute-list"),
    path(
        "contact-attributes/<int:attribute_id>/",
        contacts.AttributeDetailView.as_view(),
        name="contact-attribute-detail",
    ),
    path("contact-settings/", contacts.ContactSettingsView.as_view(), name="contact-settings"),
    path("contact-webhooks/", contacts.SubscriptionListView.as_view(), name="contact-webhook-list"),
    path(
        "contact-webhooks/<int:subscription_id>/",
        contacts.SubscriptionDetailView.as_view(),
        name="contact-webhook-detail",
    ),
    path(
        "contact-webhooks/<int:subscription_id>/deliveries/",
        contacts.DeliveryListView.as_view(),
        name="contact-webhook-deliveries",
    ),
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
