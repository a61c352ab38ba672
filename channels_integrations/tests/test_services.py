"""Webhook events are processed in batches: one task per connection takes whatever arrived (at most one task waits
per connection however many events come in), a batch is one transaction, and a bad event in a batch holds nobody
else back. Through the real webhook endpoint and the real task bodies (Celery runs them in-process in tests)."""

import json
import time

import pytest

from channels_integrations import services
from channels_integrations.models import InboundEvent, InboundEventStatus
from channels_integrations.tasks import ingest_pending
from channels_integrations.tests.test_webhooks import SECRET, dm, envelope, page, post, signed
from core.redis_client import redis_client
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def meta_app(settings):
    settings.META_APP_SECRET = SECRET


def _wake_key(connection) -> str:
    return f"ingest-wake:{connection.uuid}"


def test_while_a_task_is_queued_new_events_queue_no_other_and_it_takes_them_all(client, tenant_a):
    connection = page(tenant_a)
    redis_client().set(_wake_key(connection), 1, ex=30)  # a task is already queued for this connection
    for n in range(5):
        body = envelope(("1000000001", [dm("1000000001", f"PSID-{n}", f"m_wait_{n}", f"お問い合わせ {n}")]))
        assert post(client, body, signed(body)).status_code == 200
    with tenant_a.scope():
        assert list(InboundEvent.objects.values_list("status", flat=True)) == [InboundEventStatus.RECEIVED] * 5
        assert Message.objects.count() == 0
    # When that task runs, it takes every waiting event
    ingest_pending(organization_id=tenant_a.organization.pk, connection_id=connection.pk)
    with tenant_a.scope():
        assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundEventStatus.PROCESSED}
        assert sorted(Message.objects.values_list("text", flat=True)) == [f"お問い合わせ {n}" for n in range(5)]
        assert Ticket.objects.count() == 5
    # ...and the next event queues a task of its own again
    body = envelope(("1000000001", [dm("1000000001", "PSID-9", "m_after", "その後の質問")]))
    assert post(client, body, signed(body)).status_code == 200
    with tenant_a.scope():
        assert Message.objects.filter(text="その後の質問").exists()


def test_a_bad_event_in_a_batch_holds_nobody_back(client, tenant_a, settings):
    settings.INGEST_BATCH = 3
    connection = page(tenant_a)
    redis_client().set(_wake_key(connection), 1, ex=30)
    bodies = [envelope(("1000000001", [dm("1000000001", f"PSID-{n}", f"m_good_{n}", f"正常 {n}")])) for n in range(7)]
    broken = json.dumps({"object": "page", "entry": [{"id": "1000000001", "time": 1, "messaging": "oops"}]}).encode()
    bodies.insert(4, broken)
    for body in bodies:
        assert post(client, body, signed(body)).status_code == 200
    # 8 events, batches of 3: the second batch fails and is taken one by one
    ingest_pending(organization_id=tenant_a.organization.pk, connection_id=connection.pk)
    with tenant_a.scope():
        assert sorted(Message.objects.values_list("text", flat=True)) == [f"正常 {n}" for n in range(7)]
        bad = InboundEvent.objects.get(payload=broken)
        assert bad.status == InboundEventStatus.DEAD and bad.last_error
        assert InboundEvent.objects.filter(status=InboundEventStatus.PROCESSED).count() == 7


