"""The SLA clocks of one ticket: started from its policy, stopped by agent replies and solving, held while the
ticket waits on the customer, and watched by the monitor through `sla_check_at`.

Every service here runs inside the caller's transaction on a ticket row the caller has locked (select_for_update),
changes the ticket's SLA fields, saves exactly those, and records SlaEvents (get-or-create against the database's
unique constraint: the monitor may have recorded the same breach already). They return the SlaEvents they created.
They publish nothing: the caller publishes the ticket it changed (its payload, tickets.events, carries the SLA part).

Three clocks, each a due time on the ticket:
- first response: from creation until the first agent reply (`first_response_at`); the due time stays afterwards;
- next response: from a customer message that arrives after the first response until the next agent reply
  (`next_response_due_at` is set exactly while it runs);
- resolution: from creation until the ticket is solved or closed; the due time stays, and a reopened ticket resumes
  with the business time it had left.

Statuses: *pending* (waiting on the customer) holds every clock, and so do *solved* and *closed*; leaving them
resumes each clock with the business time it had left (`sla_paused_at` marks the hold; the due times are kept as
they were, so "left" = business time from the hold to the due time). *on hold* (waiting on a third party) does NOT
stop the clocks: the customer is still waiting on us, and holding them would let tickets sit without an SLA.
"""

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from automation.models import SlaEvent, SlaEventKind, SlaPolicy
from automation.setup_cache import cached_setup
from automation.sla.calendar import add_business_time, business_time_left, spec_for
from tickets.models import DONE_STATUSES, SlaMetric, SlaState, Ticket, TicketStatus

HELD_STATUSES = frozenset({TicketStatus.PENDING, TicketStatus.SOLVED, TicketStatus.CLOSED})

DUE_FIELD = {
    SlaMetric.FIRST_RESPONSE: "first_response_due_at",
    SlaMetric.NEXT_RESPONSE: "next_response_due_at",
    SlaMetric.RESOLUTION: "resolution_due_at",
}
TARGET_FIELD = {
    SlaMetric.FIRST_RESPONSE: "first_response_minutes",
    SlaMetric.NEXT_RESPONSE: "next_response_minutes",
    SlaMetric.RESOLUTION: "resolution_minutes",
}
SLA_FIELDS = [
    "sla_policy",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "first_response_at",
    "sla_paused_at",
    "sla_state",
    "sla_check_at",
]


def _utc(value: datetime) -> datetime:
    """Times are compared in UTC: aware datetimes sharing a tzinfo compare by wall time, wrong across DST."""
    return value.astimezone(UTC)


# --- reads --------------------------------------------------------------------------------------------------------


def sla_policy_for(*, ticket: Ticket) -> SlaPolicy | None:
    """The enabled policy for the ticket's priority on its channel, else the priority's policy for every channel
    (one query; the calendar comes with it)."""
    return cached_setup(
        ticket.organization_id,
        ("sla_policy", ticket.priority, ticket.connection_id),
        lambda: (
            SlaPolicy.objects.select_related("calendar")
            .filter(enabled=True, priority=ticket.priority)
            .filter(Q(connection_id=ticket.connection_id) | Q(connection__isnull=True))
            .order_by(F("connection_id").asc(nulls_last=True))
            .first()
        ),
    )


def _policy(ticket: Ticket, *, with_calendar: bool = True) -> SlaPolicy | None:
    """The ticket's policy (with its calendar), from the instance when already loaded, else one query."""
    if ticket.sla_policy_id is None:
        return None
    if Ticket._meta.get_field("sla_policy").is_cached(ticket):
        policy = ticket.sla_policy
        if policy is not None and (
            not with_calendar or policy.calendar_id is None or SlaPolicy._meta.get_field("calendar").is_cached(policy)
        ):
            return policy
    policy = SlaPolicy.objects.select_related("calendar").filter(pk=ticket.sla_policy_id).first()
    if policy is not None:
        ticket.sla_policy = policy
    return policy


def _spec(policy: SlaPolicy | None, organization):
    return spec_for(policy.calendar if policy is not None else None, organization)


def _warning(policy: SlaPolicy | None) -> timedelta:
    return timedelta(minutes=policy.warning_minutes) if policy is not None else timedelta(0)


