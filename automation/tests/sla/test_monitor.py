"""The SLA monitor at scale: one scan handles every due ticket of the organization, in batches each locked by one
query, and records each breach once."""

import itertools
import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.models import SlaEvent, SlaPolicy
from automation.sla import monitor
from core.models import Notification, RealtimeEvent
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


# --- a batch in a constant number of statements ---------------------------------------------------------------------


def assigned_due_tickets(tenant, count: int, now, policy) -> list[Ticket]:
    """`count` tickets each with two events due at `now`: the first response's breach (due a minute ago) and the
    resolution's warning (due in 5 minutes, warned 15 before); assigned in turn to the agent (English), the admin
    (Japanese) and nobody."""
    conn = connection(tenant)
    assignees = [tenant.users["agent"], tenant.users["admin"], None]
    with tenant.scope():
        contact = Contact.objects.create(organization=tenant.organization, name="山田 花子")
        return Ticket.objects.bulk_create(
            Ticket(
                organization=tenant.organization,
                number=n,
                connection=conn,
                contact=contact,
                priority="urgent",
                external_thread_key=f"sla-{n}",
                assignee=assignees[i % 3],
                sla_policy=policy,
                first_response_due_at=now - timedelta(minutes=1),
                resolution_due_at=now + timedelta(minutes=5),
                sla_state=SlaState.WARNING,
                sla_check_at=now - timedelta(minutes=1),
            )
            for i, n in enumerate(itertools.islice(_numbers, count))
        )


@pytest.fixture
def urgent(tenant_a):
    tenant_a.users["agent"].language = "en"
    tenant_a.users["agent"].save(update_fields=["language"])
    tenant_a.users["admin"].language = "ja"
    tenant_a.users["admin"].save(update_fields=["language"])
    with tenant_a.scope():
        return SlaPolicy.objects.create(
            organization=tenant_a.organization,
            name="Urgent",
            priority="urgent",
            first_response_minutes=30,
            resolution_minutes=240,
            warning_minutes=15,
        )


def test_a_batch_makes_the_same_number_of_statements_whatever_its_size(tenant_a, urgent):
    # Given 1 due ticket (the first scan fills the process's caches), then 6, then 30 more: each with a breach and a
    # warning due, two of three assigned
    counts = []
    for size in (1, 6, 30):
        now = timezone.now()
        tickets = assigned_due_tickets(tenant_a, size, now, urgent)
        # When the monitor scans them in one batch
        with tenant_a.scope(), CaptureQueriesContext(db_connection) as queries:
            recorded = monitor.sla_scan(organization=tenant_a.organization, now=now, limit=200)
        # Then both events of every ticket are recorded
        assert sorted(e.ticket_id for e in recorded) == sorted(t.pk for t in tickets for _clock in range(2))
        counts.append(len(queries.captured_queries))
    # in as many statements for 30 tickets as for 6: the due ids, the rules' freshness check, the transaction's
    # savepoint and its release, the lock, the recorded events, their INSERT, the tickets' UPDATE, the assignees'
    # preferences, the notifications' INSERT
    assert counts[1] == counts[2] == 10, counts
    with tenant_a.scope():
        assert Notification.objects.count() == 2 * (1 + 4 + 20)  # two events on each assigned ticket


def test_a_batch_records_and_announces_exactly_what_one_ticket_at_a_time_did(
    tenant_a, urgent, django_capture_on_commit_callbacks, mailoutbox
):
    # Given three due tickets (the agent's, the admin's, nobody's), each with a breach and a warning due
    now = timezone.now()
    agents, admins, nobodys = assigned_due_tickets(tenant_a, 3, now, urgent)
    agent, admin = tenant_a.users["agent"], tenant_a.users["admin"]
    # When the monitor scans them
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        recorded = monitor.sla_scan(organization=tenant_a.organization, now=now)
    # Then it reports each event once, ticket by ticket in clock order, with its assignee and policy
    assert [(e.ticket_id, e.metric, e.kind, e.assignee_id, e.policy_id) for e in recorded] == [
        (ticket.pk, metric, kind, ticket.assignee_id, urgent.pk)
        for ticket in (agents, admins, nobodys)
        for metric, kind in (("first_response", "breached"), ("resolution", "warning"))
    ]
    assert all(e.pk for e in recorded)
    with tenant_a.scope():
        stored = {(e.pk, e.ticket_id, e.metric, e.kind, e.due_at, e.occurred_at) for e in SlaEvent.objects.all()}
        assert stored == {(e.pk, e.ticket_id, e.metric, e.kind, e.due_at, now) for e in recorded}
        # the tickets are breached and look next at the resolution's due time
        for ticket in Ticket.objects.filter(pk__in=[agents.pk, admins.pk, nobodys.pk]):
            assert (ticket.sla_state, ticket.sla_check_at) == (SlaState.BREACHED, now + timedelta(minutes=5))
        # each assignee is told of each event in their language, the unassigned ticket tells nobody
        notes = [(n.user_id, n.kind, n.params) for n in Notification.objects.order_by("pk")]
        assert notes == [
            (agent.pk, "sla_breach", {"number": agents.number, "metric": "First response"}),
            (agent.pk, "sla_warning", {"number": agents.number, "metric": "Resolution"}),
            (admin.pk, "sla_breach", {"number": admins.number, "metric": "初回応答"}),
            (admin.pk, "sla_warning", {"number": admins.number, "metric": "解決"}),
        ]
        live = list(RealtimeEvent.objects.order_by("pk").values_list("type", "payload"))
    # every ticket's update goes to the browsers, and each notification with its id
    assert [payload["ticket_id"] for kind, payload in live if kind == "ticket.updated"] == [
        agents.pk,
        admins.pk,
        nobodys.pk,
    ]
    with tenant_a.scope():
        ids = list(Notification.objects.order_by("pk").values_list("pk", flat=True))
    assert [payload["notification_id"] for kind, payload in live if kind == "notification.created"] == ids
    # and the breaches are emailed (the members' default), the warnings not
    assert len(mailoutbox) == 2


