"""The inbound pipeline end to end through the real webhook endpoints: signature first, raw event stored once,
processing into tickets (Celery runs the real task bodies in-process in tests), duplicates, tenant routing,
paused connections, dead letters and replay."""

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection as db_connection
from django.test import Client
from django_scopes import scopes_disabled

from accounts.models import AuditAction, AuditEntry
from channels_integrations import services
from channels_integrations.models import ChannelConnection, ConnectionStatus, InboundEvent, InboundEventStatus
from tickets.models import Message, Ticket

SECRET = "pipeline-app-secret"
VERIFY = "pipeline-verify-token"


@pytest.fixture(autouse=True)
def meta_app(settings):
    settings.META_APP_SECRET = SECRET
    settings.META_VERIFY_TOKEN = VERIFY


def page(tenant, page_id: str = "1000000001", platform: str = "facebook") -> ChannelConnection:
    with tenant.scope():
        return ChannelConnection.objects.create(
            organization=tenant.organization,
            platform=platform,
            display_name=f"Page {page_id}",
            external_account_id=page_id,
        )


def dm(page_id: str, psid: str, mid: str, text: str, ts: int | None = None) -> dict:
    ts = ts or int(time.time() * 1000)
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": ts,
        "message": {"mid": mid, "text": text},
    }


def envelope(*entries: tuple[str, list[dict]], obj: str = "page") -> bytes:
    now = int(time.time() * 1000)
    return json.dumps(
        {"object": obj, "entry": [{"id": pid, "time": now, "messaging": m} for pid, m in entries]}
    ).encode()


def signed(body: bytes, secret: str = SECRET) -> dict:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def post(client: Client, body: bytes, headers: dict | None = None):
    return client.post("/webhooks/meta/", data=body, content_type="application/json", headers=headers or {})


@pytest.mark.django_db
def test_handshake_echoes_the_challenge_only_for_the_right_token(client):
    ok = client.get(
        "/webhooks/meta/", {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY}
    )
    assert ok.status_code == 200 and ok.content == b"1158201444"
    wrong = client.get("/webhooks/meta/", {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "meaty"})
    assert wrong.status_code == 403


def test_a_signed_japanese_message_becomes_a_ticket(client, tenant_a, django_capture_on_commit_callbacks):
    connection = page(tenant_a)
    body = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_ja_1", "注文した商品がまだ届いていません")]))
    assert b"\\u" in body  # escaped like Meta's, signed over these exact bytes
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, body, signed(body))
    assert answer.status_code == 200
    with tenant_a.scope():
        message = Message.objects.get(connection=connection)
        assert message.text == "注文した商品がまだ届いていません"
        assert message.ticket.contact.identities.get().external_id == "PSID-1"
        assert InboundEvent.objects.get().status == InboundEventStatus.PROCESSED


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 403)])
def test_unsigned_or_badly_signed_posts_are_rejected_logged_and_not_stored(client, tenant_a, headers, status):
    page(tenant_a)
    body = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_bad", "hi")]))
    assert post(client, body, headers).status_code == status
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 0 and Message.objects.count() == 0
    with scopes_disabled():  # an app-level rejection names no organization
        assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_REJECTED, organization=None).count() == 1


def test_a_signature_over_reserialized_json_is_rejected(client, tenant_a):
    page(tenant_a)
    body = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_utf", "こんにちは")]))
    raw_utf8 = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert post(client, body, signed(raw_utf8)).status_code == 403


def test_malformed_but_signed_bodies_are_a_clear_400(client, tenant_a):
    page(tenant_a)
    for body in (b"not json", b'{"object":"page"}', b"[]"):
        answer = post(client, body, signed(body))
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "malformed"
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_same_delivery_ten_times_concurrently_yields_one_message(tenant_a):
    connection = page(tenant_a)
    body = envelope(("1000000001", [dm("1000000001", "PSID-9", "m_dup", "同じメッセージ")]))

    def deliver(_):
        try:
            return post(Client(), body, signed(body)).status_code
        finally:
            db_connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(deliver, range(10)))
    assert statuses == [200] * 10
    with tenant_a.scope():
        assert InboundEvent.objects.count() == 1
        assert Message.objects.filter(connection=connection).count() == 1
        assert Ticket.objects.count() == 1


