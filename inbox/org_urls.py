"""The agent workspace under /<org-slug>/inbox/ (included by config.urls in the `org` namespace)."""

from django.urls import path

from inbox import attachments, availability, calls, compose, contacts, home, views

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
    path("inbox/tickets/<int:ticket_id>/contact/", contacts.contact_edit, name="contact_edit"),
    path("inbox/tickets/<int:ticket_id>/messages/<int:message_id>/split/", views.split, name="message_split"),
    path("attachments/<int:attachment_id>/", attachments.attachment, name="attachment"),
]
