"""Deriving reporting facts from the ticket history, and keeping the daily rollups in step.

The consumer (`consume`, run by beat on the `analytics` queue) reads each source table — TicketEvent, Message,
SlaEvent, SurveyAnswer — past a stored high-water mark, turns new rows into TicketFacts, and adds exactly the facts it
inserted to the rollups, in one transaction with the mark's advance. It never touches the ingest path: nothing is hooked
into the services that write the history, so ingest pays nothing for reporting.

Idempotent: a fact is unique per (source, source id, kind), inserted with ON CONFLICT DO NOTHING, and only the
rows actually inserted reach the rollups — reading a row twice adds nothing.

Commit order: ids are handed out at insert, but a transaction may commit after one that took a higher id. So a run
reads only up to the highest id the *previous* run saw (`horizon_id`): a row gets at least one beat interval to
commit before its id range is consumed. A transaction open longer than that (none on the ingest path) would be
skipped; `manage.py analytics_rebuild` recomputes everything exactly from the history.
"""

import bisect
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.db import connection as db
from django.db import transaction
from django.db.models import Max, Q
from django_scopes import scope, scopes_disabled

from accounts.models import Organization
from analytics.models import ConsumerCursor, DailyRollup, FactKind, FactSource, TicketFact
from automation.models import SlaEvent, SlaEventKind, SlaPolicy
from automation.sla.calendar import ALWAYS_OPEN, _spans_from, default_calendar_spec, spec_for
from channels_integrations.models import ChannelConnection
from tickets.models import (
    DONE_STATUSES,
    Direction,
    Message,
    MessageKind,
    SurveyAnswer,
    Ticket,
    TicketEvent,
    TicketEventKind,
)

BATCH = 2000
# Tickets whose whole history a rebuild derives at a time (their context is loaded once for every source).
REBUILD_TICKETS = 1000
CHANGE_KINDS = [TicketEventKind.ASSIGNMENT, TicketEventKind.TEAM]

# Messages that are a human agent's reply to the customer: outbound, written by a member, not by automation, not
# a private note.
AGENT_REPLY = Q(direction=Direction.OUTBOUND, author_user__isnull=False, automated=False) & ~Q(kind=MessageKind.NOTE)

SOURCE_MODELS = {
    FactSource.TICKET_EVENT: TicketEvent,
    FactSource.MESSAGE: Message,
    FactSource.SLA_EVENT: SlaEvent,
    FactSource.SURVEY_ANSWER: SurveyAnswer,
}
# Only these rows can yield a fact (the rest are skipped by the query, not read).
SOURCE_FILTERS = {
    FactSource.TICKET_EVENT: Q(
        kind__in=[
            TicketEventKind.CREATED,
            TicketEventKind.STATUS,
            TicketEventKind.REOPENED,
            TicketEventKind.ASSIGNMENT,
            TicketEventKind.MERGE,
            TicketEventKind.SPLIT,
        ]
    ),
    FactSource.MESSAGE: AGENT_REPLY,
    FactSource.SLA_EVENT: Q(kind__in=[SlaEventKind.MET, SlaEventKind.BREACHED]),
    FactSource.SURVEY_ANSWER: Q(),
}


# The columns deriving facts reads from each source's rows (the wide ones, such as a message's text, are not read).
SOURCE_FIELDS = {
    FactSource.TICKET_EVENT: ["id", "organization_id", "ticket_id", "actor_id", "kind", "old", "new", "created_at"],
    FactSource.MESSAGE: ["id", "organization_id", "ticket_id", "author_user_id", "created_at"],
    FactSource.SLA_EVENT: ["id", "organization_id", "ticket_id", "kind", "occurred_at", "assignee_id"],
}


def _source_rows(source: str, *, limit: int | None = None, **filters) -> list:
    """The source's rows that can yield facts, in id order: plain records of the fields deriving reads (building a
    model instance per row cost more than deriving its facts), or model instances for a source not listed."""
    queryset = SOURCE_MODELS[source].objects.filter(SOURCE_FILTERS[source], **filters).order_by("pk")[:limit]
    if source not in SOURCE_FIELDS:
        return list(queryset)
    return [SimpleNamespace(pk=row["id"], **row) for row in queryset.values(*SOURCE_FIELDS[source])]


def _seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


