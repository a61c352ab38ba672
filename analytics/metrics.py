"""Reporting metrics (selectors). Each docstring is the metric's exact definition, shown later as its tooltip.

Common to all: a date range of whole days in the organization's time zone, first and last day included; filters
by channel (connection), platform, team and agent, each a set of ids (empty: no filter); and the channels the
member may see (`visible_connection_ids`; None only for those who see every channel) — nothing outside them is
ever counted. Team and agent are those of the ticket when the event happened; for replies, the replying agent.
Counts, sums and averages come from the daily rollups; medians and percentiles from the facts themselves
(PostgreSQL percentile_cont: the median of an even number of values is the mean of the middle two; the 90th
percentile interpolates linearly between the two values around position 0.9 × (n − 1)).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Aggregate, Count, Exists, FloatField, OuterRef, Q, Sum

from accounts.models import Organization
from analytics.models import DailyRollup, FactKind, TicketFact
from channels_integrations.models import ChannelConnection


@dataclass(frozen=True)
class Filters:
    organization: Organization
    first_day: date
    last_day: date
    connection_ids: frozenset = field(default_factory=frozenset)
    platforms: frozenset = field(default_factory=frozenset)
    team_ids: frozenset = field(default_factory=frozenset)
    agent_ids: frozenset = field(default_factory=frozenset)
    # The channels the member may see; None: every channel (owners and admins).
    visible_connection_ids: object = None

    def bounds(self) -> tuple[datetime, datetime]:
        """The range as instants: [local midnight of the first day, local midnight after the last day)."""
        tz = ZoneInfo(self.organization.timezone)
        start = datetime.combine(self.first_day, time(0), tzinfo=tz)
        end = datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=tz)
        return start, end

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

    def rollups(self, *, until_only: bool = False):
        """Rollup rows of the range (`until_only`: every day up to the last one)."""
        queryset = self._narrow(DailyRollup.objects.all()).filter(day__lte=self.last_day)
        return queryset if until_only else queryset.filter(day__gte=self.first_day)

    def facts(self):
        start, end = self.bounds()
        return self._narrow(TicketFact.objects.all()).filter(occurred_at__gte=start, occurred_at__lt=end)


class PercentileCont(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _counts(queryset) -> dict[str, dict]:
    totals = queryset.values("kind").annotate(
        n=Sum("count"), measured=Sum("measured"), duration=Sum("duration_sum"), business=Sum("business_sum")
    )
    return {row["kind"]: row for row in totals}


def _n(counts: dict, kind: str) -> int:
    return (counts.get(kind) or {}).get("n") or 0


def volume(filters: Filters) -> dict:
    """Created: tickets created in the range (new conversations and tickets split off others).
    Solved: times a ticket went from an active status to solved or closed in the range (a ticket reopened and solved
    again counts twice).
    Backlog: tickets active at the end of the last day = created − solved + reopened − merged into another, over
    all days up to the last day."""
    in_range = _counts(filters.rollups())
    until = _counts(filters.rollups(until_only=True))
    return {
        "created": _n(in_range, FactKind.CREATED),
        "solved": _n(in_range, FactKind.RESOLUTION),
        "backlog": _n(until, FactKind.CREATED)
        - _n(until, FactKind.RESOLUTION)
        + _n(until, FactKind.REOPEN)
        - _n(until, FactKind.MERGED),
    }


def _percentiles(queryset) -> dict:
    result = queryset.aggregate(
        count=Count("id"),
        median=PercentileCont("duration_seconds", 0.5),
        p90=PercentileCont("duration_seconds", 0.9),
        business_median=PercentileCont("business_seconds", 0.5),
        business_p90=PercentileCont("business_seconds", 0.9),
    )
    return result


def first_response_time(filters: Filters) -> dict:
    """First response time: for each conversation a customer started whose first human reply (an agent's message
    to the customer, not a private note nor an automatic message) was sent in the range, the time from the ticket's
    creation to that reply. Median and 90th percentile in seconds, wall-clock and within the ticket's business
    hours (its SLA policy's calendar, else the organization's default calendar, else around the clock)."""
    return _percentiles(filters.facts().filter(kind=FactKind.FIRST_RESPONSE))


def resolution_time(filters: Filters) -> dict:
    """Resolution time: for each time a ticket was solved (or closed) in the range, the time from the ticket's
    creation to that moment (a reopened ticket solved again counts again, from its creation). Median and 90th
    percentile in seconds, wall-clock and within business hours."""
    return _percentiles(filters.facts().filter(kind=FactKind.RESOLUTION))


def average_reply_time(filters: Filters) -> dict:
    """Average reply time: for each human reply sent in the range that answers the customer, the time from the
    oldest customer message it answers (the first one since the previous human reply) to the reply; their mean in
    seconds, wall-clock and within business hours. Replies with no customer message waiting are not timed."""
    row = _counts(filters.rollups().filter(kind=FactKind.REPLY)).get(FactKind.REPLY)
    if not row or not row["measured"]:
        return {"count": 0, "average": None, "business_average": None}
    return {
        "count": row["measured"],
        "average": row["duration"] / row["measured"],
        "business_average": row["business"] / row["measured"],
    }


def response_rate(filters: Filters) -> dict:
    """Response rate: of the conversations customers started in the range (tickets their message created, or
    split off such a conversation; not those an agent started), the share that have received a human reply so
    far, in percent."""
    started = filters.facts().filter(kind=FactKind.CREATED, inbound=True)
    answered = TicketFact.objects.filter(ticket_id=OuterRef("ticket_id"), kind=FactKind.FIRST_RESPONSE)
    result = started.aggregate(total=Count("id"), answered=Count("id", filter=Q(Exists(answered))))
    rate = 100 * result["answered"] / result["total"] if result["total"] else None
    return {**result, "rate": rate}


def sla_compliance(filters: Filters) -> dict:
    """SLA compliance: of the SLA clocks (first response, next response, resolution) whose outcome was recorded in
    the range — met when stopped by its due time, breached when stopped or found after it — the share met, in
    percent."""
    counts = _counts(filters.rollups().filter(kind__in=[FactKind.SLA_MET, FactKind.SLA_BREACH]))
    met, breached = _n(counts, FactKind.SLA_MET), _n(counts, FactKind.SLA_BREACH)
    rate = 100 * met / (met + breached) if met + breached else None
    return {"met": met, "breached": breached, "rate": rate}


def reopen_rate(filters: Filters) -> dict:
    """Reopen rate: reopens in the range (a solved or closed ticket made active again, by the customer writing or
    by an agent) ÷ solves in the range, in percent."""
    counts = _counts(filters.rollups().filter(kind__in=[FactKind.REOPEN, FactKind.RESOLUTION]))
    reopens, solved = _n(counts, FactKind.REOPEN), _n(counts, FactKind.RESOLUTION)
    return {"reopens": reopens, "solved": solved, "rate": 100 * reopens / solved if solved else None}
