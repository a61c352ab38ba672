"""The tickets behind a number: for each drill-down metric, the rows that number counts (same filters, same day or
bucket), so the list's count equals the number clicked. A ticket counted twice (solved, reopened, solved again)
is listed twice, each time with when it was counted."""

from django.db.models import Case, F, IntegerField, Max, Q, Sum, Value, When
from django.utils.translation import gettext_lazy as _

from analytics import metrics
from analytics.metrics import FactKind, Filters
from tickets.models import Ticket

# metric → (title, definition keys). The title names what is listed.
DRILLS = {
    "created": (_("Tickets created"), ("created",)),
    "solved": (_("Tickets solved"), ("solved", "resolution")),
    "reopen": (_("Reopens"), ("reopen",)),
    "backlog": (_("Tickets in the backlog at the end of the day"), ("backlog",)),
    "first_response": (_("First responses"), ("first_response",)),
    "reply": (_("Timed agent replies"), ("reply",)),
    "replies": (_("Agent replies"), ("reply",)),
    "started": (_("Conversations customers started"), ("response_rate",)),
    "sla": (_("SLA outcomes (met and breached)"), ("sla",)),
    "sla_met": (_("SLA clocks met"), ("sla",)),
    "sla_breach": (_("SLA clocks breached"), ("sla",)),
    "sentiment_positive": (_("Positive customer messages"), ("sentiment",)),
    "sentiment_neutral": (_("Neutral customer messages"), ("sentiment",)),
    "sentiment_negative": (_("Negative customer messages"), ("sentiment",)),
}
FACT_DRILLS = {
    "created": Q(kind=FactKind.CREATED),
    "solved": Q(kind=FactKind.RESOLUTION),
    "reopen": Q(kind=FactKind.REOPEN),
    "first_response": Q(kind=FactKind.FIRST_RESPONSE),
    "reply": Q(kind=FactKind.REPLY, duration_seconds__isnull=False),
    "replies": Q(kind=FactKind.REPLY),
    "started": Q(kind=FactKind.CREATED, inbound=True),
    "sla": Q(kind__in=[FactKind.SLA_MET, FactKind.SLA_BREACH]),
    "sla_met": Q(kind=FactKind.SLA_MET),
    "sla_breach": Q(kind=FactKind.SLA_BREACH),
}
BACKLOG_SIGN = {FactKind.CREATED: 1, FactKind.RESOLUTION: -1, FactKind.REOPEN: 1, FactKind.MERGED: -1}


def drill_rows(metric: str, filters: Filters):
    """A queryset of {"ticket_id", "at", ...} rows (facts: also "duration" and "kind"), newest first. KeyError for
    an unknown metric."""
    if metric in FACT_DRILLS:
        rows = filters.facts().filter(FACT_DRILLS[metric]).annotate(at=F("occurred_at"), duration=F("duration_seconds"))
        columns = ["ticket_id", "at", "duration", "kind"]
        if metric == "started":
            # The response rate's numerator: which of these conversations got a human reply.
            rows = rows.annotate(answered=metrics.answered())
            columns.append("answered")
        return rows.values(*columns).order_by("-at", "-id")
    if metric.startswith("sentiment_") and metric.removeprefix("sentiment_") in metrics.SENTIMENTS:
        return (
            metrics.customer_messages(filters)
            .filter(sentiment=metric.removeprefix("sentiment_"))
            .annotate(at=F("created_at"))
            .values("ticket_id", "at", "sentiment")
            .order_by("-at", "-id")
        )
    if metric == "backlog":
        # A ticket is in the backlog when its own facts up to the end add up to one (created − solved + reopened −
        # merged): the sum over these tickets is `volume`'s backlog.
        net = Sum(
            Case(
                *[When(kind=kind, then=Value(sign)) for kind, sign in BACKLOG_SIGN.items()], output_field=IntegerField()
            )
        )
        return (
            filters.facts(until_only=True)
            .filter(kind__in=list(BACKLOG_SIGN))
            .values("ticket_id")
            .annotate(net=net, at=_max_created())
            .filter(net__gt=0)
            .order_by("-at", "-ticket_id")
        )
    raise KeyError(metric)


def _max_created():
    return Max("occurred_at", filter=Q(kind=FactKind.CREATED))


def for_day(filters: Filters, day) -> Filters:
    """The filters narrowed to one day of a chart (the backlog's day: its end)."""
    return filters.narrowed(first_day=day, last_day=day)


def tickets_for(rows) -> dict[int, Ticket]:
    ids = {row["ticket_id"] for row in rows}
    tickets = Ticket.objects.filter(pk__in=ids).select_related("connection", "contact", "assignee")
    return {ticket.pk: ticket for ticket in tickets}
