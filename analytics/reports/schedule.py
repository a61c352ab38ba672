"""When a scheduled report runs and which days it covers: plain functions of the local schedule.

Due instants are found in local wall-clock time and converted to UTC each time (never by adding 7 × 24 hours to
the last one), so a 09:00 report stays at 09:00 across daylight-saving changes. A wall time that does not exist
(the hour skipped in spring) falls an hour later; one that happens twice (autumn) is the first."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _at(day: date, hour: int, tz: ZoneInfo) -> datetime:
    # fold=0: the first of an ambiguous hour; a skipped hour resolves forward when converted to UTC.
    return datetime.combine(day, time(hour), tzinfo=tz)


def _month_add(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def next_run_after(
    *, after: datetime, tz_name: str, frequency: str, hour: int, weekday: int | None, day_of_month: int | None
) -> datetime:
    """The first due instant strictly after `after` (aware), in UTC."""
    tz = ZoneInfo(tz_name)
    local_day = after.astimezone(tz).date()
    if frequency == "weekly":
        day = local_day + timedelta(days=(weekday - local_day.weekday()) % 7)
        candidate = _at(day, hour, tz)
        while candidate <= after:
            day += timedelta(days=7)
            candidate = _at(day, hour, tz)
    else:
        day = local_day.replace(day=day_of_month)  # 1–28: every month has it
        candidate = _at(day, hour, tz)
        while candidate <= after:
            day = _month_add(day, 1).replace(day=day_of_month)
            candidate = _at(day, hour, tz)
    return candidate.astimezone(ZoneInfo("UTC"))


def period_for(*, due_at: datetime, tz_name: str, frequency: str) -> tuple[date, date]:
    """The whole local days a run reports on: weekly, the seven days before the day it runs; monthly, the
    previous calendar month."""
    run_day = due_at.astimezone(ZoneInfo(tz_name)).date()
    if frequency == "weekly":
        return run_day - timedelta(days=7), run_day - timedelta(days=1)
    first = _month_add(run_day, -1)
    return first, run_day.replace(day=1) - timedelta(days=1)
