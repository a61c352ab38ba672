"""The asynchronous intake's thin ASGI path (`POST /api/v1/orgs/<slug>/tickets/` with `Prefer: respond-async`).

Through Django's middleware and DRF, a 202 cost the web process about 10 ms of CPU and eleven queries: the token,
organization, membership and channel looked up, the Idempotency-Key claimed, the event stored, the key's answer
written, each its own round trip. Here a caller the full path has already accepted once (tickets.api.intake
`context_for`) is accepted with the request's body validated by the same serializer and one statement that checks
the caller's rights again, claims the key and stores the event (api_intake.intake_accept_checked), then wakes the
ingest as webhooks do.

Anything that is not that plain case goes, untouched, to the full stack, which gives the answer the API documents: an
unknown caller or one whose context expired, a body the serializer refuses, a channel not remembered for the caller,
a known or held Idempotency-Key (replay, 422, wait and 409), a refusal by the gate (revoked token, removed member,
lost grant, paused channel), a disallowed host or a plain-HTTP request where HTTPS is required. Nothing is written
before the thin path decides to answer, so the full stack sees the request as if it came first."""

import asyncio
import io
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.urls import reverse, set_script_prefix
from rest_framework.exceptions import ValidationError

from accounts.tokens import api_key_from_header, digest
from core.errors import DomainError
from tickets.api import intake
from tickets.services import api_intake

logger = logging.getLogger("tsunagu.tickets")

PATH = re.compile(r"^/api/v1/orgs/(?P<slug>[-\w]+)/tickets/$")
# Larger bodies are the full stack's (which reads and refuses them as it does now): a valid request is at most a
# 20,000-character text, even as JSON escapes.
MAX_BODY = 256 * 1024
ACCEPTABLE = {"*/*", "application/*", "application/json"}


def is_async_intake(scope: dict) -> bool:
    """A ticket creation asking for the asynchronous answer: the thin path's to try."""
    if scope["type"] != "http" or scope["method"] != "POST" or not PATH.match(scope["path"]):
        return False
    return any(name == b"prefer" and b"respond-async" in value.lower() for name, value in scope["headers"])


def async_intake_app(fallback):
    """The ASGI app for `is_async_intake` requests; `fallback` (Django's ASGI app) answers what it does not."""

    async def app(scope: dict, receive, send) -> None:
        messages, body = await _read_body(scope, receive)
        if body is None:  # too large, or the client went away: the full stack's as it stands
            await fallback(scope, _replaying(messages, receive), send)
            return
        response, key = await asyncio.get_running_loop().run_in_executor(_THREADS, accept, scope, body)
        if response is None:
            await fallback(scope, _replaying(messages, receive), _recording(send, key))
            return
        status, headers, content = response
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    return app


async def _read_body(scope: dict, receive) -> tuple[list[dict], bytes | None]:
    """The request's messages as received and its body; the body None when larger than MAX_BODY (read no further)
    or when the client disconnected."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and (not value.isdigit() or int(value) > MAX_BODY):
            return [], None
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replaying(messages: list[dict], receive):
    """`receive` for the full stack: what was read already, then the rest."""
    pending = list(messages)

    async def replay() -> dict:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _recording(send, key):
    """`send` for the full stack: a fresh 202 it gives a remembered caller leaves its headers for the thin path."""
    if key is None:
        return send

    async def record(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] == 202:
            names = {name.lower() for name, _value in message["headers"]}
            if b"preference-applied" in names and not names & {b"idempotent-replayed", b"set-cookie"}:
                intake.context_headers_record(
                    key,
                    [(n, v) for n, v in message["headers"] if n.lower() not in (b"location", b"content-length")],
                )
        await send(message)

    return record


class _FullPath(Exception):  # noqa: N818 - not an error: the full stack is to answer
    """The request is not the plain case: the full stack answers it."""


def accept(scope: dict, body: bytes):
    """((status, headers, body), context key) when accepted here; (None, context key or None) for the full stack.
    Runs in a worker thread, with the request signals that hand database connections back, as Django's handler."""
    signals.request_started.send(sender=__name__, scope=scope)
    key = None
    try:
        set_script_prefix(scope.get("root_path", "") or "/")
        request = ASGIRequest(scope, io.BytesIO(body))
        key = _caller(request)
        return _accept(request, body, key), key
    except _FullPath:
        return None, key
    except Exception:
        logger.exception("the thin intake path failed; the full stack answers")
        return None, key
    finally:
        signals.request_finished.send(sender=__name__)


def _caller(request) -> tuple[str, str, bool]:
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        raise _FullPath  # redirected there
    header = request.META.get("HTTP_AUTHORIZATION", "")
    token = api_key_from_header(header) if header else None
    if token is None:
        raise _FullPath  # a session (CSRF and all) or no credentials
    return intake.context_key(digest(token), PATH.match(request.path_info)["slug"], request.is_secure())


def _accept(request, body: bytes, key):
    context = intake.context_for(key)
    if context is None or not intake.prefers_async(request):
        raise _FullPath
    if request.content_type != "application/json" or request.content_params.get("charset", "utf-8").lower() not in (
        "utf-8",
        "utf8",
    ):
        raise _FullPath
    accept_header = request.META.get("HTTP_ACCEPT")
    if accept_header and not any(part.split(";", 1)[0].strip() in ACCEPTABLE for part in accept_header.split(",")):
        raise _FullPath  # DRF's content negotiation decides (406)
    try:
        request.get_host()  # checked (ALLOWED_HOSTS) before anything is written: the Location is built from it
        idempotency_key = intake._key(request)
        data = json.loads(body, parse_constant=_refuse_constant)
    except (DisallowedHost, ValidationError, ValueError) as exc:
        raise _FullPath from exc

    def phone_region() -> str:
        if context.phone_region is None:
            raise _FullPath  # the full path reads it (and remembers it)
        return context.phone_region

    serializer = intake.TicketCreateSerializer(data=data, context={"phone_region": phone_region})
    if not serializer.is_valid():
        raise _FullPath
    validated = serializer.validated_data
    requested = validated.get("connection")
    connection = context.connections.get(requested)
    if connection is None:
        raise _FullPath
    customer = api_intake.Customer(**validated["customer"])
    try:
        api_intake.customer_author_check(connection, customer)
    except DomainError as exc:
        raise _FullPath from exc
    event_id, admitted = api_intake.intake_accept_checked(
        gate=context.gate,
        connection=connection,
        default_connection=requested is None,
        customer=customer,
        text=validated["text"],
        subject=validated["subject"],
        phone_region=context.phone_region if customer.phone else None,
        principal=context.principal,
        key=idempotency_key,
        fingerprint=api_intake.request_fingerprint(request.method, request.path, data),
    )
    if event_id is None:
        if not admitted:
            intake.context_forget(key)  # something changed: the full path decides, and remembers again
        raise _FullPath
    content = json.dumps(
        {"id": event_id, "status": "received", "ticket": None, "message": None}, separators=(",", ":")
    ).encode()
    location = request.build_absolute_uri(reverse("api:intake-status", args=[context.gate.slug, event_id]))
    headers = [
        *context.headers,
        (b"location", location.encode("latin-1")),
        (b"content-length", str(len(content)).encode()),
    ]
    return 202, headers, content


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")  # as DRF's parser: NaN and Infinity are refused


# The thin path's database work runs in these threads, as the webhooks' (channels_integrations/asgi.py) does.
_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="intake")
