"""Webhook endpoints. Order matters and never changes: verify the handshake or the signature over the raw bytes
(constant time, in the connector) → store the raw event → answer 200 → process in a Celery task.

- `/webhooks/<endpoint>/` serves app-level endpoints shared by several connectors (`app_level_webhook`; Meta's
  `/webhooks/meta/`): the payload's routing key picks the connector, whose deliveries name the account, which
  selects the connection(s).
- `/webhooks/<platform>/<connection uuid>/` serves platforms that sign per connection (LINE, the email inbound
  endpoint...).

Rejections answer 401/403/400 with a log line, are counted (channels_integrations.rejections, shown on the channel's
page) and store nothing; the audit log (the organization's when the connection is known) gets at most one entry per
connection and reason per window, so forged requests cannot flood it."""

import functools
import logging
import time
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_scopes import scope, scopes_disabled

from accounts.audit import audit_record, client_ip
from accounts.models import AuditAction
from accounts.tokens import digest
from channels_integrations.connector import Connector, MalformedPayload, WebhookRejected
from channels_integrations.models import ChannelConnection, ConnectionStatus
from channels_integrations.registry import app_level_connectors, connector_for, has_connector
from channels_integrations.rejections import rejection_count
from channels_integrations.services import events_store

logger = logging.getLogger("tsunagu.webhooks")

MAX_BODY = 5 * 1024 * 1024  # Meta batches up to 1000 updates; 5 MB is far above any documented payload
# Seconds a platform is asked to wait when the database cannot be reached (a restart, a failover): long enough for a
# restart, short enough that nothing waits long; every platform retries a 5xx, and a 503 is the truthful one.
UNAVAILABLE_RETRY_AFTER = 5