class _OpenTime:
    """The open time of one business calendar over a range, listed once: the open spans with the open time before
    each, so that the business time between two instants is a difference of two sums found by bisection, rather
    than a walk through the calendar day by day for every fact. Exact: the same spans business_time_between
    adds up."""

    def __init__(self, spec):
        self.spec = spec
        self.low = self.high = None
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.before: list[timedelta] = []  # open time from `low` to the start of each span

    def _cover(self, start: datetime, end: datetime) -> None:
        if self.low is not None and self.low <= start and end <= self.high:
            return
        # Widened by a few days either way: the next facts of the batch are usually close by.
        low = min(start, self.low or start) - timedelta(days=3)
        high = max(end, self.high or end) + timedelta(days=3)
        self.starts, self.ends, self.before = [], [], []
        total = timedelta(0)
        for a, b in _spans_from(self.spec, low, until=high):
            if a >= high:
                break
            self.starts.append(a)
            self.ends.append(b)
            self.before.append(total)
            total += b - a
        self.low, self.high = low, high

    def _until(self, at: datetime) -> timedelta:
        """Open time in [low, at)."""
        index = bisect.bisect_right(self.starts, at) - 1
        if index < 0:
            return timedelta(0)
        return self.before[index] + min(at, self.ends[index]) - self.starts[index]

    def between(self, start: datetime, end: datetime) -> timedelta:
        """business_time_between(start, end, spec)."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)  # as business_time_between: DST-safe arithmetic
        if end <= start:
            return timedelta(0)
        if self.spec.around_the_clock:
            return end - start
        self._cover(start, end)
        return self._until(end) - self._until(start)


class _TicketContext:
    """What deriving facts of one organization's tickets needs, loaded once per ticket per batch: the ticket, its
    business calendar, its team and assignee history, and its messages."""

    def __init__(self, organization: Organization):
        self.organization = organization
        self.tickets: dict[int, Ticket] = {}
        self.platforms: dict[int, str] = {}
        self._policies: dict[int, SlaPolicy] = {}
        self._default_spec = None
        self._clocks: dict[int, _OpenTime] = {}
        self._changes: dict[int, dict[str, list]] = {}
        self._messages: dict[int, list] = {}

    def load(self, ticket_ids) -> None:
        missing = set(ticket_ids) - self.tickets.keys()
        if not missing:
            return
        # Only what deriving reads: a ticket row is wide (search vector, subject).
        for ticket in Ticket.objects.filter(pk__in=missing).only(
            "id", "organization_id", "connection_id", "sla_policy_id", "assignee_id", "team_id", "created_at"
        ):
            self.tickets[ticket.pk] = ticket
        loaded = [self.tickets[pk] for pk in missing if pk in self.tickets]
        connections = {ticket.connection_id for ticket in loaded} - self.platforms.keys()
        if connections:
            self.platforms.update(ChannelConnection.objects.filter(pk__in=connections).values_list("pk", "platform"))
        policies = {ticket.sla_policy_id for ticket in loaded if ticket.sla_policy_id} - self._policies.keys()
        if policies:
            for policy in SlaPolicy.objects.filter(pk__in=policies).select_related("calendar"):
                self._policies[policy.pk] = policy
        changes = {pk: {"assignment": [], "team": []} for pk in missing}
        for event in (
            TicketEvent.objects.filter(ticket_id__in=missing, kind__in=CHANGE_KINDS)
            .order_by("created_at", "id")
            .values("ticket_id", "kind", "created_at", "id", "old")
        ):
            changes[event["ticket_id"]][event["kind"]].append(((event["created_at"], event["id"]), event["old"]))
        self._changes.update(changes)
        messages = defaultdict(list)
        for row in (
            Message.objects.filter(ticket_id__in=missing)
            .exclude(kind=MessageKind.NOTE)
            .order_by("created_at", "id")
            .values("ticket_id", "id", "created_at", "direction", "author_user_id", "automated")
        ):
            messages[row["ticket_id"]].append(row)
        for pk in missing:
            self._messages[pk] = messages.get(pk, [])

    def clock(self, ticket: Ticket) -> _OpenTime:
        """The ticket's business hours: its SLA policy's calendar, else the organization's default calendar, else
        around the clock. Looked up once per calendar and batch (not per fact: each lookup costs a query)."""
        policy = self._policies.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
        if policy is not None and policy.calendar_id is not None:
            key = policy.calendar_id
            if key not in self._clocks:
                self._clocks[key] = _OpenTime(spec_for(policy.calendar, self.organization))
        else:
            key = 0
            if key not in self._clocks:
                self._clocks[key] = _OpenTime(default_calendar_spec(self.organization) or ALWAYS_OPEN)
        return self._clocks[key]

    def at(self, ticket: Ticket, kind: str, key: tuple) -> int | None:
        """The ticket's assignee or team id at `key` = (time, event id): the `old` value of the first change after
        it, else the current value."""
        changes = self._changes[ticket.pk][kind]
        index = bisect.bisect_right([change_key for change_key, _old in changes], key)
        if index < len(changes):
            return changes[index][1]
        return ticket.assignee_id if kind == "assignment" else ticket.team_id

    def messages(self, ticket: Ticket) -> list:
        return self._messages[ticket.pk]


def _fact(ctx: _TicketContext, ticket: Ticket, kind: str, at: datetime, source: str, source_id: int, **fields):
    key = (at, source_id if source == FactSource.TICKET_EVENT else float("inf"))
    fact = {
        "organization_id": ticket.organization_id,
        "ticket_id": ticket.pk,
        "connection_id": ticket.connection_id,
        "platform": ctx.platforms[ticket.connection_id],
        "team_id": ctx.at(ticket, "team", key),
        "agent_id": ctx.at(ticket, "assignment", key),
        "kind": kind,
        "occurred_at": at,
        "duration_seconds": None,
        "business_seconds": None,
        "inbound": False,
        "score": None,
        "source": source,
        "source_id": source_id,
    }
    start = fields.pop("start", None)
    if start is not None:
        fact["duration_seconds"] = _seconds(start, at)
        fact["business_seconds"] = int(ctx.clock(ticket).between(start, at).total_seconds())
    fact.update(fields)
    return fact


def _event_facts(ctx: _TicketContext, event: TicketEvent) -> list[dict]:
    ticket = ctx.tickets.get(event.ticket_id)
    if ticket is None:
        return []
    at = event.created_at
    source = (FactSource.TICKET_EVENT, event.pk)
    if event.kind in (TicketEventKind.CREATED, TicketEventKind.SPLIT):
        if event.kind == TicketEventKind.SPLIT and not (isinstance(event.old, dict) and "from" in event.old):
            return []  # the split's other side: the ticket that was split already exists
        # A customer's conversation: created by their message (ingest records no actor), or split off one. An
        # agent starting a conversation is its actor. Decided from the event alone, so a rebuild agrees.
        inbound = event.kind == TicketEventKind.SPLIT or event.actor_id is None
        return [_fact(ctx, ticket, FactKind.CREATED, at, *source, inbound=inbound)]
    if event.kind == TicketEventKind.STATUS:
        old_done, new_done = event.old in DONE_STATUSES, event.new in DONE_STATUSES
        if new_done and not old_done:
            return [_fact(ctx, ticket, FactKind.RESOLUTION, at, *source, start=ticket.created_at)]
        if old_done and not new_done:
            return [_fact(ctx, ticket, FactKind.REOPEN, at, *source)]
        return []
    if event.kind == TicketEventKind.REOPENED:
        return [_fact(ctx, ticket, FactKind.REOPEN, at, *source)]
    if event.kind == TicketEventKind.ASSIGNMENT and event.new is not None:
        return [_fact(ctx, ticket, FactKind.ASSIGNMENT, at, *source, agent_id=event.new)]
    if event.kind == TicketEventKind.MERGE and isinstance(event.new, dict) and "into" in event.new:
        return [_fact(ctx, ticket, FactKind.MERGED, at, *source)]
    return []


def _message_facts(ctx: _TicketContext, message: Message) -> list[dict]:
    """A human reply: a `reply` fact, timed from the oldest customer message it answers (none: no duration), and,
    when it is the first human reply to a customer who wrote first, a `first_response` fact timed from the ticket's
    creation (an agent's opening message of a conversation they started responds to nobody)."""
    ticket = ctx.tickets.get(message.ticket_id)
    if ticket is None:
        return []
    earlier_reply = customer_wrote = False
    waiting_since = None
    for row in ctx.messages(ticket):
        if row["id"] == message.pk:
            break
        if row["direction"] == Direction.INBOUND:
            waiting_since = waiting_since or row["created_at"]
            customer_wrote = True
        elif row["author_user_id"] is not None and not row["automated"]:
            earlier_reply = True
            waiting_since = None
    at = message.created_at
    source = (FactSource.MESSAGE, message.pk)
    agent = {"agent_id": message.author_user_id}
    facts = [_fact(ctx, ticket, FactKind.REPLY, at, *source, start=waiting_since, **agent)]
    if customer_wrote and not earlier_reply:
        facts.append(_fact(ctx, ticket, FactKind.FIRST_RESPONSE, at, *source, start=ticket.created_at, **agent))
    return facts


def _sla_facts(ctx: _TicketContext, event: SlaEvent) -> list[dict]:
    ticket = ctx.tickets.get(event.ticket_id)
    if ticket is None:
        return []
    kind = FactKind.SLA_MET if event.kind == SlaEventKind.MET else FactKind.SLA_BREACH
    return [_fact(ctx, ticket, kind, event.occurred_at, FactSource.SLA_EVENT, event.pk, agent_id=event.assignee_id)]


def _answer_facts(ctx: _TicketContext, answer: SurveyAnswer) -> list[dict]:
    """A survey answer: a `csat` fact at the answer's time with its rating, for the agent who solved the ticket."""
    ticket = ctx.tickets.get(answer.ticket_id)
    if ticket is None:
        return []
    return [
        _fact(
            ctx,
            ticket,
            FactKind.CSAT,
            answer.created_at,
            FactSource.SURVEY_ANSWER,
            answer.pk,
            agent_id=answer.agent_id,
            score=answer.rating,
        )
    ]


DERIVE = {
    FactSource.TICKET_EVENT: _event_facts,
    FactSource.MESSAGE: _message_facts,
    FactSource.SLA_EVENT: _sla_facts,
    FactSource.SURVEY_ANSWER: _answer_facts,
}


def derive_facts(organization: Organization, source: str, rows) -> list[dict]:
    """The facts of some rows of one source table, all of one organization (inside its scope)."""
    ctx = _TicketContext(organization)
    ctx.load({row.ticket_id for row in rows})
    facts = []
    for row in rows:
        facts.extend(DERIVE[source](ctx, row))
    return facts


# --- writing ------------------------------------------------------------------------------------------------------

FACT_COLUMNS = [
    "organization_id",
    "ticket_id",
    "connection_id",
    "platform",
    "team_id",
    "agent_id",
    "kind",
    "occurred_at",
    "duration_seconds",
    "business_seconds",
    "inbound",
    "score",
    "source",
    "source_id",
]


def facts_insert(facts: list[dict]) -> list[int]:
    """Insert facts that do not exist yet; the ids of those inserted (a fact already there is left as it is)."""
    inserted = []
    table = TicketFact._meta.db_table
    # One array per column (unnest): a statement of a few parameters, however many rows, where a VALUES list of
    # thousands of placeholders cost more to build and parse than to insert.
    arrays = ", ".join(f"%s::{TicketFact._meta.get_field(column).db_type(db)}[]" for column in FACT_COLUMNS)
    with db.cursor() as cursor:
        for start in range(0, len(facts), 5000):
            chunk = facts[start : start + 5000]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(FACT_COLUMNS)}) SELECT * FROM unnest({arrays}) "
                "ON CONFLICT (source, source_id, kind) DO NOTHING RETURNING id",
                [[fact[column] for fact in chunk] for column in FACT_COLUMNS],
            )
            inserted.extend(fact_id for (fact_id,) in cursor.fetchall())
    return inserted


