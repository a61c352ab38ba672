"""The worker is killed in the middle of processing a webhook and another one starts: no event is lost, none is
duplicated. Real processes throughout: uvicorn receives a signed Meta webhook, a Celery worker on the real Redis
broker processes it, and SIGKILL takes that worker down while it is inside the ingest transaction."""

import hashlib
import hmac
import json
import time

import psycopg
import pytest
import requests
from django.db import connection as django_connection

from channels_integrations.models import ChannelConnection, InboundEvent, InboundEventStatus
from tests.e2e.asgi_server import AsgiServer, subprocess_database_url
from tests.workers import CeleryWorker
from tickets.models import Message, Ticket

SECRET = "fault-test-app-secret"
PAGE_ID = "880000000000001"


def _webhook_body(mids: list[str]) -> bytes:
    now = int(time.time() * 1000)
    events = [
        {
            "sender": {"id": f"PSID-{i}"},
            "recipient": {"id": PAGE_ID},
            "timestamp": now + i,
            "message": {"mid": mid, "text": f"荷物が届きません {i}"},
        }
        for i, mid in enumerate(mids)
    ]
    body = {"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": events}]}
    return json.dumps(body).encode()  # ensure_ascii: \\u escapes, like Meta


def _signed(body: bytes) -> dict:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


def _wait(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _lock_waiters(dbname: str) -> int:
    with psycopg.connect(subprocess_database_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [dbname]
        ).fetchone()
        return row[0]


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_processing_loses_and_duplicates_nothing(tenant_a):
    # Given a connected Facebook page, and another transaction that is creating the first customer's contact (its
    # uncommitted identity row makes the worker wait inside its own transaction, after parsing, on the unique key)
    with tenant_a.scope():
        ChannelConnection.objects.create(
            organization=tenant_a.organization, platform="facebook", display_name="Page", external_account_id=PAGE_ID
        )
    blocker = psycopg.connect(subprocess_database_url())
    contact_id = blocker.execute(
        "INSERT INTO tickets_contact (organization_id, name, avatar_url, email, language, vip, attributes, created_at)"
        " VALUES (%s, '', '', '', '', false, '{}', now()) RETURNING id",
        [tenant_a.organization.pk],
    ).fetchone()[0]
    blocker.execute(
        "INSERT INTO tickets_contactidentity (organization_id, contact_id, platform, external_id, handle)"
        " VALUES (%s, %s, 'facebook', 'PSID-0', '')",
        [tenant_a.organization.pk, contact_id],
    )
    fast_redelivery = {
        "META_APP_SECRET": SECRET,
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    server = AsgiServer(CELERY_REAL_WORKER="1", **fast_redelivery)
    first = CeleryWorker(queues="inbound", **fast_redelivery)
    second = None
    try:
        # When the webhook arrives and the worker starts processing it
        body = _webhook_body(["m_fault_1", "m_fault_2", "m_fault_3"])
        answer = requests.post(f"{server.url}/webhooks/meta/", data=body, headers=_signed(body), timeout=10)
        assert answer.status_code == 200
        _wait(lambda: _lock_waiters(django_connection.settings_dict["NAME"]) >= 1, what="the worker to block")
        # ...and is killed there
        first.kill()
        blocker.rollback()
        blocker.close()

        # Then the raw event is still stored and unprocessed, and nothing half-written remains
        with tenant_a.scope():
            event = InboundEvent.objects.get()
            assert event.status == InboundEventStatus.RECEIVED
            assert Message.objects.count() == 0

        # When another worker starts, the unacknowledged task is redelivered and processed
        second = CeleryWorker(queues="inbound", **fast_redelivery)

        def processed() -> bool:
            with tenant_a.scope():
                return InboundEvent.objects.filter(status=InboundEventStatus.PROCESSED).exists()

        _wait(processed, what="the event to be processed by the second worker")
        # ...and Meta's own retry of the same delivery changes nothing
        again = requests.post(f"{server.url}/webhooks/meta/", data=body, headers=_signed(body), timeout=10)
        assert again.status_code == 200
        time.sleep(2)
        with tenant_a.scope():
            assert InboundEvent.objects.count() == 1
            assert sorted(Message.objects.values_list("platform_message_id", flat=True)) == [
                "m_fault_1",
                "m_fault_2",
                "m_fault_3",
            ]
            assert Ticket.objects.count() == 3
    finally:
        if not blocker.closed:
            blocker.rollback()
            blocker.close()
        first.stop()
        if second is not None:
            second.stop()
        server.stop()
