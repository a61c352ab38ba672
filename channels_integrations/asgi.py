"""The webhook endpoints' own ASGI entrance. Platforms post hundreds of events a second and need nothing a browser
needs (sessions, CSRF, authentication, locale, security headers): these requests skip Django's middleware and run
the same views (`channels_integrations.webhooks`) in one trip to a worker thread, where the full stack would hop
between the event loop and threads for every middleware. Everything else goes to Django as usual."""

import asyncio
import functools
import io
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from channels_integrations import webhooks
from channels_integrations.webhooks import MAX_BODY, too_large_response

logger = logging.getLogger("tsunagu.webhooks")

PREFIX = "/webhooks/"
WEBHOOK_VIEWS = (webhooks.app_level, webhooks.per_connection)


def is_webhook(scope: dict) -> bool:
    return scope["type"] == "http" and scope["path"].startswith(PREFIX)


async def webhook_app(scope: dict, receive, send) -> None:
    body = await _read_body(scope, receive)
    if body is _GONE:
        return  # the sender hung up before the body was complete: nothing to verify, nobody to answer
    if body is None:
        response = too_large_response()
    else:
        response = await _respond_in_thread(scope, body)
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    headers.append((b"content-length", str(len(response.content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


_GONE = object()


async def _read_body(scope: dict, receive):
    """The whole body; None once it is larger than the endpoints accept (read no further); _GONE when the client
    disconnected first."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
            return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _GONE
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _respond(scope: dict, body: bytes) -> HttpResponse:
    """Resolve and run the view like Django's handler would, with the request signals that hand database
    connections back."""
    signals.request_started.send(sender=__name__, scope=scope)
    try:
        request = ASGIRequest(scope, io.BytesIO(body))
        try:
            match = _resolve(request.path_info, settings.ROOT_URLCONF)
        except Resolver404:
            return HttpResponse(status=404)
        return match.func(request, *match.args, **match.kwargs)
    except Exception:
        logger.exception("webhook %s %s failed", scope.get("method"), scope.get("path"))
        return HttpResponse(status=500)
    finally:
        signals.request_finished.send(sender=__name__)


# The same few paths arrive all day (the Meta endpoint, one per connection): matching the URL patterns again for
# every request was 5% of a webhook's CPU. Paths that match nothing raise and are not kept.
@functools.lru_cache(maxsize=1024)
def _resolve(path: str, urlconf: str):
    return _webhook_resolver(urlconf).resolve(path)


@functools.lru_cache(maxsize=4)
def _webhook_resolver(urlconf: str) -> URLResolver:
    """The URLconf's webhook patterns and nothing else: this path runs views without middleware (no session, no
    authentication, no tenant scope), so any other path under /webhooks/ (an organization slugged "webhooks" owns
    /webhooks/inbox/list/...) is a 404 here, never a page's view run unauthenticated."""
    patterns = [
        pattern
        for pattern in get_resolver(urlconf).url_patterns
        if isinstance(pattern, URLPattern) and pattern.callback in WEBHOOK_VIEWS
    ]
    return URLResolver(RegexPattern(r"^/"), patterns)


# The views are synchronous (the ORM): each request makes one trip to a thread of this pool. A plain executor hop;
# asgiref's sync_to_async adds context copying and cancellation shielding these views do not use (8% of a webhook's
# CPU in the event loop). A client that disconnects cancels only the wait: the thread finishes and the events stay
# stored, as they must once the body is complete.
_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook")


async def _respond_in_thread(scope: dict, body: bytes) -> HttpResponse:
    return await asyncio.get_running_loop().run_in_executor(_THREADS, _respond, scope, body)
