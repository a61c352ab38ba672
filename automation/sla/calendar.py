"""Business-time arithmetic: when a calendar is open, and what "N business minutes after this moment" means.

A `CalendarSpec` is a plain value (time zone, weekly intervals, Japanese holidays on/off, closures in UTC); every
function here is pure and exact to the microsecond. The only database access is `spec_for`, which builds a spec from
a `BusinessCalendar` and its closures (cached, see below).

The open time of a calendar is a set of instants:
- each weekly interval is anchored on the local date it starts ("22:00"–"06:00" listed under Friday runs from Friday
  22:00 to Saturday 06:00; an end that is not after the start runs past midnight; "24:00" ends at midnight);
- minus every Japanese public holiday (when enabled), which closes its local calendar date 00:00–24:00 — so an
  overnight interval is cut wherever it lies on a holiday, whether that is the date it starts or the date it ends;
- minus the closures (aware datetimes, any length).
Local wall times become instants through zoneinfo, so business time is real elapsed time: across a DST change an
interval "01:00"–"03:00" lasts one or three hours, and a wall time the clocks skip does not exist that day.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import jpholiday
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organization
from automation.models import BusinessCalendar, BusinessClosure
from automation.setup_cache import cached_setup

DAY = 1440  # minutes
# A calendar that stays closed this long is treated as never opening again (no due time, rather than an endless search).
CLOSED_HORIZON_DAYS = 731
# Nor is a due time searched further away than this: a target that far out is, for an SLA, no target.
MAX_SCAN_DAYS = 3660

Interval = tuple[int, int]  # minutes after the local midnight of the day it starts; the end may pass 1440
Span = tuple[datetime, datetime]  # UTC, start < end


def _merge(spans) -> tuple:
    """Sorted spans, overlapping or touching ones joined."""
    merged: list = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass(frozen=True)
class CalendarSpec:
    """When a calendar is open. `weekly[0]` is Monday … `weekly[6]` Sunday; closures are merged UTC spans."""

    tz: ZoneInfo
    weekly: tuple[tuple[Interval, ...], ...]
    japanese_holidays: bool = False
    closures: tuple[Span, ...] = ()
    _closure_ends: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if len(self.weekly) != 7:
            raise ValueError("weekly needs 7 days")
        object.__setattr__(self, "closures", _merge(sorted(self.closures)))
        object.__setattr__(self, "_closure_ends", tuple(end for _start, end in self.closures))

    @classmethod
    def always_open(cls) -> CalendarSpec:
        """Around the clock: for policies without a calendar."""
        return ALWAYS_OPEN

    @property
    def around_the_clock(self) -> bool:
        return not self.japanese_holidays and not self.closures and all(day == ((0, DAY),) for day in self.weekly)


ALWAYS_OPEN = CalendarSpec(tz=ZoneInfo("UTC"), weekly=(((0, DAY),),) * 7)


# --- schedules ----------------------------------------------------------------------------------------------------

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _weekday_name(key: str) -> str:
    names = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]
    return names[int(key) - 1]


def _minutes(value, *, end: bool) -> int | None:
    """ "HH:MM" → minutes after midnight; "24:00" only as an end. None when malformed."""
    if not isinstance(value, str):
        return None
    match = _TIME.match(value.strip())
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    if end and (hours, minutes) == (24, 0):
        return DAY
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _span(start: int, end: int) -> Interval:
    """An end that is not after the start runs into the next day ("00:00"–"00:00" is the whole day)."""
    return (start, end if end > start else end + DAY)


def validate_schedule(data) -> dict:
    """Check a weekly schedule and return it normalized: keys "1".."7" (all present), each a list of ["HH:MM", "HH:MM"]
    sorted by start. Raises ValidationError naming the day and the problem."""
    if not isinstance(data, dict):
        raise ValidationError(_("The schedule must map weekdays to lists of intervals."), code="schedule_shape")
    unknown = [str(key) for key in data if str(key) not in {str(day) for day in range(1, 8)}]
    if unknown:
        raise ValidationError(
            _("Unknown weekday %(key)s: use 1 (Monday) to 7 (Sunday).") % {"key": ", ".join(sorted(unknown))},
            code="schedule_day",
        )
    normalized: dict[str, list[list[str]]] = {}
    spans: dict[str, list[Interval]] = {}
    for day in range(1, 8):
        key = str(day)
        intervals = data.get(key, data.get(day, [])) or []
        if not isinstance(intervals, list | tuple):
            raise ValidationError(
                _("%(day)s: the hours must be a list of intervals.") % {"day": _weekday_name(key)},
                code="schedule_shape",
            )
        rows = []
        for interval in intervals:
            if not isinstance(interval, list | tuple) or len(interval) != 2:
                raise ValidationError(
                    _("%(day)s: each interval needs a start and an end time.") % {"day": _weekday_name(key)},
                    code="schedule_shape",
                )
            start, end = _minutes(interval[0], end=False), _minutes(interval[1], end=True)
            if start is None or end is None:
                raise ValidationError(
                    _("%(day)s: “%(start)s–%(end)s” is not a valid interval; write times as HH:MM (00:00 to 24:00).")
                    % {"day": _weekday_name(key), "start": interval[0], "end": interval[1]},
                    code="schedule_time",
                )
            span = _span(start, end)
            rows.append((span, [_hhmm(start), "24:00" if span[1] == DAY else _hhmm(span[1] % DAY)]))
        rows.sort()
        for earlier, later in zip(rows, rows[1:], strict=False):
            if later[0][0] < earlier[0][1]:
                raise ValidationError(
                    _("%(day)s: the intervals overlap.") % {"day": _weekday_name(key)}, code="schedule_overlap"
                )
        normalized[key] = [text for _span_, text in rows]
        spans[key] = [span for span, _text in rows]
    # An overnight interval must not run into the next day's first interval.
    for day in range(1, 8):
        key, next_key = str(day), str(day % 7 + 1)
        spill = max((end - DAY for _start, end in spans[key] if end > DAY), default=0)
        if spill and spans[next_key] and spans[next_key][0][0] < spill:
            raise ValidationError(
                _("%(day)s: the interval past midnight overlaps the hours of %(next)s.")
                % {"day": _weekday_name(key), "next": _weekday_name(next_key)},
                code="schedule_overlap",
            )
    return normalized


def weekly_from_schedule(schedule: dict) -> tuple[tuple[Interval, ...], ...]:
    """The spec's weekly intervals from a (validated) schedule dict."""
    weekly = []
    for day in range(1, 8):
        intervals = []
        for start_text, end_text in schedule.get(str(day), []) or []:
            start, end = _minutes(start_text, end=False), _minutes(end_text, end=True)
            if start is None or end is None:
                continue  # stored data is validated on save; never fail arithmetic on a bad row
            intervals.append(_span(start, end))
        weekly.append(tuple(sorted(intervals)))
    return tuple(weekly)


