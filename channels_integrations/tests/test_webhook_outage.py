"""While the database cannot be reached, a webhook is answered 503 with Retry-After (the platform delivers it again),
never a 500; once it is back, the same delivery is stored. The outage is real: new connections go to a closed port."""

import hashlib
import hmac
import json
import socket
import time

import pytest
from asgiref.sync import async_to_sync
from django.db import connections
from django_scopes import scopes_disabled

from channels_integrations.asgi import webhook_app
from channels_integrations.models import ChannelConnection, InboundEvent

SECRET = "outage-test-app-secret"
PAGE_ID = "870000000000009"

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free once closed: nothing listens there


def _post(body: bytes) -> tuple[int, dict]:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/meta/",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"x-hub-signature-256", signature.encode())],
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    async_to_sync(webhook_app)(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}


def test_an_unreachable_database_answers_503_with_retry_after_and_the_redelivery_is_stored(tenant_a, settings):
    settings.META_APP_SECRET = SECRET
    with tenant_a.scope():
        ChannelConnection.objects.create(
            organization=tenant_a.organization, platform="facebook", display_name="Page", external_account_id=PAGE_ID
        )
    now = int(time.time() * 1000)
    message = {"sender": {"id": "PSID-1"}, "recipient": {"id": PAGE_ID}, "timestamp": now}
    message["message"] = {"mid": "m_outage", "text": "停止中に届いたメッセージ"}
    body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [message]}]}).encode()

    database = connections.settings["default"]  # the settings every new connection (each webhook thread's) reads
    saved = database["HOST"], database["PORT"]
    database["HOST"], database["PORT"] = "127.0.0.1", str(_closed_port())
    try:
        status, headers = _post(body)
    finally:
        database["HOST"], database["PORT"] = saved
    assert status == 503
    assert headers["retry-after"] == "5"

    status, _ = _post(body)  # the platform delivers again once the database is back
    assert status == 200
    with scopes_disabled():
        assert InboundEvent.objects.filter(organization=tenant_a.organization).count() == 1
