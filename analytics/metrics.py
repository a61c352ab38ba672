"""Reporting metrics (selectors). Each metric's exact definition is one `gettext_noop` string below, set as its
function's docstring (`defined`), shown as its tooltip in the dashboards and copied verbatim into docs/metrics.md
(a test keeps them equal).

Common to all: a date range of whole days in the organization's time zone, first and last day included; filters
by channel (connection), platform, team, agent and tag, each a set of ids (empty: no filter); and the channels the
member may see (`visible_connection_ids`; None only for those who see every channel) — nothing outside them is
ever counted. Team and agent are those of the ticket when the event happened; for replies, the replying agent.
A tag filter keeps the tickets that carry one of the tags now. Counts, sums and averages come from the daily
rollups (from the facts themselves under a tag filter: rollups have no tag); medians and percentiles from the facts
(PostgreSQL percentile_cont: the median of an even number of values is the mean of the middle two; the 90th
percentile interpolates linearly between the two values around position 0.9 × (n − 1)).
"""

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Aggregate, Count, Exists, F, FloatField, OuterRef, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncDate
from django.utils.translation import gettext_noop

from accounts.models import Organization
from analytics.models import DailyRollup, FactKind, TicketFact
from channels_integrations.models import ChannelConnection
from tickets.models import Direction, Message, Sentiment, Ticket, TicketEvent, TicketEventKind

# --- definitions (one source: docstrings, tooltips and docs/metrics.md) ------------------------------------------

DEFINITIONS = {
    "created": gettext_noop("Created: tickets created in the range (new conversations and tickets split off others)."),
    "solved": gettext_noop(
        "Solved: times a ticket went from an active status to solved or closed in the range (a ticket reopened and "
        "solved again counts twice)."
    ),
    "backlog": gettext_noop(
        "Backlog: tickets active at the end of the last day = created − solved + reopened − merged into another, "
        "over all days up to the last day."
    ),
    "first_response": gettext_noop(
        "First response time: for each conversation a customer started whose first human reply (an agent's message "
        "to the customer, not a private note nor an automatic message) was sent in the range, the time from the "
        "ticket's creation to that reply. Median and 90th percentile, wall-clock and within the ticket's business "
        "hours (its SLA policy's calendar, else the organization's default calendar, else around the clock)."
    ),
    "resolution": gettext_noop(
        "Resolution time: for each time a ticket was solved (or closed) in the range, the time from the ticket's "
        "creation to that moment (a reopened ticket solved again counts again, from its creation). Median and 90th "
        "percentile, wall-clock and within business hours."
    ),
    "reply": gettext_noop(
        "Average reply time: for each human reply sent in the range that answers the customer, the time from the "
        "oldest customer message it answers (the first one since the previous human reply) to the reply; their "
        "mean, wall-clock and within business hours. Replies with no customer message waiting are not timed."
    ),
    "response_rate": gettext_noop(
        "Response rate: of the conversations customers started in the range (tickets their message created, or "
        "split off such a conversation; not those an agent started), the share that have received a human reply so "
        "far, in percent."
    ),
    "sla": gettext_noop(
        "SLA compliance: of the SLA clocks (first response, next response, resolution) whose outcome was recorded "
        "in the range — met when stopped by its due time, breached when stopped or found after it — the share met, "
        "in percent."
    ),
    "reopen": gettext_noop(
        "Reopen rate: reopens in the range (a solved or closed ticket made active again, by the customer writing or "
        "by an agent) ÷ solves in the range, in percent."
    ),
    "reply_approval": gettext_noop(
        "Reply approval time: for each reply held for approval before sending (送信前承認) whose approval was "
        "given in the range, the time from when it was held to its final approval. Count, median and 90th "
        "percentile, wall-clock. Team and agent are the ticket's current ones."
    ),
    "sentiment": gettext_noop(
        "Sentiment: the customers' messages received in the range whose sentiment was detected, by sentiment "
        "(positive, neutral, negative), as counts and as shares of them in percent. Team and agent are the "
        "ticket's current ones; messages whose sentiment was not detected are not counted."
    ),
}


def defined(*keys):
    """Set the function's docstring to its definitions (the same text the tooltips and the docs show)."""

    def decorate(func):
        func.__doc__ = "\n".join(DEFINITIONS[key] for key in keys)
        func.definition_keys = keys
        return func

    return decorate