def test_one_batch_for_two_organizations_lands_in_each_separately(
    client, tenant_a, tenant_b, django_capture_on_commit_callbacks
):
    a, b = page(tenant_a, "2000000001"), page(tenant_b, "2000000002")
    body = envelope(
        ("2000000002", [dm("2000000002", "PSID-B", "m_b", "for B")]),
        ("2000000001", [dm("2000000001", "PSID-A", "m_a1", "for A 1"), dm("2000000001", "PSID-A", "m_a2", "for A 2")]),
        ("9999999999", [dm("9999999999", "PSID-X", "m_x", "nobody's page")]),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, signed(body)).status_code == 200
    with tenant_a.scope():
        assert list(Message.objects.order_by("pk").values_list("text", flat=True)) == ["for A 1", "for A 2"]
        assert Message.objects.filter(connection=a).count() == 2
    with tenant_b.scope():
        assert list(Message.objects.values_list("text", flat=True)) == ["for B"]
        assert Message.objects.filter(connection=b).count() == 1


def test_a_paused_channel_keeps_events_and_processes_them_on_resume(
    client, tenant_a, django_capture_on_commit_callbacks
):
    connection = page(tenant_a)
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        services.connection_set_status(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=connection, status="paused"
        )
    body = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_paused", "一時停止中")]))
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, signed(body)).status_code == 200
    with tenant_a.scope():
        assert InboundEvent.objects.get().status == InboundEventStatus.RECEIVED
        assert Message.objects.count() == 0
        with django_capture_on_commit_callbacks(execute=True):
            services.connection_set_status(
                organization=tenant_a.organization,
                actor=tenant_a.users["owner"],
                connection=connection,
                status="active",
            )
        assert Message.objects.get().text == "一時停止中"
        assert AuditEntry.objects.filter(action=AuditAction.CHANNEL_RESUMED).count() == 1


def test_an_event_that_keeps_failing_becomes_a_dead_letter_and_can_be_replayed(
    client, tenant_a, django_capture_on_commit_callbacks
):
    page(tenant_a)
    broken = json.dumps({"object": "page", "entry": [{"id": "1000000001", "time": 1, "messaging": "oops"}]}).encode()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, broken, signed(broken)).status_code == 200
    with tenant_a.scope():
        event = InboundEvent.objects.get()
        assert event.status == InboundEventStatus.DEAD
        assert event.attempts == services.MAX_EVENT_ATTEMPTS
        assert "oops" in bytes(event.payload).decode()
        assert event.last_error
        with django_capture_on_commit_callbacks(execute=True):
            services.event_replay(organization=tenant_a.organization, actor=tenant_a.users["admin"], event=event)
        event.refresh_from_db()
        assert event.status == InboundEventStatus.DEAD  # the cause is still there: it fails again, visibly
        assert AuditEntry.objects.filter(action=AuditAction.EVENT_REPLAYED).count() == 1


def test_edits_update_the_stored_message(client, tenant_a, django_capture_on_commit_callbacks):
    page(tenant_a)
    first = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_edit", "明日届きますか")]))
    edit = envelope(
        (
            "1000000001",
            [
                {
                    "sender": {"id": "PSID-1"},
                    "recipient": {"id": "1000000001"},
                    "timestamp": int(time.time() * 1000),
                    "message_edit": {"mid": "m_edit", "text": "明後日届きますか", "num_edit": 1},
                }
            ],
        )
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(client, first, signed(first))
        post(client, edit, signed(edit))
    with tenant_a.scope():
        message = Message.objects.get()
        assert message.text == "明後日届きますか"
        assert message.edited_at is not None


def test_needs_reauth_channels_still_receive(client, tenant_a, django_capture_on_commit_callbacks):
    connection = page(tenant_a)
    with tenant_a.scope():
        ChannelConnection.objects.filter(pk=connection.pk).update(status=ConnectionStatus.NEEDS_REAUTH)
    body = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_reauth", "届いていますか")]))
    with django_capture_on_commit_callbacks(execute=True):
        post(client, body, signed(body))
    with tenant_a.scope():
        assert Message.objects.get().text == "届いていますか"
