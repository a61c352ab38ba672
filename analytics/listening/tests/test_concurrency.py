"""Concurrency on real PostgreSQL (committed data, separate connections): a poll skips a source another poll holds,
and two simultaneous clicks on "Create ticket" give one ticket."""

import threading

import pytest
from django.db import connection as db
from django.db import transaction

from analytics.listening import services
from analytics.listening.models import ListeningSource, Mention
from analytics.listening.tests.conftest import meta_connection, monitor
from analytics.listening.tests.factories import mention
from tickets.models import Message, Ticket
from tickets.tests.factories import connection as make_connection

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(fn):
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as exc:  # surfaced by the assertion below
            result["error"] = exc
        finally:
            db.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_poll_skips_a_source_another_poll_holds(tenant_a, simulator):
    monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])
    connection = meta_connection(tenant_a, simulator)
    simulator.parts["meta"].public_post("#ツナグ 1")
    with tenant_a.scope():
        ListeningSource.objects.create(organization=tenant_a.organization, connection=connection)
    held, release = threading.Event(), threading.Event()

    def hold():
        with tenant_a.scope(), transaction.atomic():
            ListeningSource.objects.select_for_update().get(connection=connection)
            held.set()
            release.wait(10)

    thread, _result = in_thread(hold)
    held.wait(10)
    try:
        with tenant_a.scope():
            assert services.listening_poll(organization=tenant_a.organization, connection_id=connection.pk) == 0
    finally:
        release.set()
        thread.join()
    with tenant_a.scope():
        assert services.listening_poll(organization=tenant_a.organization, connection_id=connection.pk) == 1


def test_two_simultaneous_clicks_make_one_ticket(tenant_a):
    brand = monitor(tenant_a, "ツナグ", "brand", ["ツナグ"])
    made = mention(tenant_a, [brand], connection=make_connection(tenant_a, "instagram"))
    start = threading.Barrier(2)

    def click():
        start.wait(10)
        with tenant_a.scope():
            fresh = Mention.objects.get(pk=made.pk)
            return services.mention_ticket_create(
                organization=tenant_a.organization, actor=tenant_a.users["manager"], mention=fresh
            ).pk

    threads = [in_thread(click) for _ in range(2)]
    for thread, _result in threads:
        thread.join()
    results = [result for _thread, result in threads]
    assert all("error" not in r for r in results), results
    assert results[0]["value"] == results[1]["value"]
    with tenant_a.scope():
        assert Ticket.objects.count() == 1 and Message.objects.count() == 1