def build_spec(*, tz_name: str, schedule: dict, japanese_holidays: bool, closures=()) -> CalendarSpec:
    return CalendarSpec(
        tz=ZoneInfo(tz_name),
        weekly=weekly_from_schedule(schedule),
        japanese_holidays=japanese_holidays,
        closures=tuple((start.astimezone(UTC), end.astimezone(UTC)) for start, end in closures if end > start),
    )


# --- Japanese public holidays -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _jp_holiday_names(year: int) -> dict[date, str]:
    """Public holidays of one year, substitute holidays (振替休日) and 国民の休日 included (jpholiday)."""
    return dict(jpholiday.year_holidays(year))


def is_japanese_holiday(day: date) -> bool:
    return day in _jp_holiday_names(day.year)


def upcoming_holidays(spec: CalendarSpec, *, today: date, count: int = 5) -> list[tuple[date, str]]:
    """The next Japanese holidays (from `today`) on which the calendar would otherwise be open — the days it skips."""
    if not spec.japanese_holidays:
        return []
    found: list[tuple[date, str]] = []
    for year in (today.year, today.year + 1, today.year + 2):
        for day, name in sorted(_jp_holiday_names(year).items()):
            previous = (day - timedelta(days=1)).weekday()
            scheduled = spec.weekly[day.weekday()] or any(end > DAY for _start, end in spec.weekly[previous])
            if day >= today and scheduled:
                found.append((day, name))
                if len(found) == count:
                    return found
    return found


