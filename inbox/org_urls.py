"""The agent workspace under /<org-slug>/inbox/ (included by config.urls in the `org` namespace)."""

from django.urls import path

from inbox import attachments, availability, calls, compose, home, views
from inbox.contacts import edit as contact_edit
from inbox.contacts import settings_views as contact_settings
from inbox.contacts import transfer_views as contact_transfer
from inbox.contacts import views as contacts

urlpatterns = [
    path("", home.org_home, name="home"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/list/", views.ticket_list, name="inbox_list"),
    path("inbox/views/", views.views_pane, name="inbox_views"),
    path("inbox/bulk/", views.bulk, name="inbox_bulk"),
    path("inbox/new/", compose.new_conversation, name="new_conversation"),
    path("inbox/notifications/", views.notifications, name="notifications"),
    path("inbox/notifications/read/", views.notifications_read, name="notifications_read"),
    path("inbox/availability/", availability.availability_set, name="availability"),
    path("settings/notifications/", views.notification_settings, name="notification_settings"),
    path("inbox/tickets/<int:ticket_id>/", views.inbox, name="inbox_ticket"),
    path("inbox/tickets/<int:ticket_id>/conversation/", views.conversation, name="ticket_conversation"),
    path("inbox/tickets/<int:ticket_id>/messages/", views.messages_after, name="ticket_messages"),
    path("inbox/tickets/<int:ticket_id>/properties/", views.properties, name="ticket_properties"),
    path("inbox/tickets/<int:ticket_id>/update/", views.ticket_update, name="ticket_update"),
    path("inbox/tickets/<int:ticket_id>/note/", views.note, name="ticket_note"),
    path("inbox/tickets/<int:ticket_id>/mentionable/", views.mentionable, name="ticket_mentionable"),
    path("inbox/tickets/<int:ticket_id>/reply/", views.reply, name="ticket_reply"),
    path("inbox/tickets/<int:ticket_id>/call/", calls.call_log, name="ticket_call_log"),
    path("inbox/tickets/<int:ticket_id>/snooze/", views.snooze, name="ticket_snooze"),
    path("inbox/tickets/<int:ticket_id>/merge/", views.merge, name="ticket_merge"),
    path("inbox/tickets/<int:ticket_id>/contact/", contact_edit.contact_edit, name="contact_edit"),
    path("inbox/tickets/<int:ticket_id>/messages/<int:message_id>/split/", views.split, name="message_split"),
    path("contacts/", contacts.contact_list, name="contacts"),
    path("contacts/bulk-tag/", contacts.contact_bulk_tag, name="contacts_bulk_tag"),
    path("contacts/export/", contact_transfer.contact_export, name="contacts_export"),
    path("contacts/import/", contact_transfer.contact_import, name="contacts_import"),
    path("contacts/segments/", contacts.segment_create, name="contact_segment_create"),
    path("contacts/segments/<int:segment_id>/delete/", contacts.segment_delete, name="contact_segment_delete"),
    path("contacts/<int:contact_id>/", contacts.contact_profile, name="contact_profile"),
    path("contacts/<int:contact_id>/timeline/", contacts.contact_timeline, name="contact_timeline"),
    path("contacts/<int:contact_id>/panel/", contacts.contact_panel, name="contact_panel"),
    path(
        "contacts/<int:contact_id>/suggestions/<int:suggestion_id>/merge/",
        contacts.suggestion_merge,
        name="contact_suggestion_merge",
    ),
    path(
        "contacts/<int:contact_id>/suggestions/<int:suggestion_id>/dismiss/",
        contacts.suggestion_dismiss_view,
        name="contact_suggestion_dismiss",
    ),
    path("contacts/<int:contact_id>/merges/<int:merge_id>/undo/", contacts.merge_undo, name="contact_merge_undo"),
    path("settings/contact-fields/", contact_settings.attribute_list, name="contact_attributes"),
    path("settings/contact-fields/<int:attribute_id>/", contact_settings.attribute_edit, name="contact_attribute_edit"),
    path(
        "settings/contact-fields/<int:attribute_id>/delete/",
        contact_settings.attribute_delete,
        name="contact_attribute_delete",
    ),
    path("attachments/<int:attachment_id>/", attachments.attachment, name="attachment"),
]