def _has_sla(ticket: Ticket) -> bool:
    return ticket.sla_policy_id is not None or any(getattr(ticket, name) for name in DUE_FIELD.values())


def _recorded(ticket: Ticket, clocks) -> set[tuple[str, str, datetime]]:
    """(metric, kind, due) of the warnings and breaches already recorded for these clocks (one query)."""
    if not clocks:
        return set()
    return set(
        SlaEvent.objects.filter(
            ticket=ticket,
            kind__in=[SlaEventKind.WARNING, SlaEventKind.BREACHED],
            due_at__in=[due for _metric, due in clocks],
        ).values_list("metric", "kind", "due_at")
    )


def recorded_for(ticket_ids: list[int]) -> dict[int, set[tuple[str, str, datetime]]]:
    """Per ticket, (metric, kind, due) of every warning and breach recorded (one query for a batch). More than
    `_recorded` gives (earlier due times too): lookups are by exact (metric, kind, due), so the rest is never met."""
    found: dict[int, set] = {pk: set() for pk in ticket_ids}
    for ticket_id, metric, kind, due in SlaEvent.objects.filter(
        ticket_id__in=ticket_ids, kind__in=[SlaEventKind.WARNING, SlaEventKind.BREACHED]
    ).values_list("ticket_id", "metric", "kind", "due_at"):
        found[ticket_id].add((metric, kind, due))
    return found


def sla_state_at(ticket: Ticket, policy: SlaPolicy | None, now: datetime) -> str:
    """How the ticket stands at `now` (at the moment it was held, while held). A due time counts as met up to and
    including its instant, as breached after it; "due soon" from `warning_minutes` (wall clock) before it."""
    if not _has_sla(ticket):
        return SlaState.NONE
    at = ticket.sla_paused_at or now
    dues = [due for _metric, due in ticket.running_clocks()]
    if ticket.status in DONE_STATUSES:
        if ticket.resolution_due_at is not None:
            dues.append(ticket.resolution_due_at)
        return SlaState.BREACHED if any(at > due for due in dues) else SlaState.OK
    if any(at > due for due in dues):
        return SlaState.BREACHED
    warning = _warning(policy)
    if warning and any(at >= due - warning for due in dues):
        return SlaState.WARNING
    return SlaState.OK


def next_check_at(ticket: Ticket, policy: SlaPolicy | None, recorded) -> datetime | None:
    """When the monitor must look next: for each counting clock, its warning time while the warning is not
    recorded, else its due time while the breach is not recorded. None while held."""
    if ticket.sla_paused_at is not None or ticket.status in HELD_STATUSES:
        return None
    warning = _warning(policy)
    times = []
    for metric, due in ticket.running_clocks():
        if (metric, SlaEventKind.BREACHED, due) in recorded:
            continue
        if warning and (metric, SlaEventKind.WARNING, due) not in recorded:
            times.append(due - warning)
        else:
            times.append(due)
    return min(times, default=None)


def _record(ticket: Ticket, policy: SlaPolicy | None, metric: str, kind: str, due: datetime, at: datetime):
    """Record one SLA event exactly once (the unique constraint decides). Returns it when this call created it."""
    event, created = SlaEvent.objects.get_or_create(
        ticket=ticket,
        metric=metric,
        kind=kind,
        due_at=due,
        defaults={
            "organization_id": ticket.organization_id,
            "policy": policy,
            "occurred_at": at,
            "assignee_id": ticket.assignee_id,
        },
    )
    return event if created else None


def _outcome(ticket, policy, metric: str, due: datetime | None, at: datetime) -> SlaEvent | None:
    """A clock stopped at `at`: met up to its due time, breached after it."""
    if due is None:
        return None
    kind = SlaEventKind.MET if at <= due else SlaEventKind.BREACHED
    return _record(ticket, policy, metric, kind, due, at)


def _finish(ticket: Ticket, policy: SlaPolicy | None, now: datetime, fields, recorded=None) -> None:
    """Recompute the state and the next check, and save the SLA fields that changed."""
    if recorded is None:
        recorded = _recorded(ticket, ticket.running_clocks()) if ticket.sla_paused_at is None else set()
    ticket.sla_state = sla_state_at(ticket, policy, now)
    ticket.sla_check_at = next_check_at(ticket, policy, recorded)
    ticket.save(update_fields=sorted({*fields, "sla_state", "sla_check_at"}))


