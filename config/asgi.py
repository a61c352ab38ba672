"""ASGI entry point: HTTP goes to Django (platform webhooks by a shorter way), WebSockets to Channels consumers
(authenticated by the session)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DB_POOL", "1")  # see config/settings.py
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from channels_integrations.asgi import is_webhook, webhook_app  # noqa: E402
from inbox.routing import websocket_urlpatterns  # noqa: E402
from tickets.api.intake_asgi import async_intake_app, is_async_intake  # noqa: E402

intake_app = async_intake_app(django_asgi_app)


async def http_app(scope, receive, send):
    """Platform webhooks take the short way in (channels_integrations/asgi.py), and so do the REST API's asynchronous
    ticket creations (tickets/api/intake_asgi.py, which hands anything but the plain case to Django); everything
    else is Django's."""
    if is_webhook(scope):
        app = webhook_app
    elif is_async_intake(scope):
        app = intake_app
    else:
        app = django_asgi_app
    await app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