# --- filters ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    organization: Organization
    first_day: date
    last_day: date
    connection_ids: frozenset = field(default_factory=frozenset)
    platforms: frozenset = field(default_factory=frozenset)
    team_ids: frozenset = field(default_factory=frozenset)
    agent_ids: frozenset = field(default_factory=frozenset)
    tag_ids: frozenset = field(default_factory=frozenset)
    # The channels the member may see; None: every channel (owners and admins).
    visible_connection_ids: object = None

    def bounds(self) -> tuple[datetime, datetime]:
        """The range as instants: [local midnight of the first day, local midnight after the last day)."""
        tz = self.tz()
        start = datetime.combine(self.first_day, time(0), tzinfo=tz)
        end = datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=tz)
        return start, end

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.organization.timezone)

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]

    def previous(self) -> "Filters":
        """The same filters over the period of the same length just before."""
        length = self.last_day - self.first_day + timedelta(days=1)
        return dataclasses.replace(self, first_day=self.first_day - length, last_day=self.last_day - length)

    def narrowed(self, **changes) -> "Filters":
        return dataclasses.replace(self, **changes)

    def _narrow(self, queryset):
        queryset = queryset.filter(organization=self.organization)
        if self.connection_ids:
            queryset = queryset.filter(connection_id__in=self.connection_ids)
        if self.platforms:
            queryset = queryset.filter(
                connection_id__in=ChannelConnection.objects.filter(platform__in=self.platforms).values("pk")
            )
        if self.team_ids:
            queryset = queryset.filter(team_id__in=self.team_ids)
        if self.agent_ids:
            queryset = queryset.filter(agent_id__in=self.agent_ids)
        if self.visible_connection_ids is not None:
            queryset = queryset.filter(connection_id__in=self.visible_connection_ids)
        return queryset

    def _tagged(self, queryset):
        """Rows whose ticket carries one of the tags (facts have no tag column: rollups cannot answer this)."""
        if not self.tag_ids:
            return queryset
        tagged = Ticket.tags.through.objects.filter(ticket_id=OuterRef("ticket_id"), tag_id__in=self.tag_ids)
        return queryset.filter(Exists(tagged))

    def rollups(self, *, until_only: bool = False):
        """Rollup rows of the range (`until_only`: every day up to the last one). Not for tag filters."""
        queryset = self._narrow(DailyRollup.objects.all()).filter(day__lte=self.last_day)
        return queryset if until_only else queryset.filter(day__gte=self.first_day)

    def facts(self, *, until_only: bool = False):
        start, end = self.bounds()
        queryset = self._tagged(self._narrow(TicketFact.objects.all())).filter(occurred_at__lt=end)
        return queryset if until_only else queryset.filter(occurred_at__gte=start)

    def counts(self, kinds, *, by: str | None = None, until_only: bool = False) -> dict:
        """{kind: {n, measured, duration, business}} — or {(kind, bucket): ...} with `by` one of BREAKDOWNS or
        "day" — from the rollups, or from the facts under a tag filter or a tag breakdown."""
        if self.tag_ids or by == "tag":
            rows = self.facts(until_only=until_only).filter(kind__in=kinds)
            if by:
                rows = rows.annotate(bucket=FACT_BUCKETS[by](self))
            rows = rows.values("kind", *(["bucket"] if by else [])).annotate(
                n=Count("id"),
                measured=Count("duration_seconds"),
                duration=Sum("duration_seconds"),
                business=Sum("business_seconds"),
            )
        else:
            rows = self.rollups(until_only=until_only).filter(kind__in=kinds)
            if by:
                rows = rows.annotate(bucket=F(ROLLUP_BUCKETS[by]))
            rows = rows.values("kind", *(["bucket"] if by else [])).annotate(
                n=Sum("count"), measured=Sum("measured"), duration=Sum("duration_sum"), business=Sum("business_sum")
            )
        if by:
            return {(row["kind"], row["bucket"]): row for row in rows}
        return {row["kind"]: row for row in rows}


# How facts and rollups are grouped for breakdowns and series.
ROLLUP_BUCKETS = {
    "day": "day",
    "connection": "connection_id",
    "platform": "connection__platform",
    "team": "team_id",
    "agent": "agent_id",
}
FACT_BUCKETS = {
    "day": lambda filters: TruncDate("occurred_at", tzinfo=filters.tz()),
    "connection": lambda filters: F("connection_id"),
    "platform": lambda filters: F("platform"),
    "team": lambda filters: F("team_id"),
    "agent": lambda filters: F("agent_id"),
    "tag": lambda filters: F("ticket__tags"),
}
BREAKDOWNS = ("connection", "platform", "team", "agent", "tag")