# --- services -----------------------------------------------------------------------------------------------------


def sla_start(*, organization, ticket: Ticket, policy: SlaPolicy | None = None, now=None) -> list[SlaEvent]:
    """(Re)apply a policy — the one given, else `sla_policy_for` — at creation, on a priority change, or by a rule.

    First response is due its target after creation (unless the ticket was answered already), resolution likewise,
    next response its target after the last customer message (only while that clock runs). On a ticket that already
    had clocks, the business time they consumed (which excludes the time they were held) counts against the new
    targets: new due = now + (new target − consumed), so re-applying the same policy changes nothing and a pending
    period is never charged. No policy: the clocks are cleared."""
    now = _utc(now or timezone.now())
    old_policy = _policy(ticket)
    policy = policy or sla_policy_for(ticket=ticket)
    if policy is None:
        return sla_clear(organization=organization, ticket=ticket, now=now)
    had_clocks = any(getattr(ticket, name) for name in DUE_FIELD.values())
    new_spec = spec_for(policy.calendar, organization)
    old_spec = _spec(old_policy, organization) if old_policy is not None else new_spec
    if ticket.status in HELD_STATUSES and ticket.sla_paused_at is None:
        ticket.sla_paused_at = now  # applied to a waiting ticket: its clocks start held
    at = ticket.sla_paused_at or now

    def due(metric: str, origin: datetime | None) -> datetime | None:
        target = getattr(policy, TARGET_FIELD[metric])
        if target is None or origin is None:
            return None
        old_due = getattr(ticket, DUE_FIELD[metric])
        old_target = getattr(old_policy, TARGET_FIELD[metric]) if old_policy is not None else None
        if old_due is not None and old_target is not None:
            consumed = timedelta(minutes=old_target) - business_time_left(at, old_due, old_spec)
            left = timedelta(minutes=target) - consumed
            if left > timedelta(0):
                return add_business_time(at, left, new_spec)
        # A first application, or already overdue under the new target: count from the origin.
        return add_business_time(origin, timedelta(minutes=target), new_spec)

    if ticket.first_response_at is None:
        ticket.first_response_due_at = due(SlaMetric.FIRST_RESPONSE, ticket.created_at)
    ticket.resolution_due_at = due(SlaMetric.RESOLUTION, ticket.created_at)
    if ticket.next_response_due_at is not None:
        ticket.next_response_due_at = due(SlaMetric.NEXT_RESPONSE, ticket.last_customer_message_at)
    ticket.sla_policy = policy
    if not any(getattr(ticket, name) for name in DUE_FIELD.values()):
        ticket.sla_paused_at = None
    # A ticket that had no clocks has no warnings or breaches recorded for them (saves a query per new ticket).
    _finish(ticket, policy, now, SLA_FIELDS, recorded=None if had_clocks else set())
    return []


def sla_clear(*, organization, ticket: Ticket, now=None) -> list[SlaEvent]:
    """Stop every clock without an outcome (no met, no breach): for a ticket merged into another, whose
    conversation now lives — and is measured — there. The policy is forgotten too."""
    if (
        not _has_sla(ticket)
        and ticket.sla_paused_at is None
        and ticket.sla_check_at is None
        and ticket.sla_state == SlaState.NONE
    ):
        return []  # nothing to clear (every new ticket of an organization without SLA policies): no write
    ticket.sla_policy = None
    for name in DUE_FIELD.values():
        setattr(ticket, name, None)
    ticket.sla_paused_at = None
    _finish(ticket, None, _utc(now or timezone.now()), SLA_FIELDS, recorded=set())
    return []


def sla_customer_message(*, organization, ticket: Ticket, at: datetime) -> list[SlaEvent]:
    """A customer message: after the first agent response it starts the next-response clock, unless that clock
    already runs (it measures from the first unanswered message). Call it after the status change the message
    causes (pending → open), so the clock starts counting, not held."""
    if ticket.first_response_at is None or ticket.next_response_due_at is not None:
        return []  # decided without loading the policy: this runs for every customer message
    policy = _policy(ticket)
    if policy is None or policy.next_response_minutes is None:
        return []
    at = _utc(at)
    # A held ticket starts the clock held: it counts from the hold, i.e. from the moment it resumes.
    start = ticket.sla_paused_at or at
    ticket.next_response_due_at = add_business_time(
        start, timedelta(minutes=policy.next_response_minutes), _spec(policy, organization)
    )
    _finish(ticket, policy, at, ["next_response_due_at"])
    return []


