"""Ingestion resumes on its own within seconds of a database outage: the ingest task whose PostgreSQL connection
is killed (pg_terminate_backend, as a restart or failover does) in the middle of a batch, or before it even found
its organization, opens a new connection and runs again; every event is stored exactly once and the outage counts
as no attempt of the events'. Real PostgreSQL throughout; Celery runs the task body in-process."""

import psycopg
import pytest
from django.db import connection as db_connection

from channels_integrations import services
from channels_integrations.models import InboundEvent, InboundEventStatus
from channels_integrations.tasks import ingest_event, ingest_pending
from channels_integrations.tests.test_webhooks import SECRET, dm, envelope, page, post, signed
from core.models import Attempt
from core.redis_client import redis_client
from tickets.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def meta_app(settings):
    settings.META_APP_SECRET = SECRET


def _kill_backend(pid: int) -> None:
    """Terminate a backend from another session, as an administrator (or a server restart) does."""
    with psycopg.connect(**db_connection.get_connection_params(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]


def _store(client, tenant, connection, count: int) -> list[str]:
    redis_client().set(f"ingest-wake:{connection.uuid}", 1, ex=30)  # a task is queued: the webhooks queue none
    mids = [f"m_outage_{n}" for n in range(count)]
    for n, mid in enumerate(mids):
        body = envelope(("1000000001", [dm("1000000001", f"PSID-{n}", mid, f"障害中のお問い合わせ {n}")]))
        assert post(client, body, signed(body)).status_code == 200
    return mids


def _assert_each_stored_once(tenant, mids: list[str]) -> None:
    with tenant.scope():
        stored = sorted(Message.objects.values_list("platform_message_id", flat=True))
        assert stored == sorted(mids)
        assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundEventStatus.PROCESSED}
        assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}
        assert not Attempt.objects.exists()  # the outage was no attempt of the events'


def test_the_connection_killed_mid_batch_the_task_reconnects_and_stores_each_event_once(client, tenant_a, monkeypatch):
    connection = page(tenant_a)
    mids = _store(client, tenant_a, connection, 5)
    real_handler = services.ingest_handler()
    killed = []

    def handler_then_outage(**kwargs):
        real_handler(**kwargs)  # the batch's messages are written, not yet committed...
        if not killed:
            killed.append(db_connection.connection.info.backend_pid)
            _kill_backend(killed[0])  # ...when the server drops the connection

    monkeypatch.setattr(services, "ingest_handler", lambda: handler_then_outage)
    assert ingest_pending(organization_id=tenant_a.organization.pk, connection_id=connection.pk) == 5
    assert killed and db_connection.connection.info.backend_pid != killed[0]  # a new connection did the work
    _assert_each_stored_once(tenant_a, mids)


def test_the_connection_dead_before_the_task_finds_its_organization(client, tenant_a):
    connection = page(tenant_a)
    mids = _store(client, tenant_a, connection, 3)
    db_connection.ensure_connection()
    _kill_backend(db_connection.connection.info.backend_pid)  # the worker's kept connection died between tasks
    assert ingest_pending(organization_id=tenant_a.organization.pk, connection_id=connection.pk) == 3
    _assert_each_stored_once(tenant_a, mids)


def test_one_event_task_meeting_an_outage_counts_no_attempt(client, tenant_a, monkeypatch):
    connection = page(tenant_a)
    [mid] = _store(client, tenant_a, connection, 1)
    with tenant_a.scope():
        event_id = InboundEvent.objects.get().pk
    real_handler = services.ingest_handler()
    calls = []

    def outage_once(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            _kill_backend(db_connection.connection.info.backend_pid)
        real_handler(**kwargs)

    monkeypatch.setattr(services, "ingest_handler", lambda: outage_once)
    assert ingest_event(organization_id=tenant_a.organization.pk, event_id=event_id) == "processed"
    assert len(calls) == 2
    _assert_each_stored_once(tenant_a, [mid])


def test_what_counts_as_an_outage():
    from django.db import OperationalError
    from redis.exceptions import BusyLoadingError

    from core.retry import is_outage

    def wrapped(cause: Exception) -> OperationalError:
        error = OperationalError(str(cause))
        error.__cause__ = cause
        return error

    assert is_outage(wrapped(psycopg.OperationalError("connection refused")))
    assert is_outage(wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert is_outage(BusyLoadingError("Redis is loading the dataset in memory"))
    # The work's own failures take the retry schedule and count as attempts
    assert not is_outage(wrapped(psycopg.errors.DeadlockDetected("deadlock detected")))
    assert not is_outage(wrapped(psycopg.errors.QueryCanceled("statement timeout")))
    assert not is_outage(ValueError("bad payload"))
