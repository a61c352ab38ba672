"""SLA clocks on real tickets in PostgreSQL: policy choice, due times, pauses, fulfilment and the monitor.

The office calendar is Monday–Friday 9:00–18:00 in Tokyo, closed on Japanese holidays; January 2026 starts on a
Thursday and Monday 12 January is 成人の日. Every expected time below is worked out by hand in the comments."""

import itertools
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from automation.models import BusinessCalendar, SlaEvent, SlaPolicy
from automation.models.sla import default_schedule
from automation.sla import clocks, monitor
from automation.sla.calendar import spec_for
from core.models import Notification, RealtimeEvent
from tickets.models import Contact, SlaState, Ticket, TicketStatus
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")
_numbers = itertools.count(1)


def jst(*args) -> datetime:
    return datetime(*args, tzinfo=JST)


@pytest.fixture
def sla(tenant_a):
    """Tenant A with two LINE connections, the office calendar and three policies:
    normal (office hours: first response 1 h, next response 2 h, resolution 8 h, warning 15 min),
    normal on the second connection only (first response 10 min), urgent (around the clock: 30 min, 1 h, 4 h)."""
    conn, other = connection(tenant_a), connection(tenant_a)
    agent = tenant_a.users["agent"]
    agent.language = "en"
    agent.save(update_fields=["language"])
    with tenant_a.scope():
        org = tenant_a.organization
        office = BusinessCalendar.objects.create(
            organization=org, name="Office", timezone="Asia/Tokyo", schedule=default_schedule(), japanese_holidays=True
        )
        normal = SlaPolicy.objects.create(
            organization=org,
            name="Normal",
            priority="normal",
            calendar=office,
            first_response_minutes=60,
            next_response_minutes=120,
            resolution_minutes=480,
            warning_minutes=15,
        )
        normal_other = SlaPolicy.objects.create(
            organization=org, name="Normal, second LINE", priority="normal", connection=other, first_response_minutes=10
        )
        urgent = SlaPolicy.objects.create(
            organization=org,
            name="Urgent",
            priority="urgent",
            first_response_minutes=30,
            next_response_minutes=60,
            resolution_minutes=240,
            warning_minutes=10,
        )
    return SimpleNamespace(
        tenant=tenant_a,
        org=org,
        conn=conn,
        other=other,
        agent=agent,
        office=office,
        normal=normal,
        normal_other=normal_other,
        urgent=urgent,
    )


def make_ticket(sla, *, created_at, priority="normal", conn=None, assignee=None) -> Ticket:
    """A ticket row made directly (not through message_ingest), so these tests drive the clocks themselves."""
    n = next(_numbers)
    with sla.tenant.scope():
        contact = Contact.objects.create(organization=sla.org, name="山田 花子")
        ticket = Ticket.objects.create(
            organization=sla.org,
            number=n,
            connection=conn or sla.conn,
            contact=contact,
            priority=priority,
            assignee=assignee,
            external_thread_key=f"sla-{n}",
        )
        Ticket.objects.filter(pk=ticket.pk).update(created_at=created_at, last_customer_message_at=created_at)
        return Ticket.objects.get(pk=ticket.pk)


def run(sla, service, ticket, **kwargs):
    """Call a clock service the way the product does: in a transaction, on the locked row. Returns the ticket as
    stored afterwards and the events the service reported."""
    with sla.tenant.scope():
        with transaction.atomic():
            locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
            events = service(organization=sla.org, ticket=locked, **kwargs)
        return Ticket.objects.get(pk=ticket.pk), events


def started(sla, ticket, now=None, policy=None):
    return run(sla, clocks.sla_start, ticket, now=now or ticket.created_at, policy=policy)[0]


def set_status(sla, ticket, new, at):
    def change(*, organization, ticket):
        old = ticket.status
        ticket.status = new
        ticket.save(update_fields=["status"])
        return clocks.sla_status_changed(organization=organization, ticket=ticket, old=old, new=new, at=at)

    return run(sla, change, ticket)