def _rollup_add(where: str, params) -> None:
    """Add the facts matching `where` to the rollups (UPSERT: counts and sums added to an existing row). The day is
    the fact's date in its organization's time zone. The conflict is found by the key's columns: the key is a
    unique index (it carries the sums as INCLUDE columns), not a constraint one could name."""
    fact_table = TicketFact._meta.db_table
    rollup_table = DailyRollup._meta.db_table
    organization_table = Organization._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {rollup_table} (organization_id, day, connection_id, team_id, agent_id, kind,
                                        count, measured, duration_sum, business_sum, score_sum, score_high)
            SELECT f.organization_id, (f.occurred_at AT TIME ZONE o.timezone)::date, f.connection_id, f.team_id,
                   f.agent_id, f.kind, count(*), count(f.duration_seconds), coalesce(sum(f.duration_seconds), 0),
                   coalesce(sum(f.business_seconds), 0), coalesce(sum(f.score), 0), count(*) FILTER (WHERE f.score >= 4)
            FROM {fact_table} f JOIN {organization_table} o ON o.id = f.organization_id
            WHERE {where}
            GROUP BY 1, 2, 3, 4, 5, 6
            ON CONFLICT (organization_id, kind, day, connection_id, team_id, agent_id) DO UPDATE SET
                count = {rollup_table}.count + EXCLUDED.count,
                measured = {rollup_table}.measured + EXCLUDED.measured,
                duration_sum = {rollup_table}.duration_sum + EXCLUDED.duration_sum,
                business_sum = {rollup_table}.business_sum + EXCLUDED.business_sum,
                score_sum = {rollup_table}.score_sum + EXCLUDED.score_sum,
                score_high = {rollup_table}.score_high + EXCLUDED.score_high
            """,
            params,
        )


def rollups_add_facts(fact_ids: list[int]) -> None:
    if fact_ids:
        _rollup_add("f.id = ANY(%s)", [fact_ids])


def rollups_rebuild(organization: Organization) -> None:
    """Recompute the organization's rollups from all its facts."""
    DailyRollup.objects.filter(organization=organization).delete()
    _rollup_add("f.organization_id = %s", [organization.pk])


