"""Customer satisfaction metrics (selectors). Each docstring is the metric's exact definition, shown as its tooltip.

Answers count on the day they were given (in the organization's time zone), whatever day the ticket was solved; the
agent is the one the ticket was assigned to when it was solved; channel grants and filters as in analytics.metrics.
"""

from datetime import timedelta

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from analytics.metrics import Filters
from analytics.models import FactKind


def _rate(satisfied: int, answered: int) -> float | None:
    return 100 * satisfied / answered if answered else None


def _average(score_sum: int, answered: int) -> float | None:
    return score_sum / answered if answered else None


def _rows(filters: Filters, group: str | None = None):
    """Answered, satisfied (4–5) and the sum of ratings: from the daily rollups, or from the facts under a tag filter
    (rollups carry no tags). `group`: "day", "agent_id" or "connection_id"."""
    if filters.tag_ids:
        rows = filters.facts().filter(kind=FactKind.CSAT)
        sums = {"answered": Count("id"), "satisfied": Count("id", filter=Q(score__gte=4)), "score_sum": Sum("score")}
        buckets = {"day": TruncDate("occurred_at", tzinfo=filters.tz()), "agent_id": F("agent_id")}
        buckets["connection_id"] = F("connection_id")
    else:
        rows = filters.rollups().filter(kind=FactKind.CSAT)
        sums = {"answered": Sum("count"), "satisfied": Sum("score_high"), "score_sum": Sum("score_sum")}
        buckets = {"day": F("day"), "agent_id": F("agent_id"), "connection_id": F("connection_id")}
    if group is None:
        return rows.aggregate(**sums)
    return rows.annotate(bucket=buckets[group]).values("bucket").annotate(**sums).order_by("bucket")


def csat(filters: Filters) -> dict:
    """CSAT: of the satisfaction surveys answered in the range, the share rated 4 or 5 (on a scale of 1 to 5), in
    percent. Average: the mean of those ratings. Unanswered surveys count in neither."""
    row = _rows(filters)
    answered, satisfied = row["answered"] or 0, row["satisfied"] or 0
    return {
        "answered": answered,
        "satisfied": satisfied,
        "rate": _rate(satisfied, answered),
        "average": _average(row["score_sum"] or 0, answered),
    }


def csat_series(filters: Filters) -> dict:
    """CSAT and average rating per day of the range (the day the customer answered); a day without answers has
    no value (null)."""
    rows = {row["bucket"]: row for row in _rows(filters, "day")}
    x, rate, average = [], [], []
    day = filters.first_day
    while day <= filters.last_day:
        row = rows.get(day)
        x.append(day.isoformat())
        rate.append(_rate(row["satisfied"], row["answered"]) if row else None)
        average.append(_average(row["score_sum"], row["answered"]) if row else None)
        day += timedelta(days=1)
    return {"x": x, "rate": rate, "average": average}


def csat_distribution(filters: Filters) -> list[int]:
    """How many answers in the range gave each rating: counts for 1, 2, 3, 4 and 5."""
    counts = (
        filters.facts()
        .filter(kind=FactKind.CSAT)
        .aggregate(**{f"r{n}": Count("id", filter=Q(score=n)) for n in range(1, 6)})
    )
    return [counts[f"r{n}"] for n in range(1, 6)]


def _grouped(filters: Filters, field: str) -> list[dict]:
    return [
        {
            "id": row["bucket"],
            "answered": row["answered"],
            "rate": _rate(row["satisfied"], row["answered"]),
            "average": _average(row["score_sum"], row["answered"]),
        }
        for row in _rows(filters, field)
    ]


def csat_by_agent(filters: Filters) -> list[dict]:
    """CSAT and average per agent (the assignee when the ticket was solved; none: unassigned)."""
    return _grouped(filters, "agent_id")


def csat_by_channel(filters: Filters) -> list[dict]:
    """CSAT and average per channel (connection) of the surveyed conversations."""
    return _grouped(filters, "connection_id")