# --- the open spans -----------------------------------------------------------------------------------------------


def _instant(local_midnight: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall time (naive arithmetic moves the date for "24:00"; fold=0 picks the first of two
    repeated wall times, and a skipped one maps past the gap)."""
    return (local_midnight + timedelta(minutes=minutes)).replace(tzinfo=tz).astimezone(UTC)


def _day_spans(spec: CalendarSpec, day: date) -> list[Span]:
    """The open spans lying on one local date: its own intervals up to midnight and the part of the previous day's
    overnight intervals after midnight — none on a holiday — minus closures."""
    if spec.japanese_holidays and is_japanese_holiday(day):
        return []
    local: list[Interval] = [(start, min(end, DAY)) for start, end in spec.weekly[day.weekday()]]
    local += [(0, end - DAY) for _start, end in spec.weekly[(day - timedelta(days=1)).weekday()] if end > DAY]
    if not local:
        return []
    midnight = datetime.combine(day, time())
    spans = []
    for start, end in _merge(sorted(local)):
        a, b = _instant(midnight, start, spec.tz), _instant(midnight, end, spec.tz)
        if b > a:  # a span inside a skipped DST hour does not exist
            spans.extend(_minus_closures(spec, a, b))
    return spans


def _minus_closures(spec: CalendarSpec, a: datetime, b: datetime) -> list[Span]:
    if not spec.closures:
        return [(a, b)]
    out = []
    index = bisect.bisect_right(spec._closure_ends, a)  # the first closure ending after a
    for closed_from, closed_until in spec.closures[index:]:
        if closed_from >= b:
            break
        if closed_from > a:
            out.append((a, closed_from))
        a = max(a, closed_until)
        if a >= b:
            return out
    out.append((a, b))
    return out


def _spans_from(spec: CalendarSpec, start: datetime, until: datetime | None = None) -> Iterator[Span]:
    """Open spans in time order, clipped to begin at `start` at the earliest. Stops after `until` when given, else
    when the calendar stays closed for CLOSED_HORIZON_DAYS or the search passes MAX_SCAN_DAYS."""
    start = start.astimezone(UTC)
    # Spans of the previous local date can reach past midnight only through odd DST rules; include it to be safe.
    day = start.astimezone(spec.tz).date() - timedelta(days=1)
    last_day = until.astimezone(spec.tz).date() + timedelta(days=1) if until is not None else None
    floor, closed_days = start, 0
    for offset in range(MAX_SCAN_DAYS if last_day is None else (last_day - day).days + 1):
        spans = _day_spans(spec, day + timedelta(days=offset))
        closed_days = 0 if spans else closed_days + 1
        if last_day is None and closed_days > CLOSED_HORIZON_DAYS:
            return
        for a, b in spans:
            a = max(a, floor)
            if b > a:
                yield a, b
                floor = b


# --- the public arithmetic ----------------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("business-time arithmetic needs aware datetimes")
    return value


def is_open(at: datetime, spec: CalendarSpec) -> bool:
    """Is the calendar open at this instant (interval starts included, ends excluded)?"""
    at = _aware(at).astimezone(UTC)
    if spec.around_the_clock:
        return True
    local_day = at.astimezone(spec.tz).date()
    for day in (local_day - timedelta(days=1), local_day, local_day + timedelta(days=1)):
        if any(a <= at < b for a, b in _day_spans(spec, day)):
            return True
    return False


def next_open(at: datetime, spec: CalendarSpec) -> datetime | None:
    """`at` itself when open, else the next opening; None when the calendar does not open within ~2 years."""
    at = _aware(at)
    if spec.around_the_clock:
        return at
    for a, _b in _spans_from(spec, at):
        return a.astimezone(at.tzinfo)
    return None


def add_business_time(start: datetime, amount: timedelta, spec: CalendarSpec) -> datetime | None:
    """The instant when `amount` of open time has passed since `start` (an amount ending exactly at closing time
    gives the closing time). None when the calendar never gets there (closed for ~2 years, or ~10 years away)."""
    start = _aware(start)
    if amount <= timedelta(0):
        return start
    if spec.around_the_clock:
        return (start.astimezone(UTC) + amount).astimezone(start.tzinfo)  # in UTC: see business_time_between
    left = amount
    for a, b in _spans_from(spec, start):
        if left <= b - a:
            return (a + left).astimezone(start.tzinfo)
        left -= b - a
    return None


def add_business_minutes(start: datetime, minutes: float, spec: CalendarSpec) -> datetime | None:
    """`add_business_time` in minutes."""
    return add_business_time(start, timedelta(minutes=minutes), spec)


def business_time_between(start: datetime, end: datetime, spec: CalendarSpec) -> timedelta:
    """Open time in [start, end); zero when end is not after start."""
    # In UTC: aware datetimes sharing a tzinfo compare and subtract by wall time, which is wrong across DST.
    start, end = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
    if end <= start:
        return timedelta(0)
    if spec.around_the_clock:
        return end - start
    total = timedelta(0)
    for a, b in _spans_from(spec, start, until=end):
        if a >= end:
            break
        total += min(b, end) - a
    return total


def business_minutes_between(start: datetime, end: datetime, spec: CalendarSpec) -> float:
    """`business_time_between` in minutes (fractions are seconds)."""
    return business_time_between(start, end, spec).total_seconds() / 60


def business_time_left(at: datetime, due: datetime, spec: CalendarSpec) -> timedelta:
    """Open time from `at` until `due`, negative when `due` has passed (by the open time since)."""
    if due.astimezone(UTC) >= at.astimezone(UTC):
        return business_time_between(at, due, spec)
    return -business_time_between(due, at, spec)


# --- specs of stored calendars ------------------------------------------------------------------------------------
# A spec costs one query (the closures). It is cached in the shared cache under a key made of the calendar id, a
# version that every change through automation.sla.services replaces after commit (`spec_invalidate`), and a digest of
# the calendar row's own fields and the time zone — so a stale spec is never read after a change through a service,
# even if a reader raced the change (it stored its stale copy under the old version). Changes made around the
# services (Django admin) are picked up within SPEC_CACHE_SECONDS.

SPEC_CACHE_SECONDS = 300
_SPEC_FORMAT = 1  # bump when CalendarSpec changes shape


def _version_key(calendar_id: int) -> str:
    return f"sla:calendar:{calendar_id}:version"


def spec_invalidate(calendar_id: int) -> None:
    """Forget the cached spec of a calendar once the current transaction commits (its closures or fields changed)."""
    transaction.on_commit(lambda: cache.set(_version_key(calendar_id), uuid.uuid4().hex, None))


def calendar_tz_name(calendar, organization) -> str:
    return calendar.timezone or getattr(organization, "timezone", "") or settings.TIME_ZONE


def spec_for(calendar, organization) -> CalendarSpec:
    """The spec of a BusinessCalendar (None: around the clock); blank time zone = the organization's."""
    if calendar is None:
        return ALWAYS_OPEN

    tz_name = calendar_tz_name(calendar, organization)
    digest = hashlib.sha1(
        json.dumps([calendar.schedule, calendar.japanese_holidays, tz_name], sort_keys=True).encode(),
        usedforsecurity=False,
    ).hexdigest()[:16]
    version = cache.get(_version_key(calendar.pk)) or "0"
    key = f"sla:spec:{_SPEC_FORMAT}:{calendar.pk}:{version}:{digest}"
    spec = cache.get(key)
    if spec is None:
        closures = BusinessClosure.objects.filter(calendar_id=calendar.pk).values_list("starts_at", "ends_at")
        spec = build_spec(
            tz_name=tz_name,
            schedule=calendar.schedule or {},
            japanese_holidays=calendar.japanese_holidays,
            closures=list(closures),
        )
        cache.set(key, spec, SPEC_CACHE_SECONDS)
    return spec


def default_calendar_spec(organization: Organization):
    """The calendar "business hours" conditions use: the default one, else the first; none = always open."""

    def load():
        calendar = BusinessCalendar.objects.order_by("-is_default", "pk").first()
        return spec_for(calendar, organization) if calendar is not None else None

    return cached_setup(organization.pk, "default_calendar", load)