def events_of(sla, ticket) -> list[tuple[str, str, datetime]]:
    with sla.tenant.scope():
        return [
            (e.metric, e.kind, e.due_at.astimezone(JST))
            for e in SlaEvent.objects.filter(ticket_id=ticket.pk).order_by("occurred_at", "pk")
        ]


def scan(sla, now):
    with sla.tenant.scope():
        return monitor.sla_scan(organization=sla.org, now=now)


# --- which policy -------------------------------------------------------------------------------------------------

POLICY_CASES = [
    # (priority, on the second connection?, expected policy)
    ("normal", False, "Normal"),
    ("normal", True, "Normal, second LINE"),  # the channel's own policy wins
    ("urgent", True, "Urgent"),  # no urgent policy for that channel: the one for every channel
    ("low", False, None),  # no policy for the priority
]


@pytest.mark.parametrize(("priority", "on_other", "expected"), POLICY_CASES, ids=[str(c) for c in POLICY_CASES])
def test_policy_for_priority_and_channel(sla, priority, on_other, expected):
    ticket = make_ticket(
        sla, created_at=jst(2026, 1, 6, 10, 0), priority=priority, conn=sla.other if on_other else None
    )
    with sla.tenant.scope():
        policy = clocks.sla_policy_for(ticket=ticket)
    assert (policy.name if policy else None) == expected


def test_a_disabled_channel_policy_falls_back_to_the_general_one(sla):
    with sla.tenant.scope():
        SlaPolicy.objects.filter(pk=sla.normal_other.pk).update(enabled=False)
    ticket = make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0), conn=sla.other)
    with sla.tenant.scope():
        assert clocks.sla_policy_for(ticket=ticket) == sla.normal


# --- due times at creation ----------------------------------------------------------------------------------------

CREATION_CASES = [
    # (priority, created, first response due, resolution due)
    ("normal", jst(2026, 1, 6, 10, 0), jst(2026, 1, 6, 11, 0), jst(2026, 1, 6, 18, 0)),  # Tuesday morning
    # Friday 17:30: 30 min on Friday, Monday 12 Jan is 成人の日, the rest on Tuesday.
    ("normal", jst(2026, 1, 9, 17, 30), jst(2026, 1, 13, 9, 30), jst(2026, 1, 13, 16, 30)),
    ("normal", jst(2026, 1, 10, 12, 0), jst(2026, 1, 13, 10, 0), jst(2026, 1, 13, 17, 0)),  # Saturday
    ("urgent", jst(2026, 1, 10, 12, 0), jst(2026, 1, 10, 12, 30), jst(2026, 1, 10, 16, 0)),  # around the clock
]


@pytest.mark.parametrize(
    ("priority", "created", "first_due", "resolution_due"),
    CREATION_CASES,
    ids=[f"{p}-{c:%a-%H%M}" for p, c, _f, _r in CREATION_CASES],
)
def test_due_times_at_creation(sla, priority, created, first_due, resolution_due):
    ticket = started(sla, make_ticket(sla, created_at=created, priority=priority))
    assert ticket.first_response_due_at == first_due
    assert ticket.resolution_due_at == resolution_due
    assert ticket.next_response_due_at is None
    warning = timedelta(minutes=15 if priority == "normal" else 10)
    assert ticket.sla_check_at == first_due - warning
    assert ticket.sla_state == SlaState.OK
    assert ticket.sla_policy_id == (sla.normal if priority == "normal" else sla.urgent).pk


