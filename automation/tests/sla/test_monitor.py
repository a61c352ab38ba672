"""The SLA monitor at scale: one scan handles every due ticket of the organization, in batches each locked by one
query, and records each breach once."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.models import SlaEvent, SlaPolicy
from automation.sla import monitor
from tickets.models import Contact, SlaState, Ticket
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


def overdue_tickets(tenant, count: int, now) -> list[int]:
    """`count` tickets whose first response was due a minute ago, unchecked since (one INSERT)."""
    conn = connection(tenant)
    with tenant.scope():
        policy = SlaPolicy.objects.create(
            organization=tenant.organization, name="Urgent", priority="urgent", first_response_minutes=30
        )
        contact = Contact.objects.create(organization=tenant.organization, name="山田 花子")
        due = now - timedelta(minutes=1)
        tickets = Ticket.objects.bulk_create(
            Ticket(
                organization=tenant.organization,
                number=n,
                connection=conn,
                contact=contact,
                priority="urgent",
                external_thread_key=f"sla-{n}",
                sla_policy=policy,
                first_response_due_at=due,
                sla_state=SlaState.WARNING,
                sla_check_at=due,
            )
            for n in itertools.islice(_numbers, count)
        )
        return [t.pk for t in tickets]


def test_one_scan_handles_every_due_ticket_in_batches(tenant_a):
    # Given 450 overdue tickets: more than two batches of 200 (the old scan took 500 per call, then waited 30 s)
    now = timezone.now()
    ids = overdue_tickets(tenant_a, 450, now)
    # When the monitor scans once
    with tenant_a.scope(), CaptureQueriesContext(db_connection) as queries:
        recorded = monitor.sla_scan(organization=tenant_a.organization, now=now, limit=200)
    # Then every ticket got its breach, in three batches each locked by one query
    assert sorted(event.ticket_id for event in recorded) == sorted(ids)
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 3
    # and the warnings and breaches already recorded read once per batch, not once per ticket
    sql = [q["sql"] for q in queries.captured_queries]
    assert len([q for q in sql if 'FROM "tickets_slaevent"' in q and '"kind" IN' in q]) == 3
    with tenant_a.scope():
        assert SlaEvent.objects.filter(kind="breached").count() == 450
        assert not Ticket.objects.filter(sla_check_at__lte=now).exists()
        assert set(Ticket.objects.values_list("sla_state", flat=True)) == {SlaState.BREACHED}
        # And a second scan finds nothing to do
        assert monitor.sla_scan(organization=tenant_a.organization, now=now, limit=200) == []


def test_a_scan_out_of_time_leaves_the_rest_to_the_next(tenant_a):
    now = timezone.now()
    overdue_tickets(tenant_a, 5, now)
    with tenant_a.scope():
        assert len(monitor.sla_scan(organization=tenant_a.organization, now=now, limit=2, budget=0)) == 2
        assert len(monitor.sla_scan(organization=tenant_a.organization, now=now, limit=2, budget=None)) == 3
