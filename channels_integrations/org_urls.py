"""The Channels settings pages under /<org-slug>/settings/channels/ (included by config.urls in the `org` namespace)."""

from django.urls import path

from channels_integrations import views

urlpatterns = [
    path("settings/channels/", views.channel_list, name="channels"),
    path("settings/channels/choose/", views.channel_choose, name="channel_choose"),
    path("settings/channels/connect/", views.channel_connect, name="channel_connect"),
    path("settings/channels/<int:connection_id>/", views.channel_detail, name="channel_detail"),
    path("settings/channels/<int:connection_id>/status/", views.channel_status, name="channel_status"),
    path("settings/channels/<int:connection_id>/poll/", views.channel_poll_now, name="channel_poll_now"),
    # Connectors that connect with a form (after the literal paths and the connections' ids above).
    path("settings/channels/<slug:platform>/", views.channel_connect_form, name="channel_connect_form"),
    path(
        "settings/channels/<int:connection_id>/events/<int:event_id>/replay/",
        views.channel_event_replay,
        name="channel_event_replay",
    ),
]