def _derive_and_store(source: str, rows) -> int:
    """Facts of rows (any organizations) inserted and added to the rollups; how many were new."""
    by_organization = defaultdict(list)
    for row in rows:
        by_organization[row.organization_id].append(row)
    facts = []
    for organization in Organization.objects.filter(pk__in=by_organization):
        with scope(organization=organization):
            facts.extend(derive_facts(organization, source, by_organization[organization.pk]))
    fact_ids = facts_insert(facts)
    rollups_add_facts(fact_ids)
    return len(fact_ids)


# --- the consumer -------------------------------------------------------------------------------------------------


def _cursors() -> dict[str, ConsumerCursor]:
    """Every source's cursor, locked (one consumer or rebuild at a time)."""
    for source in FactSource.values:
        ConsumerCursor.objects.get_or_create(source=source)
    return {cursor.source: cursor for cursor in ConsumerCursor.objects.select_for_update().order_by("source")}


def consume(*, max_batches: int = 50, batch: int = BATCH) -> int:
    """Turn history rows that committed since the last run into facts and rollups. Returns how many facts were
    added. Each batch is one transaction: facts, rollups and the cursor advance commit together."""
    added = 0
    with scopes_disabled():
        for source, model in SOURCE_MODELS.items():
            for _batch in range(max_batches):
                with transaction.atomic():
                    cursor = _cursors()[source]
                    rows = _source_rows(source, limit=batch, pk__gt=cursor.last_id, pk__lte=cursor.horizon_id)
                    if not rows:
                        # Caught up to the horizon: the next run may read up to what exists now.
                        cursor.last_id = cursor.horizon_id
                        cursor.horizon_id = model.objects.aggregate(top=Max("pk"))["top"] or cursor.last_id
                        cursor.save(update_fields=["last_id", "horizon_id", "updated_at"])
                        break
                    added += _derive_and_store(source, rows)
                    cursor.last_id = rows[-1].pk
                    cursor.save(update_fields=["last_id", "updated_at"])
    return added


