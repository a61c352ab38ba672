"""WebSocket routes (served by config.asgi)."""

from django.urls import path

from inbox.consumers import InboxConsumer

websocket_urlpatterns = [
    path("ws/orgs/<slug:org_slug>/", InboxConsumer.as_asgi()),
]