def sla_agent_reply(*, organization, ticket: Ticket, at: datetime) -> list[SlaEvent]:
    """An agent's reply to the customer (not a private note) at `at`: the first one stops the first-response clock
    and sets `first_response_at`; a later one stops the running next-response clock. Records met or breached.
    Call it before setting `first_response_at` yourself — or set it to the same `at`, which is recognized."""
    at = _utc(at)
    if ticket.first_response_at is None or ticket.first_response_at == at:
        metric, due, fields = SlaMetric.FIRST_RESPONSE, ticket.first_response_due_at, ["first_response_at"]
        ticket.first_response_at = at
    elif ticket.next_response_due_at is not None:
        metric, due, fields = SlaMetric.NEXT_RESPONSE, ticket.next_response_due_at, ["next_response_due_at"]
        ticket.next_response_due_at = None
    else:
        return []  # no clock waits for this reply (decided before loading the policy)
    policy = _policy(ticket, with_calendar=False)
    # A held clock was judged when it was held: the reply of a pending ticket counts at the moment it went pending.
    judged_at = min(at, ticket.sla_paused_at) if ticket.sla_paused_at is not None else at
    created = [_outcome(ticket, policy, metric, due, judged_at)]
    _finish(ticket, policy, at, fields)
    return [event for event in created if event is not None]


def sla_status_changed(*, organization, ticket: Ticket, old: str, new: str, at: datetime) -> list[SlaEvent]:
    """The ticket's status changed from `old` to `new` at `at` (call it after setting `ticket.status = new`).

    Entering pending, solved or closed holds every clock; solving or closing also ends the resolution clock (met or
    breached, judged when the clocks were held) and records as breached any response clock that ran out before.
    Leaving them for new, open or on hold resumes every clock with the business time it had left; a clock that had
    run out keeps its due time (it stays breached). on_hold counts like open."""
    if old == new or not _has_sla(ticket):
        return []
    at = _utc(at)
    policy = _policy(ticket)
    fields = []
    created = []
    if old not in HELD_STATUSES and new in HELD_STATUSES and ticket.sla_paused_at is None:
        ticket.sla_paused_at = at
        fields.append("sla_paused_at")
    if new in DONE_STATUSES and old not in DONE_STATUSES:
        judged_at = ticket.sla_paused_at or at
        created.append(_outcome(ticket, policy, SlaMetric.RESOLUTION, ticket.resolution_due_at, judged_at))
        for metric, due in ticket.running_clocks():
            if judged_at > due:
                created.append(_record(ticket, policy, metric, SlaEventKind.BREACHED, due, judged_at))
    if old in HELD_STATUSES and new not in HELD_STATUSES and ticket.sla_paused_at is not None:
        spec = _spec(policy, organization)
        held_at = ticket.sla_paused_at
        for metric, name in DUE_FIELD.items():
            due = getattr(ticket, name)
            if due is None or (metric == SlaMetric.FIRST_RESPONSE and ticket.first_response_at is not None):
                continue
            left = business_time_left(held_at, due, spec)
            if left > timedelta(0):
                setattr(ticket, name, add_business_time(at, left, spec))
                fields.append(name)
        ticket.sla_paused_at = None
        fields.append("sla_paused_at")
    _finish(ticket, policy, at, fields)
    return [event for event in created if event is not None]


def _due_now(ticket: Ticket, policy: SlaPolicy | None, now: datetime, recorded: set) -> list[tuple[str, str, datetime]]:
    """(metric, kind, due) of the warnings and breaches that are due at `now` and not in `recorded` (a clock found
    past its due time gets its breach only — the warning is moot)."""
    clocks = ticket.running_clocks() if ticket.sla_paused_at is None else []
    warning = _warning(policy)
    due_now = []
    for metric, due in clocks:
        if now > due:
            kind = SlaEventKind.BREACHED
        elif warning and now >= due - warning:
            kind = SlaEventKind.WARNING
        else:
            continue
        if (metric, kind, due) not in recorded:
            due_now.append((metric, kind, due))
    return due_now