def _ticket_batches(organization: Organization):
    """The organization's ticket ids, REBUILD_TICKETS at a time, streamed (a server-side cursor: not all in memory)."""
    batch = []
    for pk in Ticket.objects.filter(organization=organization).values_list("pk", flat=True).iterator(REBUILD_TICKETS):
        batch.append(pk)
        if len(batch) == REBUILD_TICKETS:
            yield batch
            batch = []
    if batch:
        yield batch


def rebuild(organization: Organization) -> int:
    """Recompute the organization's facts and rollups from its whole history (the consumer waits meanwhile).
    Returns the number of facts. Works through the tickets a batch at a time: each batch's context (tickets,
    calendars, assignment history, messages) is loaded once for all its sources, and its facts are inserted before
    the next batch is read."""
    with transaction.atomic(), scopes_disabled():
        _cursors()
        TicketFact.objects.filter(organization=organization).delete()
        with scope(organization=organization):
            for ticket_ids in _ticket_batches(organization):
                ctx = _TicketContext(organization)
                ctx.load(ticket_ids)
                facts = []
                for source in SOURCE_MODELS:
                    for row in _source_rows(source, organization=organization, ticket_id__in=ticket_ids):
                        facts.extend(DERIVE[source](ctx, row))
                facts_insert(facts)
        rollups_rebuild(organization)
        return TicketFact.objects.filter(organization=organization).count()
