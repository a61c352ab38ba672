"""Social listening reads: the mention stream a member may see, share of voice and engagement rate per period.

A member sees the mentions of the channel connections they may see (channels_integrations.permissions), as with
tickets: the same grants narrow the stream, the charts and the one-click ticket."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncWeek

from accounts.models import Membership
from analytics.listening.models import Mention, MentionMatch, Monitor, MonitorKind
from channels_integrations.permissions import connections_visible_to

STREAM_PAGE = 50


def visible_mentions(membership: Membership) -> QuerySet[Mention]:
    return Mention.objects.filter(connection__in=connections_visible_to(membership))


def mention_stream(
    membership: Membership,
    *,
    monitor_id: int | None = None,
    platform: str = "",
    sentiment: str = "",
    after_id: int | None = None,
    before_id: int | None = None,
) -> list[Mention]:
    """Newest first (by when the post was made), at most STREAM_PAGE; `after_id`: only mentions collected after
    that one (the live refresh, whenever they were posted), `before_id`: the page after that mention."""
    mentions = visible_mentions(membership).select_related("connection", "ticket")
    if monitor_id:
        mentions = mentions.filter(matches__monitor_id=monitor_id)
    if platform:
        mentions = mentions.filter(platform=platform)
    if sentiment:
        mentions = mentions.filter(sentiment=sentiment)
    if after_id:
        mentions = mentions.filter(pk__gt=after_id)
    if before_id:
        # The next page after the mention `before_id` in the stream's order (posted_at, then id, descending).
        last = visible_mentions(membership).filter(pk=before_id).values_list("posted_at", flat=True).first()
        if last is not None:
            mentions = mentions.filter(Q(posted_at__lt=last) | Q(posted_at=last, pk__lt=before_id))
    page = list(mentions.order_by("-posted_at", "-pk")[:STREAM_PAGE])
    names = dict(Monitor.objects.values_list("pk", "name"))
    matched: dict[int, list[str]] = {}
    for mention_id, monitor_id_ in MentionMatch.objects.filter(mention__in=[m.pk for m in page]).values_list(
        "mention_id", "monitor_id"
    ):
        matched.setdefault(mention_id, []).append(names.get(monitor_id_, ""))
    for mention in page:
        mention.monitor_names = sorted(matched.get(mention.pk, []))
    return page


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date
    zone: ZoneInfo
    by: str = "day"  # or "week" (ISO weeks, starting on Monday)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=self.zone)

    def buckets(self) -> list[date]:
        if self.by == "week":
            first = self.first_day - timedelta(days=self.first_day.weekday())
            return [first + timedelta(weeks=i) for i in range((self.last_day - first).days // 7 + 1)]
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]


def _bucketed(queryset: QuerySet, period: Period) -> QuerySet:
    trunc = TruncWeek if period.by == "week" else TruncDate
    return queryset.filter(posted_at__gte=period.start, posted_at__lt=period.end).annotate(
        bucket=trunc("posted_at", tzinfo=period.zone)
    )


def _day(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def share_of_voice(membership: Membership, period: Period) -> dict:
    """Share of voice per period, in percent: for our brand (the mentions matching any brand or product monitor)
    and for each competitor monitor, its mentions ÷ all mentions in the monitored set (the distinct mentions
    matching any monitor) in that period × 100. A mention naming us and a competitor counts for both, so the shares
    can add up to more than 100. A period without mentions has no share (None). Also the counts behind them."""
    visible = visible_mentions(membership)
    matches = MentionMatch.objects.filter(mention__in=visible, monitor__active=True)
    buckets = period.buckets()
    index = {day: i for i, day in enumerate(buckets)}
    totals = [0] * len(buckets)
    for row in (
        _bucketed(visible.filter(matches__monitor__active=True), period)
        .values("bucket")
        .annotate(n=Count("pk", distinct=True))
    ):
        totals[index[_day(row["bucket"])]] = row["n"]
    competitors = list(Monitor.objects.filter(kind=MonitorKind.COMPETITOR, active=True).order_by("name"))
    ours = [0] * len(buckets)
    ours_rows = (
        _bucketed(visible.filter(matches__monitor__kind__in=[MonitorKind.BRAND, MonitorKind.PRODUCT]), period)
        .filter(matches__monitor__active=True)
        .values("bucket")
        .annotate(n=Count("pk", distinct=True))
    )
    for row in ours_rows:
        ours[index[_day(row["bucket"])]] = row["n"]
    theirs = {m.pk: [0] * len(buckets) for m in competitors}
    for row in (
        _bucketed(matches.filter(monitor__in=competitors), period)
        .values("monitor_id", "bucket")
        .annotate(n=Count("mention_id", distinct=True))
    ):
        theirs[row["monitor_id"]][index[_day(row["bucket"])]] = row["n"]

    def percent(counts: list[int]) -> list[float | None]:
        return [round(c * 100 / t, 1) if t else None for c, t in zip(counts, totals, strict=True)]

    lines = [{"key": "ours", "name": None, "counts": ours, "values": percent(ours)}]
    lines += [
        {"key": f"monitor-{m.pk}", "name": m.name, "counts": theirs[m.pk], "values": percent(theirs[m.pk])}
        for m in competitors
    ]
    return {"x": [d.isoformat() for d in buckets], "totals": totals, "lines": lines}


def engagement(membership: Membership, period: Period) -> dict:
    """Engagement rate per period, in percent, for our brand's mentions (brand and product monitors): interactions
    (likes + comments + shares) ÷ followers (or reach, where the platform gives reach) × 100, summed over the
    mentions whose followers or reach are known (a ratio of sums, so a big account weighs as much as its audience).
    None for a period without such a mention. `known` counts the mentions it rests on."""
    buckets = period.buckets()
    index = {day: i for i, day in enumerate(buckets)}
    values: list[float | None] = [None] * len(buckets)
    known = [0] * len(buckets)
    ours = visible_mentions(membership).filter(
        matches__monitor__kind__in=[MonitorKind.BRAND, MonitorKind.PRODUCT], matches__monitor__active=True
    )
    audience = ours.filter(Q(reach__gt=0) | Q(followers__gt=0)).distinct()
    rows = (
        _bucketed(Mention.objects.filter(pk__in=audience.values("pk")), period)
        .values("bucket")
        .annotate(
            interactions=Sum("interactions"),
            reach_sum=Sum("reach", filter=Q(reach__gt=0)),
            followers_sum=Sum("followers", filter=Q(reach__isnull=True) | Q(reach=0)),
            n=Count("pk"),
        )
    )
    for row in rows:
        i = index[_day(row["bucket"])]
        denominator = (row["reach_sum"] or 0) + (row["followers_sum"] or 0)
        values[i] = round(row["interactions"] * 100 / denominator, 2) if denominator else None
        known[i] = row["n"]
    return {"x": [d.isoformat() for d in buckets], "values": values, "known": known}