def sla_check(*, organization, ticket: Ticket, now: datetime, recorded=None) -> list[SlaEvent]:
    """The monitor's look at one locked ticket: record the warnings and breaches that are due, then the new state
    and next check. `recorded`: the ticket's warnings and breaches as `recorded_for` read them after the lock (the
    monitor checks a batch with `sla_check_many`)."""
    now = _utc(now)
    policy = _policy(ticket, with_calendar=False)
    clocks = ticket.running_clocks() if ticket.sla_paused_at is None else []
    recorded = set(recorded) if recorded is not None else _recorded(ticket, clocks)
    created = []
    for metric, kind, due in _due_now(ticket, policy, now, recorded):
        event = _record(ticket, policy, metric, kind, due, now)
        recorded.add((metric, kind, due))
        if event is not None:
            created.append(event)
    _finish(ticket, policy, now, [], recorded=recorded)
    return created


def sla_check_many(*, organization, tickets: list[Ticket], now: datetime, recorded) -> dict[int, list[SlaEvent]]:
    """`sla_check` for a batch of locked tickets in a constant number of statements: every warning and breach due
    is recorded by one INSERT … ON CONFLICT DO NOTHING RETURNING (the unique constraint decides: a row another
    transaction recorded first does not come back, so only what this call recorded is announced), and the tickets'
    new state and next check are written by one UPDATE. `recorded`: `recorded_for` the batch, read after the lock.
    Returns, per ticket, the events this call recorded (in clock order)."""
    now = _utc(now)
    wanted: list[SlaEvent] = []
    for ticket in tickets:
        policy = _policy(ticket, with_calendar=False)
        known = recorded[ticket.pk]
        for metric, kind, due in _due_now(ticket, policy, now, known):
            wanted.append(
                SlaEvent(
                    organization_id=ticket.organization_id,
                    ticket=ticket,
                    policy=policy,
                    metric=metric,
                    kind=kind,
                    due_at=due,
                    occurred_at=now,
                    assignee_id=ticket.assignee_id,
                )
            )
            known.add((metric, kind, due))  # recorded now or before: either way the next check looks past it
        ticket.sla_state = sla_state_at(ticket, policy, now)
        ticket.sla_check_at = next_check_at(ticket, policy, known)
    created = _insert_new(wanted)
    if tickets:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {Ticket._meta.db_table} AS t SET sla_state = v.sla_state, sla_check_at = v.sla_check_at
                    FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS v(id, sla_state, sla_check_at)
                    WHERE t.id = v.id AND t.organization_id = %s""",
                [
                    [ticket.pk for ticket in tickets],
                    [str(ticket.sla_state) for ticket in tickets],
                    [ticket.sla_check_at for ticket in tickets],
                    organization.pk,
                ],
            )
    found: dict[int, list[SlaEvent]] = {ticket.pk: [] for ticket in tickets}
    for event in created:
        found[event.ticket_id].append(event)
    return found


def _insert_new(events: list[SlaEvent]) -> list[SlaEvent]:
    """Insert the events in one statement; those whose (ticket, metric, kind, due) is recorded already are left
    out by the unique constraint. Returns the ones inserted, in the given order, with their ids."""
    if not events:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {SlaEvent._meta.db_table}
                    (organization_id, ticket_id, policy_id, metric, kind, due_at, occurred_at, assignee_id)
                SELECT * FROM unnest(
                    %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[],
                    %s::timestamptz[], %s::bigint[])
                ON CONFLICT (ticket_id, metric, kind, due_at) DO NOTHING
                RETURNING id, ticket_id, metric, kind, due_at""",
            [
                [event.organization_id for event in events],
                [event.ticket_id for event in events],
                [event.policy_id for event in events],
                [str(event.metric) for event in events],  # the values, not the enum members
                [str(event.kind) for event in events],
                [event.due_at for event in events],
                [event.occurred_at for event in events],
                [event.assignee_id for event in events],
            ],
        )
        inserted = {(ticket_id, metric, kind, due): pk for pk, ticket_id, metric, kind, due in cursor.fetchall()}
    created = []
    for event in events:
        pk = inserted.get((event.ticket_id, event.metric, event.kind, event.due_at))
        if pk is not None:
            event.pk = pk
            event._state.adding = False
            event._state.db = connection.alias
            created.append(event)
    return created