class PercentileCont(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _n(counts: dict, kind) -> int:
    return (counts.get(kind) or {}).get("n") or 0


VOLUME_KINDS = [FactKind.CREATED, FactKind.RESOLUTION, FactKind.REOPEN, FactKind.MERGED]
BACKLOG_SIGN = {FactKind.CREATED: 1, FactKind.RESOLUTION: -1, FactKind.REOPEN: 1, FactKind.MERGED: -1}


def _volume_sums(filters: Filters) -> dict:
    """One pass over every day up to the last: per kind, the count over all of them ("until"), over the range
    ("current") and over the previous period ("previous")."""
    previous = filters.previous()
    if filters.tag_ids:
        start, _end = filters.bounds()
        previous_start, _previous_end = previous.bounds()
        rows = filters.facts(until_only=True).filter(kind__in=VOLUME_KINDS).values("kind")
        rows = rows.annotate(
            until=Count("id"),
            current=Count("id", filter=Q(occurred_at__gte=start)),
            previous=Count("id", filter=Q(occurred_at__gte=previous_start, occurred_at__lt=start)),
        )
    else:
        rows = filters.rollups(until_only=True).filter(kind__in=VOLUME_KINDS).values("kind")
        rows = rows.annotate(
            until=Sum("count"),
            current=Sum("count", filter=Q(day__gte=filters.first_day)),
            previous=Sum("count", filter=Q(day__gte=previous.first_day, day__lte=previous.last_day)),
        )
    sums = {kind: {"until": 0, "current": 0, "previous": 0} for kind in VOLUME_KINDS}
    for row in rows:
        sums[row["kind"]] = {key: row[key] or 0 for key in ("until", "current", "previous")}
    return sums


def _backlog(sums: dict, column: str) -> int:
    return sum(sign * sums[kind][column] for kind, sign in BACKLOG_SIGN.items())


@defined("created", "solved", "backlog")
def volume(filters: Filters) -> dict:
    return volume_with_previous(filters)[0]


def volume_with_previous(filters: Filters) -> tuple[dict, dict]:
    """`volume` of the range and of the previous period, in one query (the backlog before the range is the
    backlog at its end minus the range's own changes)."""
    sums = _volume_sums(filters)
    before_range = {kind: {"until": sums[kind]["until"] - sums[kind]["current"]} for kind in VOLUME_KINDS}
    current = {
        "created": sums[FactKind.CREATED]["current"],
        "solved": sums[FactKind.RESOLUTION]["current"],
        "backlog": _backlog(sums, "until"),
    }
    previous = {
        "created": sums[FactKind.CREATED]["previous"],
        "solved": sums[FactKind.RESOLUTION]["previous"],
        "backlog": _backlog(before_range, "until"),
    }
    return current, previous


PERCENTILES = {
    "count": Count("id"),
    "median": PercentileCont("duration_seconds", 0.5),
    "p90": PercentileCont("duration_seconds", 0.9),
    "business_median": PercentileCont("business_seconds", 0.5),
    "business_p90": PercentileCont("business_seconds", 0.9),
}


def _percentiles(queryset) -> dict:
    return queryset.aggregate(**PERCENTILES)


@defined("first_response")
def first_response_time(filters: Filters) -> dict:
    return _percentiles(filters.facts().filter(kind=FactKind.FIRST_RESPONSE))


@defined("resolution")
def resolution_time(filters: Filters) -> dict:
    return _percentiles(filters.facts().filter(kind=FactKind.RESOLUTION))


def _average(row) -> dict:
    if not row or not row["measured"]:
        return {"count": 0, "average": None, "business_average": None}
    return {
        "count": row["measured"],
        "average": row["duration"] / row["measured"],
        "business_average": row["business"] / row["measured"],
    }


@defined("reply")
def average_reply_time(filters: Filters) -> dict:
    return _average(filters.counts([FactKind.REPLY]).get(FactKind.REPLY))


def answered():
    """Whether the fact's ticket has had a first human reply (the response rate's numerator)."""
    return Exists(TicketFact.objects.filter(ticket_id=OuterRef("ticket_id"), kind=FactKind.FIRST_RESPONSE))


@defined("response_rate")
def response_rate(filters: Filters) -> dict:
    started = filters.facts().filter(kind=FactKind.CREATED, inbound=True)
    result = started.aggregate(total=Count("id"), answered=Count("id", filter=Q(answered())))
    rate = 100 * result["answered"] / result["total"] if result["total"] else None
    return {**result, "rate": rate}


def _rate(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


@defined("sla")
def sla_compliance(filters: Filters) -> dict:
    counts = filters.counts([FactKind.SLA_MET, FactKind.SLA_BREACH])
    met, breached = _n(counts, FactKind.SLA_MET), _n(counts, FactKind.SLA_BREACH)
    return {"met": met, "breached": breached, "rate": _rate(met, met + breached)}


@defined("reopen")
def reopen_rate(filters: Filters) -> dict:
    counts = filters.counts([FactKind.REOPEN, FactKind.RESOLUTION])
    reopens, solved = _n(counts, FactKind.REOPEN), _n(counts, FactKind.RESOLUTION)
    return {"reopens": reopens, "solved": solved, "rate": _rate(reopens, solved)}


# --- series and breakdowns ---------------------------------------------------------------------------------------


def daily_counts(filters: Filters, kinds) -> dict[str, list[int]]:
    """Per day of the range (in order, every day present), the count of each kind: {kind: [n, ...]}."""
    rows = filters.counts(kinds, by="day")
    days = filters.days()
    return {kind: [(rows.get((kind, day)) or {}).get("n") or 0 for day in days] for kind in kinds}


def daily_backlog(filters: Filters, *, before: int | None = None, per_day: dict | None = None) -> list[int]:
    """The backlog (see `volume`) at the end of each day of the range. What the caller already has saves queries:
    `before`, the backlog at the end of the previous period (`volume_with_previous`); `per_day`, the
    `daily_counts` of VOLUME_KINDS."""
    if before is None:
        before = volume(filters.previous())["backlog"]
    level = before
    per_day = per_day or daily_counts(filters, VOLUME_KINDS)
    result = []
    for index in range(len(filters.days())):
        level += sum(sign * per_day[kind][index] for kind, sign in BACKLOG_SIGN.items())
        result.append(level)
    return result


def daily_percentiles(filters: Filters, kind: str) -> list[dict]:
    """Per day of the range, the median and 90th percentile (wall-clock and business) of the kind's durations
    (None on a day without any)."""
    rows = (
        filters.facts()
        .filter(kind=kind)
        .annotate(day=TruncDate("occurred_at", tzinfo=filters.tz()))
        .values("day")
        .annotate(**PERCENTILES)
    )
    by_day = {row["day"]: row for row in rows}
    empty = {"count": 0, "median": None, "p90": None, "business_median": None, "business_p90": None}
    return [by_day.get(day, empty) for day in filters.days()]


def daily_rates(filters: Filters, part_kind: str, other_kind: str) -> list[float | None]:
    """Per day, part ÷ (part + other) in percent (SLA compliance per day: met ÷ (met + breached))."""
    counts = daily_counts(filters, [part_kind, other_kind])
    return [_rate(part, part + other) for part, other in zip(counts[part_kind], counts[other_kind], strict=True)]


def breakdown(filters: Filters, by: str) -> dict:
    """Per bucket of `by` (connection, platform, team, agent or tag id; None: no team / no agent), the volume
    counts, SLA outcomes, reopens and reply sums: {bucket: {"created", "solved", "reopens", "sla_met",
    "sla_breached", "reply": {count, average, business_average}}}. Under a tag breakdown a ticket with two tags is
    counted under each."""
    kinds = [
        FactKind.CREATED,
        FactKind.RESOLUTION,
        FactKind.REOPEN,
        FactKind.SLA_MET,
        FactKind.SLA_BREACH,
        FactKind.REPLY,
    ]
    rows = filters.counts(kinds, by=by)
    result = defaultdict(
        lambda: {"created": 0, "solved": 0, "reopens": 0, "sla_met": 0, "sla_breached": 0, "reply": _average(None)}
    )
    names = {
        FactKind.CREATED: "created",
        FactKind.RESOLUTION: "solved",
        FactKind.REOPEN: "reopens",
        FactKind.SLA_MET: "sla_met",
        FactKind.SLA_BREACH: "sla_breached",
    }
    for (kind, bucket), row in rows.items():
        if by == "tag" and bucket is None:
            continue  # untagged tickets are in no tag's bucket
        if kind == FactKind.REPLY:
            result[bucket]["reply"] = _average(row)
        else:
            result[bucket][names[kind]] = row["n"] or 0
    return dict(result)


def breakdown_percentiles(filters: Filters, by: str, kind: str) -> dict:
    """Per bucket of `by`, the median and 90th percentile of the kind's durations (facts)."""
    rows = (
        filters.facts()
        .filter(kind=kind)
        .annotate(bucket=FACT_BUCKETS[by](filters))
        .values("bucket")
        .annotate(**PERCENTILES)
    )
    return {row["bucket"]: row for row in rows if not (by == "tag" and row["bucket"] is None)}


# --- sentiment ---------------------------------------------------------------------------------------------------

SENTIMENTS = [Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE]


def customer_messages(filters: Filters):
    """Customers' messages received in the range under the filters (team and agent: the ticket's current ones)."""
    start, end = filters.bounds()
    queryset = Message.objects.filter(
        organization=filters.organization, direction=Direction.INBOUND, created_at__gte=start, created_at__lt=end
    )
    if filters.connection_ids:
        queryset = queryset.filter(connection_id__in=filters.connection_ids)
    if filters.platforms:
        queryset = queryset.filter(connection__platform__in=filters.platforms)
    if filters.team_ids:
        queryset = queryset.filter(ticket__team_id__in=filters.team_ids)
    if filters.agent_ids:
        queryset = queryset.filter(ticket__assignee_id__in=filters.agent_ids)
    if filters.visible_connection_ids is not None:
        queryset = queryset.filter(connection_id__in=filters.visible_connection_ids)
    return filters._tagged(queryset)


@defined("sentiment")
def sentiment_mix(filters: Filters) -> dict:
    rows = (
        customer_messages(filters)
        .filter(sentiment__in=SENTIMENTS)
        .values("sentiment")
        .annotate(n=Count("id"))
        .values_list("sentiment", "n")
    )
    counts = {key.value: 0 for key in SENTIMENTS} | dict(rows)
    total = sum(counts.values())
    return {
        "total": total,
        "counts": counts,
        "shares": {key: _rate(n, total) for key, n in counts.items()},
    }


def sentiment_trend(filters: Filters) -> dict[str, list[int]]:
    """Per day of the range, the count of customers' messages of each sentiment: {sentiment: [n, ...]}."""
    rows = (
        customer_messages(filters)
        .filter(sentiment__in=SENTIMENTS)
        .annotate(day=TruncDate("created_at", tzinfo=filters.tz()))
        .values("day", "sentiment")
        .annotate(n=Count("id"))
    )
    by_key = {(row["sentiment"], row["day"]): row["n"] for row in rows}
    return {key.value: [by_key.get((key.value, day), 0) for day in filters.days()] for key in SENTIMENTS}


@defined("reply_approval")
def reply_approval_time(filters: Filters) -> dict:
    # Read from the ticket's history (the approvals app writes `seconds` on REPLY_APPROVED): analytics never imports
    # approvals. Few rows (held replies only), so no rollup.
    start, end = filters.bounds()
    events = TicketEvent.objects.filter(
        organization=filters.organization,
        kind=TicketEventKind.REPLY_APPROVED,
        created_at__gte=start,
        created_at__lt=end,
    )
    if filters.visible_connection_ids is not None:
        events = events.filter(ticket__connection_id__in=filters.visible_connection_ids)
    if filters.connection_ids:
        events = events.filter(ticket__connection_id__in=filters.connection_ids)
    if filters.platforms:
        events = events.filter(ticket__connection__platform__in=filters.platforms)
    if filters.team_ids:
        events = events.filter(ticket__team_id__in=filters.team_ids)
    if filters.agent_ids:
        events = events.filter(ticket__assignee_id__in=filters.agent_ids)
    if filters.tag_ids:
        events = events.filter(
            Exists(Ticket.tags.through.objects.filter(ticket_id=OuterRef("ticket_id"), tag_id__in=filters.tag_ids))
        )
    seconds = Cast(KeyTextTransform("seconds", "new"), FloatField())
    return events.aggregate(count=Count("id"), median=PercentileCont(seconds, 0.5), p90=PercentileCont(seconds, 0.9))
