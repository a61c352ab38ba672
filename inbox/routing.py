"""WebSocket routes (served by config.asgi)."""

websocket_urlpatterns: list = []