def _unavailable_is_503(view):
    """Nothing could be stored because the database is unreachable (a broken pooled connection after a restart, or
    a refused new one): answer 503 with Retry-After so the platform delivers again, not a 500 that says we failed."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            logger.warning("webhook %s not stored, database unavailable: %s", request.path, exc)
            response = HttpResponse("database unavailable, retry later", status=503, content_type="text/plain")
            response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
            return response

    return wrapped


def _reject(request: HttpRequest, exc: WebhookRejected, *, platform: str, connection=None) -> HttpResponse:
    logger.warning(
        "webhook rejected platform=%s connection=%s status=%s reason=%s ip=%s",
        platform,
        getattr(connection, "pk", "-"),
        exc.status,
        exc.message,
        client_ip(request),
    )
    reason = exc.code or digest(f"{exc.status}:{exc.message}")[:16]  # connectors' messages are fixed sentences
    first = rejection_count(connection_id=getattr(connection, "pk", None), platform=platform, reason=reason)
    if exc.status in (401, 403) and first:
        audit_record(
            organization=getattr(connection, "organization", None),
            actor=None,
            action=AuditAction.WEBHOOK_REJECTED,
            obj=connection,
            changes={
                "platform": platform,
                "reason": exc.message,
                "status": exc.status,
                "note": f"at most one entry per reason every {settings.WEBHOOK_REJECTION_AUDIT_SECONDS} s",
            },
            request=request,
        )
    response = JsonResponse({"error": {"code": exc.code or "rejected", "message": exc.message}}, status=exc.status)
    if exc.status == 405:
        response["Allow"] = "POST"  # RFC 9110 §15.5.6: a 405 names the methods the endpoint does take
    return response


def _malformed(exc: MalformedPayload, *, platform: str) -> HttpResponse:
    logger.warning("webhook body malformed platform=%s: %s", platform, exc.message or exc)
    return JsonResponse({"error": {"code": "malformed", "message": exc.message or "malformed body"}}, status=400)


def too_large_response() -> HttpResponse:
    return JsonResponse({"error": {"code": "too_large", "message": "body too large"}}, status=413)


def _too_large(request: HttpRequest) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY
    except ValueError:
        return True


# The connections of a page, remembered briefly by each process (settings.WEBHOOK_ACCOUNT_MEMORY_SECONDS): at
# hundreds of webhooks a second the lookup was a quarter of the endpoint's CPU. A change made in another process is
# seen within that time; meanwhile a paused or disconnected connection at most stores a few more raw events, which
# its ingest task holds back (it reads the status itself). Changes saved in this process clear the memory at once.
_accounts: dict[tuple[str, str], tuple[float, list[ChannelConnection]]] = {}
# Pages one process remembers before starting afresh: far above what one process sees within the memory's few
# seconds, and a fixed ceiling, so memory does not grow with the number of organizations.
MEMORY_MAX_ENTRIES = 10_000


def _connections_of(platform: str, account_id: str) -> list[ChannelConnection]:
    now = time.monotonic()
    remembered = _accounts.get((platform, account_id))
    if remembered is not None and now - remembered[0] < settings.WEBHOOK_ACCOUNT_MEMORY_SECONDS:
        return remembered[1]
    with scopes_disabled():
        connections = list(
            ChannelConnection.objects.filter(platform=platform, external_account_id=account_id)
            .exclude(status=ConnectionStatus.DISCONNECTED)
            .order_by("pk")
            .only("pk", "organization_id", "status", "uuid")
        )
    if connections:  # an unknown page is asked again: it may be connected any moment
        if len(_accounts) >= MEMORY_MAX_ENTRIES:
            _accounts.clear()  # bounded: memory must not grow with the number of organizations' pages
        _accounts[(platform, account_id)] = (now, connections)
    return connections


# The connection a per-connection endpoint names (LINE, the email inbound endpoint…), remembered the same way and as
# briefly: the email intake posts hundreds of mails a second to one URL. A credential changed in another process
# (a new channel secret) is seen within the memory's few seconds; meanwhile a delivery signed with the new one is
# refused and the platform retries it.
_by_uuid: dict[tuple[str, uuid.UUID], tuple[float, ChannelConnection]] = {}


def _connection_of(platform: str, connection_uuid: uuid.UUID) -> ChannelConnection | None:
    now = time.monotonic()
    remembered = _by_uuid.get((platform, connection_uuid))
    if remembered is not None and now - remembered[0] < settings.WEBHOOK_ACCOUNT_MEMORY_SECONDS:
        return remembered[1]
    with scopes_disabled():
        connection = (
            ChannelConnection.objects.select_related("organization")
            .filter(uuid=connection_uuid, platform=platform)
            .exclude(status=ConnectionStatus.DISCONNECTED)
            .first()
        )
    if connection is not None:  # an unknown one is asked again
        if len(_by_uuid) >= MEMORY_MAX_ENTRIES:
            _by_uuid.clear()  # bounded, as the page memory
        _by_uuid[(platform, connection_uuid)] = (now, connection)
    return connection


@receiver([post_save, post_delete], sender=ChannelConnection)
def _forget_accounts(**_kwargs) -> None:
    _accounts.clear()
    _by_uuid.clear()


@csrf_exempt
@_unavailable_is_503
def app_level(request: HttpRequest, endpoint: str) -> HttpResponse:
    """An app-level endpoint shared by several connectors (`/webhooks/meta/`: Facebook pages, Instagram accounts,
    WhatsApp numbers). They share its handshake and signature (one app, one secret); after verification the payload's
    routing key (Meta's `object`) picks the connector, whose `split_webhook` names the accounts."""
    connectors = app_level_connectors(endpoint)
    if not connectors:
        return HttpResponse(status=404)
    verifier = connectors[0]
    if request.method == "GET":
        try:
            return verifier.handshake(request, None)
        except WebhookRejected as exc:
            return _reject(request, exc, platform=endpoint)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    if _too_large(request):
        return too_large_response()
    body = request.body
    try:
        verifier.verify_webhook(request, None)
    except WebhookRejected as exc:
        return _reject(request, exc, platform=endpoint)
    try:
        route = verifier.webhook_route(body)
        connector = next((c for c in connectors if route in c.webhook_objects), None)
        if connector is None:
            raise MalformedPayload(f"no channel takes {route!r} payloads on this endpoint")
        deliveries = connector.split_webhook(body)
    except MalformedPayload as exc:
        return _malformed(exc, platform=endpoint)
    by_account: dict[str, list[tuple[str, bytes]]] = {}
    for delivery in deliveries:
        by_account.setdefault(delivery.account_id, []).append((delivery.event_key, delivery.payload))
    for account_id, items in by_account.items():
        # The one place a request spans tenants: the account id names the connections (one per organization that
        # connected this account); each is then handled inside its own organization's scope.
        connections = _connections_of(connector.platform, account_id)
        if not connections:
            logger.warning(
                "%s webhook for unknown %s account %s: %d events dropped",
                endpoint,
                connector.platform,
                account_id,
                len(items),
            )
        for connection in connections:
            # One statement, committed on its own (autocommit): the events are durable before the 200.
            with scope(organization=connection.organization_id):
                events_store(connection=connection, items=items, source="webhook")
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")


@csrf_exempt
@_unavailable_is_503
def per_connection(request: HttpRequest, platform: str, connection_uuid: uuid.UUID) -> HttpResponse:
    if not has_connector(platform):
        return HttpResponse(status=404)
    connector: Connector = connector_for(platform)
    if not connector.receives_webhooks or connector.app_level_webhook:
        return HttpResponse(status=404)
    connection = _connection_of(platform, connection_uuid)
    if connection is None:
        logger.warning("webhook for unknown connection %s/%s from %s", platform, connection_uuid, client_ip(request))
        return HttpResponse(status=404)
    with scope(organization=connection.organization):
        if request.method == "GET":
            try:
                return connector.handshake(request, connection)
            except WebhookRejected as exc:
                return _reject(request, exc, platform=platform, connection=connection)
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "GET, POST"})
        if _too_large(request):
            return too_large_response()
        body = request.body
        try:
            connector.verify_webhook(request, connection)
        except WebhookRejected as exc:
            return _reject(request, exc, platform=platform, connection=connection)
        try:
            deliveries = connector.split_webhook(body)
        except MalformedPayload as exc:
            return _malformed(exc, platform=platform)
        stored = events_store(
            connection=connection, items=[(d.event_key, d.payload) for d in deliveries], source="webhook"
        )
        reply = connector.webhook_reply(request, connection)
        if reply is not None:
            return reply
    return JsonResponse({"received": len(deliveries), "stored": len(stored)})