def test_an_event_that_queued_nothing_is_taken_by_the_task_answering_the_wake_up_before_it(
    client, tenant_a, monkeypatch, settings
):
    """Within INGEST_WAKE_DEBOUNCE of a wake-up, a web process does not ask Redis again: the task that answered that
    wake-up looks once more after that long, and finds the event."""
    settings.INGEST_WAKE_DEBOUNCE = 0.5
    connection = page(tenant_a)
    redis_client().set(_wake_key(connection), 1, ex=30)  # a task is queued, not started
    asked = []
    real_client = services.redis_client

    class Counting:
        def set(self, *args, **kwargs):
            asked.append(args[0])
            return real_client().set(*args, **kwargs)

        def delete(self, *args):
            return real_client().delete(*args)

    monkeypatch.setattr(services, "redis_client", lambda: Counting())
    first = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_first", "最初のお問い合わせ")]))
    assert post(client, first, signed(first)).status_code == 200
    assert len(asked) == 1  # the wake-up found the task queued

    linger = services.ingest_linger

    def linger_while_a_customer_writes():
        # The task has started and found nothing more: now a second event arrives, and asks Redis nothing
        second = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_second", "追加のお問い合わせ")]))
        assert post(client, second, signed(second)).status_code == 200
        assert len(asked) == 1
        linger()

    monkeypatch.setattr(services, "ingest_linger", linger_while_a_customer_writes)
    ingest_pending(organization_id=tenant_a.organization.pk, connection_id=connection.pk)
    with tenant_a.scope():
        assert sorted(Message.objects.values_list("text", flat=True)) == ["最初のお問い合わせ", "追加のお問い合わせ"]
        assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundEventStatus.PROCESSED}


def test_a_broker_outage_still_answers_200_and_the_event_is_taken_within_seconds_of_its_end(
    client, tenant_a, monkeypatch
):
    """Redis (the broker and the wake-up keys) is away while a webhook arrives: the event is stored and answered 200;
    the process asks again every second, so once Redis is back the event is processed without waiting for another
    event of the connection or for the stuck-event sweeper."""
    from redis.exceptions import ConnectionError as RedisDown

    from core import redis_client as shared

    page(tenant_a)

    class Down:
        def set(self, *args, **kwargs):
            raise RedisDown("Redis is restarting")

    monkeypatch.setattr(services, "redis_client", lambda: Down())
    body = envelope(("1000000001", [dm("1000000001", "PSID-1", "m_outage", "障害中のお問い合わせ")]))
    assert post(client, body, signed(body)).status_code == 200  # stored: the platform must not resend forever
    with tenant_a.scope():
        assert InboundEvent.objects.get().status == InboundEventStatus.RECEIVED
    time.sleep(2 * services.WAKE_RETRY_SECONDS)  # asked again while Redis is still away: nothing lost, nothing done
    with tenant_a.scope():
        assert InboundEvent.objects.get().status == InboundEventStatus.RECEIVED
    monkeypatch.setattr(services, "redis_client", shared.redis_client)  # Redis is back; no new event comes
    deadline = time.monotonic() + 30
    while services._missed and time.monotonic() < deadline:
        time.sleep(0.1)
    for thread in list(services._retrier):
        thread.join(timeout=30)
    with tenant_a.scope():
        assert Message.objects.get().text == "障害中のお問い合わせ"
        assert InboundEvent.objects.get().status == InboundEventStatus.PROCESSED


def test_the_claim_reads_only_received_events_however_many_were_processed(tenant_a):
    """The claim must not walk the events already processed (the bulk of the table, growing forever): it is served by
    the partial index of received events, and reads a handful of index pages, not one per processed event."""
    from django.db import connection as db_connection
    from django.db import transaction

    connection = page(tenant_a)
    with tenant_a.scope():
        InboundEvent.objects.bulk_create(
            InboundEvent(
                organization=tenant_a.organization,
                connection=connection,
                source="webhook",
                event_key=f"old-{n}",
                payload=b"{}",
                status=InboundEventStatus.PROCESSED if n < 5000 else InboundEventStatus.RECEIVED,
            )
            for n in range(5003)
        )
    with db_connection.cursor() as cursor:
        cursor.execute("ANALYZE channels_integrations_inboundevent")
    with tenant_a.scope(), transaction.atomic():
        claim = services.claimable_events(connection.pk)[:50]
        plan = json.loads(claim.explain(format="json", analyze=True, buffers=True))[0]["Plan"]
        assert [e.event_key for e in claim] == ["old-5000", "old-5001", "old-5002"]

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    scans = [n for n in nodes(plan) if n.get("Relation Name") == "channels_integrations_inboundevent"]
    assert [n.get("Index Name") for n in scans] == ["channels_event_claim"]
    assert plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0) < 50  # the walk read ~3,000 pages