def test_without_a_policy_the_clocks_are_cleared(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    with sla.tenant.scope():
        Ticket.objects.filter(pk=ticket.pk).update(priority="low")
    ticket = started(sla, ticket, now=jst(2026, 1, 6, 10, 5))
    assert (ticket.sla_policy_id, ticket.first_response_due_at, ticket.resolution_due_at) == (None, None, None)
    assert (ticket.sla_state, ticket.sla_check_at) == (SlaState.NONE, None)


# --- pending ------------------------------------------------------------------------------------------------------


def test_pending_holds_the_clocks_and_resumes_them_with_the_time_left(sla):
    # Given a ticket of Tuesday 10:00 answered at 10:30 (first response due 11:00: met)
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    ticket, met = run(sla, clocks.sla_agent_reply, ticket, at=jst(2026, 1, 6, 10, 30))
    assert [(e.metric, e.kind) for e in met] == [("first_response", "met")]
    # When it waits on the customer from 12:00 (resolution due 18:00: 6 business hours left)
    ticket, _ = set_status(sla, ticket, TicketStatus.PENDING, jst(2026, 1, 6, 12, 0))
    # Then the clocks are held: nothing for the monitor to do
    assert ticket.sla_paused_at == jst(2026, 1, 6, 12, 0)
    assert ticket.sla_check_at is None
    assert scan(sla, jst(2026, 1, 8, 14, 0)) == []
    # When the customer answers on Thursday 15:00 (the ticket opens again)
    ticket, _ = set_status(sla, ticket, TicketStatus.OPEN, jst(2026, 1, 8, 15, 0))
    ticket, _ = run(sla, clocks.sla_customer_message, ticket, at=jst(2026, 1, 8, 15, 0))
    # Then resolution has its 6 hours again: Thursday 15:00–18:00 and Friday 9:00–12:00
    assert ticket.sla_paused_at is None
    assert ticket.resolution_due_at == jst(2026, 1, 9, 12, 0)
    # and the customer's message starts the next-response clock: 2 hours → Thursday 17:00
    assert ticket.next_response_due_at == jst(2026, 1, 8, 17, 0)
    assert ticket.sla_check_at == jst(2026, 1, 8, 16, 45)


def test_pending_before_the_first_reply_holds_the_first_response_clock(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))  # first response due 11:00
    ticket, _ = set_status(sla, ticket, TicketStatus.PENDING, jst(2026, 1, 6, 10, 30))  # 30 minutes left
    ticket, _ = set_status(sla, ticket, TicketStatus.OPEN, jst(2026, 1, 7, 9, 0))
    assert ticket.first_response_due_at == jst(2026, 1, 7, 9, 30)
    # 7.5 business hours of resolution were left at 10:30 Tuesday: Wednesday 9:00 + 7:30
    assert ticket.resolution_due_at == jst(2026, 1, 7, 16, 30)


