"""The webhook endpoints behind the real ASGI server (uvicorn, as `make run` and production serve them), where they
take the short way past Django's middleware: the same answers as through Django, and everything else still gets
the full stack."""

import hashlib
import hmac
import json
import time

import pytest
import requests
from django_scopes import scopes_disabled

from accounts.models import AuditAction, AuditEntry
from channels_integrations.models import ChannelConnection, InboundEvent
from tests.e2e.asgi_server import AsgiServer
from tickets.models import Message

SECRET = "asgi-test-app-secret"
VERIFY = "asgi-test-verify"
PAGE_ID = "870000000000001"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server():
    running = AsgiServer(META_APP_SECRET=SECRET, META_VERIFY_TOKEN=VERIFY)
    yield running
    running.stop()


def _body(mid: str, text: str) -> bytes:
    now = int(time.time() * 1000)
    message = {
        "sender": {"id": "PSID-1"},
        "recipient": {"id": PAGE_ID},
        "timestamp": now,
        "message": {"mid": mid, "text": text},
    }
    return json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [message]}]}).encode()


def _signature(body: bytes, secret: str = SECRET) -> dict:
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def test_signed_events_are_stored_and_processed_and_bad_ones_rejected(server, tenant_a):
    with tenant_a.scope():
        ChannelConnection.objects.create(
            organization=tenant_a.organization, platform="facebook", display_name="Page", external_account_id=PAGE_ID
        )
    hook = f"{server.url}/webhooks/meta/"
    # The verification handshake
    answer = requests.get(hook, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "8086"})
    assert (answer.status_code, answer.text) == (200, "8086")
    wrong = requests.get(hook, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert wrong.status_code == 403
    # A signed message is answered 200 and becomes a message (the server runs the task in-process in tests)
    body = _body("m_asgi_1", "ASGI経由のお問い合わせ")
    answer = requests.post(hook, data=body, headers=_signature(body), timeout=10)
    assert answer.status_code == 200
    with tenant_a.scope():
        assert Message.objects.get().text == "ASGI経由のお問い合わせ"
    # A wrong signature: 403, logged in the audit trail (as the wrong verify token was), nothing stored
    forged = _body("m_asgi_2", "forged")
    answer = requests.post(hook, data=forged, headers=_signature(forged, "not-the-secret"), timeout=10)
    assert answer.status_code == 403 and answer.json()["error"]["message"]
    with scopes_disabled():
        assert InboundEvent.objects.count() == 1
        assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_REJECTED).count() == 2
    # Malformed but signed: 400; unknown endpoints: 404; a body over 5 MB: 413 before it is read
    bad = b"{not json"
    assert requests.post(hook, data=bad, headers=_signature(bad), timeout=10).status_code == 400
    assert requests.post(f"{server.url}/webhooks/nowhere/", data=b"{}", timeout=10).status_code == 404
    big = requests.post(hook, data=b"x" * (5 * 1024 * 1024 + 1), headers=_signature(b"x"), timeout=30)
    assert big.status_code == 413


def test_pages_other_than_webhooks_keep_the_full_middleware(server):
    answer = requests.get(f"{server.url}/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.headers.get("X-Frame-Options") == "DENY"  # set by Django's middleware, which webhooks skip
    hook = requests.get(f"{server.url}/webhooks/meta/", params={"hub.mode": "subscribe"}, timeout=10)
    assert "X-Frame-Options" not in hook.headers and hook.status_code in (400, 403)


@pytest.mark.django_db
def test_the_page_lookup_is_remembered_briefly_and_forgotten_on_any_change(tenant_a, settings):
    from channels_integrations import webhooks

    settings.WEBHOOK_ACCOUNT_MEMORY_SECONDS = 60
    with tenant_a.scope():
        connection = ChannelConnection.objects.create(
            organization=tenant_a.organization, platform="facebook", display_name="Page", external_account_id=PAGE_ID
        )
    first = webhooks._connections_of("facebook", PAGE_ID)
    assert [c.pk for c in first] == [connection.pk]
    assert webhooks._connections_of("facebook", PAGE_ID) is first  # remembered: no query
    with tenant_a.scope():
        connection.status = "paused"
        connection.save(update_fields=["status"])
    again = webhooks._connections_of("facebook", PAGE_ID)
    assert again is not first and again[0].status == "paused"
    assert webhooks._connections_of("facebook", "unknown-page") == []


@pytest.mark.django_db
def test_a_per_connection_endpoints_connection_is_remembered_briefly_and_forgotten_on_any_change(
    tenant_a, settings, django_assert_num_queries
):
    from channels_integrations import webhooks

    settings.WEBHOOK_ACCOUNT_MEMORY_SECONDS = 60
    webhooks._by_uuid.clear()
    with tenant_a.scope():
        connection = ChannelConnection.objects.create(
            organization=tenant_a.organization, platform="line", display_name="LINE", external_account_id="U-line"
        )
    first = webhooks._connection_of("line", connection.uuid)
    assert first.pk == connection.pk and first.organization.pk == tenant_a.organization.pk
    with django_assert_num_queries(0):
        assert webhooks._connection_of("line", connection.uuid) is first  # remembered: no query
    assert webhooks._connection_of("email", connection.uuid) is None  # the platform is part of the key
    with tenant_a.scope():
        connection.status = "disconnected"
        connection.save(update_fields=["status"])
    assert webhooks._connection_of("line", connection.uuid) is None  # forgotten on the change, and not served
    webhooks._by_uuid.clear()


def test_a_sender_hanging_up_mid_body_gets_no_answer_and_leaves_no_trace():
    from asgiref.sync import async_to_sync

    from channels_integrations.asgi import webhook_app

    incoming = [{"type": "http.request", "body": b'{"object": "pa', "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/webhooks/meta/", "headers": [], "query_string": b""}
    async_to_sync(webhook_app)(scope, receive, send)
    assert sent == []
    with scopes_disabled():
        assert not AuditEntry.objects.exists()  # a cut-off body is not a forged signature


@pytest.mark.parametrize(
    "path",
    ["/webhooks/", "/webhooks/inbox/", "/webhooks/inbox/list/", "/webhooks/settings/members/", "/webhooks/meta/x/y/"],
)
def test_the_short_way_in_serves_only_webhook_urls(path, caplog):
    """Paths under /webhooks/ that are not webhook endpoints (an organization slugged "webhooks" would own some) are
    404 on the middleware-less path: never a page's view run without authentication, never a 500 or a traceback."""
    from asgiref.sync import async_to_sync

    from channels_integrations.asgi import webhook_app

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    for method in ("GET", "POST"):
        scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
        async_to_sync(webhook_app)(scope, receive, send)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [404, 404]
    assert all(b"Traceback" not in m.get("body", b"") for m in sent)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_the_short_way_in_resolves_both_kinds_of_webhook_url(settings):
    from channels_integrations import webhooks
    from channels_integrations.asgi import _resolve

    assert _resolve("/webhooks/meta/", settings.ROOT_URLCONF).func is webhooks.app_level
    match = _resolve("/webhooks/line/0b7c6a52-3c1e-4f7a-9d8e-2a4f1c3b5d6e/", settings.ROOT_URLCONF)
    assert match.func is webhooks.per_connection and match.kwargs["platform"] == "line"
