"""Due instants and periods of scheduled reports, at hand-picked times (local schedule → UTC, DST-safe)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from analytics.reports.schedule import next_run_after, period_for

UTC = ZoneInfo("UTC")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def weekly(after, *, tz="Asia/Tokyo", weekday=0, hour=8):
    return next_run_after(after=after, tz_name=tz, frequency="weekly", hour=hour, weekday=weekday, day_of_month=None)


def monthly(after, *, tz="Asia/Tokyo", day=28, hour=9):
    return next_run_after(after=after, tz_name=tz, frequency="monthly", hour=hour, weekday=None, day_of_month=day)


def test_weekly_in_tokyo_falls_on_the_previous_utc_day():
    # Monday 08:00 in Tokyo is Sunday 23:00 UTC. At Sunday 22:00 UTC (Monday 07:00 there) it is an hour away.
    assert weekly(utc("2026-12-06 22:00")) == utc("2026-12-06 23:00")
    # Due exactly now: the next one is a week later (strictly after).
    assert weekly(utc("2026-12-06 23:00")) == utc("2026-12-13 23:00")
    # Monday 10:00 UTC is already Monday 19:00 in Tokyo: next Monday.
    assert weekly(utc("2026-12-07 10:00")) == utc("2026-12-13 23:00")


def test_weekly_period_is_the_seven_local_days_before_the_run_day():
    # Run at Sunday 23:00 UTC = Monday 7 December in Tokyo: the week Monday 30 November – Sunday 6 December.
    assert period_for(due_at=utc("2026-12-06 23:00"), tz_name="Asia/Tokyo", frequency="weekly") == (
        date(2026, 11, 30),
        date(2026, 12, 6),
    )


def test_monthly_on_day_28_every_month_including_february():
    assert monthly(utc("2027-01-27 12:00")) == utc("2027-01-28 00:00")  # 09:00 JST = 00:00 UTC
    assert monthly(utc("2027-01-28 00:00")) == utc("2027-02-28 00:00")
    assert monthly(utc("2027-02-28 00:00")) == utc("2027-03-28 00:00")
    assert monthly(utc("2026-12-28 00:00")) == utc("2027-01-28 00:00")  # across the year


def test_monthly_early_morning_in_tokyo_is_the_day_before_in_utc():
    # Day 1 at 02:00 in Tokyo is the last day of the previous month, 17:00 UTC.
    assert monthly(utc("2027-01-15 00:00"), day=1, hour=2) == utc("2027-01-31 17:00")
    assert period_for(due_at=utc("2027-01-31 17:00"), tz_name="Asia/Tokyo", frequency="monthly") == (
        date(2027, 1, 1),
        date(2027, 1, 31),
    )


def test_monthly_period_is_the_previous_calendar_month():
    assert period_for(due_at=utc("2027-03-28 00:00"), tz_name="Asia/Tokyo", frequency="monthly") == (
        date(2027, 2, 1),
        date(2027, 2, 28),
    )
    assert period_for(due_at=utc("2027-01-28 00:00"), tz_name="Asia/Tokyo", frequency="monthly") == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )


def test_the_local_hour_holds_across_daylight_saving_time():
    # New York: Monday 09:00 is 14:00 UTC in winter (EST) and 13:00 UTC after 8 March 2026 (EDT).
    assert weekly(utc("2026-03-02 15:00"), tz="America/New_York", hour=9) == utc("2026-03-09 13:00")
    assert weekly(utc("2026-02-23 15:00"), tz="America/New_York", hour=9) == utc("2026-03-02 14:00")
    # The skipped hour (02:00 on 8 March does not exist there) resolves to an instant that does.
    assert weekly(utc("2026-03-07 00:00"), tz="America/New_York", weekday=6, hour=2) == utc("2026-03-08 07:00")