def test_on_hold_does_not_stop_the_clocks(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    ticket, _ = set_status(sla, ticket, TicketStatus.ON_HOLD, jst(2026, 1, 6, 10, 10))
    assert ticket.sla_paused_at is None
    assert ticket.first_response_due_at == jst(2026, 1, 6, 11, 0)
    assert ticket.sla_check_at == jst(2026, 1, 6, 10, 45)


# --- first response, next response, resolution --------------------------------------------------------------------

REPLY_CASES = [
    (jst(2026, 1, 6, 10, 45), "met", SlaState.OK),
    (jst(2026, 1, 6, 11, 0), "met", SlaState.OK),  # at the due time itself: still in time
    (jst(2026, 1, 6, 11, 30), "breached", SlaState.OK),  # late; the clock stops, resolution (18:00) is on track
]


@pytest.mark.parametrize(("at", "kind", "state"), REPLY_CASES, ids=["early", "on-the-minute", "late"])
def test_first_response_met_or_breached(sla, at, kind, state):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    ticket, recorded = run(sla, clocks.sla_agent_reply, ticket, at=at)
    assert [(e.metric, e.kind, e.due_at) for e in recorded] == [("first_response", kind, jst(2026, 1, 6, 11, 0))]
    assert ticket.first_response_at == at
    assert ticket.sla_state == state
    assert ticket.sla_check_at == jst(2026, 1, 6, 17, 45)  # only the resolution clock is left


def test_a_breach_the_monitor_recorded_is_not_recorded_again_by_the_late_reply(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    assert [e.kind for e in scan(sla, jst(2026, 1, 6, 11, 5))] == ["breached"]
    ticket, recorded = run(sla, clocks.sla_agent_reply, ticket, at=jst(2026, 1, 6, 11, 30))
    assert recorded == []
    assert events_of(sla, ticket) == [("first_response", "breached", jst(2026, 1, 6, 11, 0))]


def test_a_reply_the_caller_already_stamped_counts_as_the_first_response(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    at = jst(2026, 1, 6, 10, 40)
    with sla.tenant.scope():
        Ticket.objects.filter(pk=ticket.pk).update(first_response_at=at)  # as message_reply does
    _ticket, recorded = run(sla, clocks.sla_agent_reply, ticket, at=at)
    assert [(e.metric, e.kind) for e in recorded] == [("first_response", "met")]


def test_next_response_runs_from_the_first_unanswered_customer_message(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    # A customer message before any reply starts nothing (the first-response clock runs)
    ticket, _ = run(sla, clocks.sla_customer_message, ticket, at=jst(2026, 1, 6, 10, 10))
    assert ticket.next_response_due_at is None
    ticket, _ = run(sla, clocks.sla_agent_reply, ticket, at=jst(2026, 1, 6, 10, 30))
    # After the reply, the customer writes at 17:00: due 2 business hours later, Wednesday 10:00
    ticket, _ = run(sla, clocks.sla_customer_message, ticket, at=jst(2026, 1, 6, 17, 0))
    assert ticket.next_response_due_at == jst(2026, 1, 7, 10, 0)
    # A second message does not move it
    ticket, _ = run(sla, clocks.sla_customer_message, ticket, at=jst(2026, 1, 6, 17, 30))
    assert ticket.next_response_due_at == jst(2026, 1, 7, 10, 0)
    # The monitor looks next at the earliest warning: resolution's (Tuesday 17:45), before next response's (9:45)
    assert ticket.sla_check_at == jst(2026, 1, 6, 17, 45)
    # The agent answers at 10:20: breached by 20 minutes, and the clock stops
    ticket, recorded = run(sla, clocks.sla_agent_reply, ticket, at=jst(2026, 1, 7, 10, 20))
    assert [(e.metric, e.kind, e.due_at) for e in recorded] == [("next_response", "breached", jst(2026, 1, 7, 10, 0))]
    assert ticket.next_response_due_at is None
    # Resolution (due Tuesday 18:00) is what remains, and it is overdue by now
    assert ticket.sla_state == SlaState.BREACHED


def test_resolution_met_then_reopened_with_the_time_left_then_breached(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))  # resolution due Tue 18:00
    ticket, _ = run(sla, clocks.sla_agent_reply, ticket, at=jst(2026, 1, 6, 10, 30))
    ticket, recorded = set_status(sla, ticket, TicketStatus.SOLVED, jst(2026, 1, 6, 16, 0))
    assert [(e.metric, e.kind) for e in recorded] == [("resolution", "met")]
    assert (ticket.sla_state, ticket.sla_check_at) == (SlaState.OK, None)
    # Reopened Wednesday 10:00 with the 2 hours it had left: due 12:00
    ticket, _ = set_status(sla, ticket, TicketStatus.OPEN, jst(2026, 1, 7, 10, 0))
    assert ticket.resolution_due_at == jst(2026, 1, 7, 12, 0)
    assert ticket.sla_check_at == jst(2026, 1, 7, 11, 45)
    # Solved again at 13:00: an hour late
    ticket, recorded = set_status(sla, ticket, TicketStatus.SOLVED, jst(2026, 1, 7, 13, 0))
    assert [(e.metric, e.kind, e.due_at) for e in recorded] == [("resolution", "breached", jst(2026, 1, 7, 12, 0))]
    assert ticket.sla_state == SlaState.BREACHED
    # Closing the solved ticket records nothing more
    ticket, recorded = set_status(sla, ticket, TicketStatus.CLOSED, jst(2026, 1, 8, 13, 0))
    assert recorded == []
    assert [kind for _m, kind, _d in events_of(sla, ticket)] == ["met", "met", "breached"]


# --- re-applying --------------------------------------------------------------------------------------------------


def test_a_priority_change_reapplies_from_creation(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    with sla.tenant.scope():
        Ticket.objects.filter(pk=ticket.pk).update(priority="urgent")
    # Urgent counts around the clock from creation: first response 10:30, resolution 14:00
    ticket = started(sla, ticket, now=jst(2026, 1, 6, 10, 20))
    assert ticket.sla_policy_id == sla.urgent.pk
    assert ticket.first_response_due_at == jst(2026, 1, 6, 10, 30)
    assert ticket.resolution_due_at == jst(2026, 1, 6, 14, 0)
    assert ticket.sla_check_at == jst(2026, 1, 6, 10, 20)  # 10 minutes' warning: due soon right away
    assert ticket.sla_state == SlaState.WARNING
    # Re-applying the same policy changes nothing
    again = started(sla, ticket, now=jst(2026, 1, 6, 10, 25))
    assert (again.first_response_due_at, again.resolution_due_at) == (
        ticket.first_response_due_at,
        ticket.resolution_due_at,
    )


def test_a_priority_change_does_not_charge_the_time_the_ticket_was_pending(sla):
    # Given Tuesday 10:00, answered 10:30, pending 11:00 (7 h of resolution left) until Wednesday 10:00
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    ticket, _ = run(sla, clocks.sla_agent_reply, ticket, at=jst(2026, 1, 6, 10, 30))
    ticket, _ = set_status(sla, ticket, TicketStatus.PENDING, jst(2026, 1, 6, 11, 0))
    ticket, _ = set_status(sla, ticket, TicketStatus.OPEN, jst(2026, 1, 7, 10, 0))
    assert ticket.resolution_due_at == jst(2026, 1, 7, 17, 0)
    # When it becomes urgent at Wednesday 10:30 — 1 h 30 of business time used (Tue 10–11, Wed 10–10:30)
    with sla.tenant.scope():
        Ticket.objects.filter(pk=ticket.pk).update(priority="urgent")
    ticket = started(sla, ticket, now=jst(2026, 1, 7, 10, 30))
    # Then the urgent 4 hours leave 2 h 30: due 13:00, not Tuesday 14:00 as counting from creation would say
    assert ticket.resolution_due_at == jst(2026, 1, 7, 13, 0)
    assert ticket.first_response_due_at == jst(2026, 1, 6, 11, 0)  # answered already: kept as it was
    assert ticket.sla_state == SlaState.OK


# --- the monitor --------------------------------------------------------------------------------------------------


def test_the_monitor_warns_then_records_the_breach_once_and_tells_the_assignee(sla, django_capture_on_commit_callbacks):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0), assignee=sla.agent))
    assert ticket.sla_check_at == jst(2026, 1, 6, 10, 45)
    assert scan(sla, jst(2026, 1, 6, 10, 44)) == []
    with django_capture_on_commit_callbacks(execute=True):
        warned = scan(sla, jst(2026, 1, 6, 10, 46))
    assert [(e.metric, e.kind, e.due_at) for e in warned] == [("first_response", "warning", jst(2026, 1, 6, 11, 0))]
    with sla.tenant.scope():
        ticket = Ticket.objects.get(pk=ticket.pk)
        pushed = RealtimeEvent.objects.filter(type="ticket.updated").latest("id").payload
    assert (ticket.sla_state, ticket.sla_check_at) == (SlaState.WARNING, jst(2026, 1, 6, 11, 0))
    assert pushed["ticket_id"] == ticket.pk and pushed["sla_state"] == "warning"
    assert pushed["first_response_due_at"] == jst(2026, 1, 6, 11, 0).astimezone(UTC).isoformat()
    assert scan(sla, jst(2026, 1, 6, 10, 50)) == []
    breached = scan(sla, jst(2026, 1, 6, 11, 0, 1))
    assert [(e.metric, e.kind) for e in breached] == [("first_response", "breached")]
    with sla.tenant.scope():
        ticket = Ticket.objects.get(pk=ticket.pk)
        assert (ticket.sla_state, ticket.sla_check_at) == (SlaState.BREACHED, jst(2026, 1, 6, 17, 45))
        assert scan(sla, jst(2026, 1, 6, 11, 5)) == []
        notes = [(n.user_id, n.kind, n.params) for n in Notification.objects.order_by("pk")]
    assert notes == [
        (sla.agent.pk, "sla_warning", {"number": ticket.number, "metric": "First response"}),
        (sla.agent.pk, "sla_breach", {"number": ticket.number, "metric": "First response"}),
    ]
    assert [kind for _m, kind, _d in events_of(sla, ticket)] == ["warning", "breached"]


def test_a_late_scan_records_only_the_breach_and_an_unassigned_ticket_notifies_nobody(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    assert [e.kind for e in scan(sla, jst(2026, 1, 6, 11, 30))] == ["breached"]
    with sla.tenant.scope():
        assert Notification.objects.count() == 0
    assert events_of(sla, ticket) == [("first_response", "breached", jst(2026, 1, 6, 11, 0))]


def test_a_stale_check_time_never_records_an_event_twice(sla):
    ticket = started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    assert len(scan(sla, jst(2026, 1, 6, 10, 50))) == 1
    with sla.tenant.scope():  # as if a crashed scan had left the old check time behind
        Ticket.objects.filter(pk=ticket.pk).update(sla_check_at=jst(2026, 1, 6, 10, 45))
    assert scan(sla, jst(2026, 1, 6, 10, 55)) == []
    assert events_of(sla, ticket) == [("first_response", "warning", jst(2026, 1, 6, 11, 0))]


def test_the_scan_ignores_other_organizations(sla, tenant_b):
    started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0)))
    with tenant_b.scope():
        assert monitor.sla_scan(organization=tenant_b.organization, now=jst(2026, 1, 6, 12, 0)) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_record_each_warning_exactly_once(sla):
    # Given 12 urgent tickets whose warning time (10:20) has come, assigned to the agent
    tickets = [
        started(sla, make_ticket(sla, created_at=jst(2026, 1, 6, 10, 0), priority="urgent", assignee=sla.agent))
        for _ in range(12)
    ]
    barrier = threading.Barrier(4)
    results, errors = [], []

    def scan_now():
        try:
            barrier.wait()
            results.append(scan(sla, jst(2026, 1, 6, 10, 25)))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    # When four scans run at the same time
    threads = [threading.Thread(target=scan_now) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every ticket got exactly one warning and one notification, and the scans reported each once
    assert errors == []
    reported = sorted(e.ticket_id for batch in results for e in batch)
    assert reported == sorted(t.pk for t in tickets)
    with sla.tenant.scope():
        assert SlaEvent.objects.filter(kind="warning").count() == 12
        assert Notification.objects.filter(kind="sla_warning").count() == 12
        assert set(Ticket.objects.values_list("sla_state", flat=True)) == {SlaState.WARNING}


def test_the_beat_task_fans_out_to_organizations_with_due_tickets(sla):
    from automation.sla import tasks

    # A ticket (around the clock) that is already overdue now
    now = timezone.now()
    started(sla, make_ticket(sla, created_at=now - timedelta(hours=1), priority="urgent"), now=now)
    assert tasks.sla_scan_everywhere() == 1  # Celery runs eagerly in tests
    with sla.tenant.scope():
        assert list(SlaEvent.objects.values_list("metric", "kind")) == [("first_response", "breached")]
    assert tasks.sla_scan_everywhere() == 0  # nothing left to look at until the resolution warning


# --- calendar specs from the database -----------------------------------------------------------------------------


def test_the_calendar_spec_is_cached_and_a_closure_change_refreshes_it(
    sla, django_assert_num_queries, django_capture_on_commit_callbacks
):
    from automation.sla import services
    from automation.sla.calendar import add_business_minutes

    with sla.tenant.scope():
        spec = spec_for(sla.office, sla.org)
        with django_assert_num_queries(0):
            assert spec_for(sla.office, sla.org) == spec
        with django_capture_on_commit_callbacks(execute=True):
            services.closure_add(
                organization=sla.org,
                actor=sla.tenant.users["admin"],
                actor_membership=sla.tenant.memberships["admin"],
                calendar=sla.office,
                name="社内研修",
                starts_at=jst(2026, 1, 6, 0, 0),
                ends_at=jst(2026, 1, 7, 0, 0),
            )
        fresh = spec_for(sla.office, sla.org)
    assert add_business_minutes(jst(2026, 1, 5, 17, 0), 120, spec) == jst(2026, 1, 6, 10, 0)
    assert add_business_minutes(jst(2026, 1, 5, 17, 0), 120, fresh) == jst(2026, 1, 7, 10, 0)