# --- concurrency --------------------------------------------------------------------------------------------------


def _in_thread(target, errors: list):
    def run():
        try:
            target()
        except Exception as exc:  # collected and asserted by the test
            errors.append(exc)
        finally:
            db_connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_passes_record_and_announce_each_breach_once(tenant_a, urgent):
    # Given 300 tickets each with a breach and a warning due, two of three assigned
    now = timezone.now()
    tickets = assigned_due_tickets(tenant_a, 300, now, urgent)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def scan():
        barrier.wait()
        with tenant_a.scope():
            results.append(monitor.sla_scan(organization=tenant_a.organization, now=now, limit=40, budget=None))

    # When two passes run at the same time, in batches of 40
    for thread in [_in_thread(scan, errors), _in_thread(scan, errors)]:
        thread.join()
    # Then each event was recorded, reported and announced once
    assert errors == []
    reported = sorted((e.ticket_id, e.kind) for batch in results for e in batch)
    assert reported == sorted((t.pk, kind) for t in tickets for kind in ("breached", "warning"))
    with tenant_a.scope():
        assert SlaEvent.objects.count() == 600
        assigned = [t.pk for t in tickets if t.assignee_id is not None]
        notes = sorted(Notification.objects.values_list("target_id", "kind"))
        assert notes == sorted((pk, kind) for pk in assigned for kind in ("sla_breach", "sla_warning"))
        assert not Ticket.objects.filter(sla_check_at__lte=now).exists()


def test_a_breach_recorded_since_the_pass_read_is_left_to_its_recorder(tenant_a, urgent, monkeypatch):
    # Given three due tickets, and the agent's ticket's breach recorded by someone else after the pass read what was
    # recorded (a read that misses it: every writer of SLA events holds the ticket's lock, so only a writer that
    # did not could get in between; the unique constraint is the last word)
    now = timezone.now()
    agents, admins, _nobodys = assigned_due_tickets(tenant_a, 3, now, urgent)
    with tenant_a.scope():
        SlaEvent.objects.create(
            organization=tenant_a.organization,
            ticket_id=agents.pk,
            metric="first_response",
            kind="breached",
            due_at=agents.first_response_due_at,
            occurred_at=now - timedelta(seconds=1),
        )
    monkeypatch.setattr(monitor, "recorded_for", lambda ticket_ids: {pk: set() for pk in ticket_ids})
    # When the pass runs
    with tenant_a.scope():
        recorded = monitor.sla_scan(organization=tenant_a.organization, now=now)
    # Then it records and announces every other event, but not that breach: its INSERT did not return it
    reported = [(e.ticket_id, e.metric, e.kind) for e in recorded]
    assert (agents.pk, "first_response", "breached") not in reported
    assert len(reported) == 5
    with tenant_a.scope():
        assert SlaEvent.objects.get(ticket_id=agents.pk, kind="breached").occurred_at == now - timedelta(seconds=1)
        notes = sorted(Notification.objects.values_list("target_id", "kind"))
        assert notes == sorted([(agents.pk, "sla_warning"), (admins.pk, "sla_breach"), (admins.pk, "sla_warning")])
        # and the ticket looks next past the breach, which is recorded either way
        ticket = Ticket.objects.get(pk=agents.pk)
        assert (ticket.sla_state, ticket.sla_check_at) == (SlaState.BREACHED, now + timedelta(minutes=5))
