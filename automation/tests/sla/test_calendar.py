"""Business-time arithmetic, table-driven. Every expected instant was worked out by hand from the 2026 calendar
(1 January 2026 is a Thursday) and the Japanese holiday list; the comment on each row shows the reasoning."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.sla.calendar import (
    ALWAYS_OPEN,
    CalendarSpec,
    add_business_minutes,
    build_spec,
    business_minutes_between,
    business_time_left,
    is_open,
    next_open,
    upcoming_holidays,
    validate_schedule,
)

JST = ZoneInfo("Asia/Tokyo")
NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def jst(*args) -> datetime:
    return datetime(*args, tzinfo=JST)


def ny(*args, fold=0) -> datetime:
    return datetime(*args, tzinfo=NY, fold=fold)


WEEKDAYS_9_18 = {str(day): [["09:00", "18:00"]] if day <= 5 else [] for day in range(1, 8)}
NIGHTS = {str(day): [["22:00", "06:00"]] for day in range(1, 8)}
WHOLE_DAYS = {str(day): [["00:00", "00:00"]] for day in range(1, 8)}

SPECS = {
    # A Japanese office: Monday–Friday 9:00–18:00, closed on public holidays.
    "office": build_spec(tz_name="Asia/Tokyo", schedule=WEEKDAYS_9_18, japanese_holidays=True),
    # The same hours open on public holidays.
    "office_no_holidays": build_spec(tz_name="Asia/Tokyo", schedule=WEEKDAYS_9_18, japanese_holidays=False),
    # The office with 年末年始 (29 Dec – 3 Jan inclusive) and a one-hour maintenance on Tuesday 6 January at noon.
    "office_closures": build_spec(
        tz_name="Asia/Tokyo",
        schedule=WEEKDAYS_9_18,
        japanese_holidays=True,
        closures=[
            (jst(2026, 12, 29, 0, 0), jst(2027, 1, 4, 0, 0)),
            (jst(2026, 1, 6, 12, 0), jst(2026, 1, 6, 13, 0)),
        ],
    ),
    # A night desk: every day 22:00–06:00, closed on public holidays.
    "nights": build_spec(tz_name="Asia/Tokyo", schedule=NIGHTS, japanese_holidays=True),
    # Every day 00:00–00:00 (the whole day) in Tokyo, with and without holidays.
    "all_week": build_spec(tz_name="Asia/Tokyo", schedule=WHOLE_DAYS, japanese_holidays=False),
    "all_week_holidays": build_spec(tz_name="Asia/Tokyo", schedule=WHOLE_DAYS, japanese_holidays=True),
    "always": ALWAYS_OPEN,
    # New York: clocks spring forward on Sunday 8 March 2026 and fall back on Sunday 1 November 2026.
    "ny_office": build_spec(tz_name="America/New_York", schedule=WEEKDAYS_9_18, japanese_holidays=False),
    "ny_all_week": build_spec(tz_name="America/New_York", schedule=WHOLE_DAYS, japanese_holidays=False),
    "ny_nights": build_spec(tz_name="America/New_York", schedule=NIGHTS, japanese_holidays=False),
    "closed": build_spec(tz_name="Asia/Tokyo", schedule={}, japanese_holidays=True),
}

ADD_CASES = [
    # (calendar, start, minutes, expected)
    ("office", jst(2026, 1, 6, 10, 0), 60, jst(2026, 1, 6, 11, 0)),  # Tuesday, inside hours
    ("office", jst(2026, 1, 6, 17, 0), 60, jst(2026, 1, 6, 18, 0)),  # ends exactly at closing: due at closing
    ("office", jst(2026, 1, 6, 17, 30), 60, jst(2026, 1, 7, 9, 30)),  # 30 today, 30 tomorrow morning
    ("office", jst(2026, 1, 6, 7, 0), 30, jst(2026, 1, 6, 9, 30)),  # before opening: counts from 9:00
    ("office", jst(2026, 1, 6, 19, 0), 30, jst(2026, 1, 7, 9, 30)),  # after closing: next morning
    ("office", jst(2026, 1, 6, 17, 59, 30), 1, jst(2026, 1, 7, 9, 0, 30)),  # exact to the second
    ("office", jst(2026, 1, 16, 17, 0), 120, jst(2026, 1, 19, 10, 0)),  # Friday → weekend → Monday 10:00
    ("office", jst(2026, 1, 17, 12, 0), 60, jst(2026, 1, 19, 10, 0)),  # starting on Saturday
    ("office", jst(2026, 1, 9, 17, 0), 120, jst(2026, 1, 13, 10, 0)),  # Mon 12 Jan 成人の日 → Tuesday
    ("office_no_holidays", jst(2026, 1, 9, 17, 0), 120, jst(2026, 1, 12, 10, 0)),  # same, open on holidays
    ("office", jst(2026, 4, 28, 17, 0), 120, jst(2026, 4, 30, 10, 0)),  # Wed 29 Apr 昭和の日
    # Fri 1 May → Sat 2, Sun 3 憲法記念日, Mon 4 みどりの日, Tue 5 こどもの日, Wed 6 振替休日 → Thu 7 May
    ("office", jst(2026, 5, 1, 17, 0), 120, jst(2026, 5, 7, 10, 0)),
    # Fri 18 Sep → Mon 21 敬老の日, Tue 22 国民の休日, Wed 23 秋分の日 → Thu 24 Sep
    ("office", jst(2026, 9, 18, 17, 0), 120, jst(2026, 9, 24, 10, 0)),
    ("office", jst(2026, 1, 19, 9, 0), 3 * 540, jst(2026, 1, 21, 18, 0)),  # three full days Mon–Wed
    ("office", jst(2026, 1, 19, 9, 0), 3 * 540 + 1, jst(2026, 1, 22, 9, 1)),  # one minute more: Thursday
    # Thu 5 Feb 15:00, five days: Thu 180, Fri 540, Mon 540, Tue 540, Wed 11 Feb 建国記念の日, Thu 540, Fri 360
    ("office", jst(2026, 2, 5, 15, 0), 5 * 540, jst(2026, 2, 13, 15, 0)),
    ("office_closures", jst(2026, 12, 28, 17, 0), 120, jst(2027, 1, 4, 10, 0)),  # 年末年始 → Monday 4 January
    ("office", jst(2026, 12, 28, 17, 0), 120, jst(2026, 12, 29, 10, 0)),  # without the closure: next morning
    ("office_closures", jst(2026, 1, 6, 11, 30), 60, jst(2026, 1, 6, 13, 30)),  # 30 before the closure, 30 after
    ("nights", jst(2026, 1, 5, 23, 0), 120, jst(2026, 1, 6, 1, 0)),  # inside Monday's night
    ("nights", jst(2026, 1, 6, 12, 0), 60, jst(2026, 1, 6, 23, 0)),  # daytime: waits for 22:00
    ("nights", jst(2026, 1, 5, 22, 0), 600, jst(2026, 1, 7, 0, 0)),  # one night (480) + 120 of the next
    # Sunday 11 Jan's night is cut at midnight (Mon 12 is 成人の日), Monday's night is closed until midnight;
    # Tuesday 00:00–06:00 (the rest of Monday's night, not on the holiday) is open: 60 + 60.
    ("nights", jst(2026, 1, 11, 23, 0), 120, jst(2026, 1, 13, 1, 0)),
    ("all_week", jst(2026, 1, 9, 17, 0), 120, jst(2026, 1, 9, 19, 0)),
    ("always", jst(2026, 1, 9, 17, 0), 120, jst(2026, 1, 9, 19, 0)),
    ("all_week_holidays", jst(2026, 1, 11, 23, 0), 120, jst(2026, 1, 13, 1, 0)),  # all of 12 Jan is closed
    ("always", jst(2026, 1, 11, 23, 0), 120, jst(2026, 1, 12, 1, 0)),
    ("office", jst(2026, 1, 6, 10, 0), 0, jst(2026, 1, 6, 10, 0)),  # zero minutes: the start itself
    # New York office, Friday 17:00 EST + 2 h → Monday 10:00 EDT (the clocks sprang forward on Sunday).
    ("ny_office", ny(2026, 3, 6, 17, 0), 120, ny(2026, 3, 9, 10, 0)),
    # Open all week in New York: 24 hours of open time from Saturday noon end at 13:00 on Sunday (a 23-hour day).
    ("ny_all_week", ny(2026, 3, 7, 12, 0), 1440, ny(2026, 3, 8, 13, 0)),
    # …and at 11:00 on the Sunday the clocks fall back (a 25-hour day).
    ("ny_all_week", ny(2026, 10, 31, 12, 0), 1440, ny(2026, 11, 1, 11, 0)),
]


@pytest.mark.parametrize(
    ("calendar", "start", "minutes", "expected"),
    ADD_CASES,
    ids=[f"{c}-{s:%m%d-%H%M}+{m}" for c, s, m, _e in ADD_CASES],
)
def test_add_business_minutes(calendar, start, minutes, expected):
    due = add_business_minutes(start, minutes, SPECS[calendar])
    # Compared as UTC instants: aware datetimes sharing a tzinfo compare by wall time, which could hide an offset.
    assert due.astimezone(UTC) == expected.astimezone(UTC)
    assert due.tzinfo == start.tzinfo  # the caller's zone is kept


def test_ny_cases_are_exact_instants():
    # The same New York answers written in UTC, so a wrong offset cannot hide behind equal wall times.
    spec = SPECS["ny_office"]
    assert add_business_minutes(datetime(2026, 3, 6, 22, 0, tzinfo=UTC), 120, spec) == datetime(
        2026, 3, 9, 14, 0, tzinfo=UTC
    )


BETWEEN_CASES = [
    # (calendar, start, end, minutes)
    ("office", jst(2026, 1, 9, 17, 0), jst(2026, 1, 13, 10, 0), 120),  # Fri 60 + (Mon holiday) + Tue 60
    ("office_no_holidays", jst(2026, 1, 9, 17, 0), jst(2026, 1, 13, 10, 0), 60 + 540 + 60),
    ("office", jst(2026, 1, 6, 10, 0, 30), jst(2026, 1, 6, 10, 1), 0.5),  # seconds count
    ("office", jst(2026, 1, 6, 12, 0), jst(2026, 1, 6, 11, 0), 0),  # end before start
    ("office", jst(2026, 9, 18, 9, 0), jst(2026, 9, 25, 9, 0), 1080),  # Fri 540 + Thu 24 Sep 540
    ("office", jst(2026, 1, 10, 0, 0), jst(2026, 1, 11, 23, 59), 0),  # a weekend
    ("office_closures", jst(2026, 1, 6, 9, 0), jst(2026, 1, 6, 18, 0), 480),  # minus the noon closure
    ("office_closures", jst(2026, 12, 25, 18, 0), jst(2027, 1, 5, 9, 0), 540 + 540),  # 28 Dec and 4 Jan
    ("nights", jst(2026, 1, 11, 20, 0), jst(2026, 1, 13, 7, 0), 120 + 360),  # Sun 22–24, Tue 00–06
    ("always", jst(2026, 1, 1, 0, 0), jst(2026, 1, 2, 0, 0), 1440),
    ("ny_nights", ny(2026, 3, 7, 22, 0), ny(2026, 3, 8, 6, 0), 7 * 60),  # spring forward: a 7-hour night
    ("ny_nights", ny(2026, 10, 31, 22, 0), ny(2026, 11, 1, 6, 0), 9 * 60),  # fall back: a 9-hour night
]


@pytest.mark.parametrize(
    ("calendar", "start", "end", "minutes"),
    BETWEEN_CASES,
    ids=[f"{c}-{s:%m%d-%H%M}-{e:%m%d-%H%M}" for c, s, e, _m in BETWEEN_CASES],
)
def test_business_minutes_between(calendar, start, end, minutes):
    assert business_minutes_between(start, end, SPECS[calendar]) == minutes


OPEN_CASES = [
    # (calendar, instant, open?)
    ("office", jst(2026, 1, 6, 9, 0), True),  # the opening minute belongs to the interval
    ("office", jst(2026, 1, 6, 18, 0), False),  # the closing instant does not
    ("office", jst(2026, 1, 12, 10, 0), False),  # 成人の日
    ("office_no_holidays", jst(2026, 1, 12, 10, 0), True),
    ("office", jst(2026, 9, 22, 10, 0), False),  # 国民の休日
    ("office", jst(2026, 1, 10, 10, 0), False),  # Saturday
    ("office_closures", jst(2026, 12, 30, 10, 0), False),
    ("office_closures", jst(2026, 1, 6, 12, 30), False),
    ("nights", jst(2026, 1, 7, 3, 0), True),  # Tuesday's night after midnight
    ("nights", jst(2026, 1, 12, 3, 0), False),  # Sunday's night, past midnight on the holiday
    ("nights", jst(2026, 1, 12, 23, 0), False),  # Monday's night, on the holiday
    ("nights", jst(2026, 1, 13, 3, 0), True),  # Monday's night after midnight, off the holiday
    ("always", jst(2026, 1, 1, 3, 0), True),
    ("ny_office", ny(2026, 3, 9, 9, 0), True),
    ("ny_office", datetime(2026, 3, 9, 13, 30, tzinfo=UTC), True),  # 9:30 EDT
    ("ny_office", datetime(2026, 3, 9, 12, 30, tzinfo=UTC), False),  # 8:30 EDT
]


@pytest.mark.parametrize(
    ("calendar", "at", "expected"), OPEN_CASES, ids=[f"{c}-{a:%m%d-%H%M%z}" for c, a, _e in OPEN_CASES]
)
def test_is_open(calendar, at, expected):
    assert is_open(at, SPECS[calendar]) is expected


NEXT_OPEN_CASES = [
    ("office", jst(2026, 1, 10, 12, 0), jst(2026, 1, 13, 9, 0)),  # Saturday → Tuesday (Monday is 成人の日)
    ("office", jst(2026, 1, 6, 10, 0), jst(2026, 1, 6, 10, 0)),  # open: now
    ("office_closures", jst(2026, 12, 28, 18, 0), jst(2027, 1, 4, 9, 0)),
    ("nights", jst(2026, 1, 12, 1, 0), jst(2026, 1, 13, 0, 0)),
    ("closed", jst(2026, 1, 6, 10, 0), None),  # never opens: None, not an endless loop
]


@pytest.mark.parametrize(
    ("calendar", "at", "expected"), NEXT_OPEN_CASES, ids=[f"{c}-{a:%m%d-%H%M}" for c, a, _e in NEXT_OPEN_CASES]
)
def test_next_open(calendar, at, expected):
    assert next_open(at, SPECS[calendar]) == expected


def test_a_calendar_that_never_opens_gives_no_due_time():
    assert add_business_minutes(jst(2026, 1, 6, 10, 0), 60, SPECS["closed"]) is None
    assert business_minutes_between(jst(2026, 1, 1), jst(2026, 12, 31), SPECS["closed"]) == 0


def test_time_left_is_negative_after_the_due_time():
    spec = SPECS["office"]
    assert business_time_left(jst(2026, 1, 6, 10, 0), jst(2026, 1, 6, 11, 0), spec) == timedelta(hours=1)
    assert business_time_left(jst(2026, 1, 7, 10, 0), jst(2026, 1, 6, 17, 0), spec) == -timedelta(hours=2)


def test_upcoming_holidays_lists_the_working_days_it_skips():
    # From Friday 18 Sep 2026: the September run, then Mon 12 Oct スポーツの日 and Tue 3 Nov 文化の日.
    days = [day.isoformat() for day, _name in upcoming_holidays(SPECS["office"], today=jst(2026, 9, 18).date())]
    assert days == ["2026-09-21", "2026-09-22", "2026-09-23", "2026-10-12", "2026-11-03"]
    assert upcoming_holidays(SPECS["office_no_holidays"], today=jst(2026, 9, 18).date()) == []


@settings(deadline=None, max_examples=200)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    minutes=st.integers(min_value=1, max_value=20_000),
    calendar=st.sampled_from(["office", "office_closures", "nights", "ny_office", "ny_nights"]),
)
def test_adding_then_measuring_gives_the_same_minutes(start, minutes, calendar):
    spec = SPECS[calendar]
    start = start.replace(tzinfo=spec.tz)
    due = add_business_minutes(start, minutes, spec)
    assert business_minutes_between(start, due, spec) == minutes
    assert is_open(due - timedelta(seconds=1), spec)  # the due time ends open time, never a closed stretch


VALID_SCHEDULES = [
    ({"1": [["9:00", "18:00"]]}, {"1": [["09:00", "18:00"]], **{str(d): [] for d in range(2, 8)}}),
    ({"5": [["22:00", "06:00"]]}, {**{str(d): [] for d in range(1, 8)}, "5": [["22:00", "06:00"]]}),
    ({"1": [["13:00", "18:00"], ["09:00", "12:00"]]}, {"1": [["09:00", "12:00"], ["13:00", "18:00"]]}),
    ({"1": [["00:00", "24:00"]], "2": [["00:00", "00:00"]]}, {"1": [["00:00", "24:00"]], "2": [["00:00", "24:00"]]}),
    ({"1": [["22:00", "06:00"]], "2": [["06:00", "10:00"]]}, {"1": [["22:00", "06:00"]], "2": [["06:00", "10:00"]]}),
]


@pytest.mark.parametrize(("data", "expected"), VALID_SCHEDULES, ids=["pad", "overnight", "sorted", "24h", "adjacent"])
def test_validate_schedule_normalizes(data, expected):
    normalized = validate_schedule(data)
    assert {key: normalized[key] for key in expected} == expected
    assert sorted(normalized) == [str(day) for day in range(1, 8)]


INVALID_SCHEDULES = [
    ([], "must map weekdays"),
    ({"8": []}, "Unknown weekday 8"),
    ({"1": "09:00-18:00"}, "must be a list of intervals"),
    ({"1": [["09:00"]]}, "needs a start and an end"),
    ({"1": [["25:00", "06:00"]]}, "not a valid interval"),
    ({"1": [["09:60", "18:00"]]}, "not a valid interval"),
    ({"1": [["24:00", "06:00"]]}, "not a valid interval"),  # 24:00 only ends an interval
    ({"1": [["09:00", 18]]}, "not a valid interval"),
    ({"1": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overlap"),
    ({"1": [["22:00", "06:00"]], "2": [["05:00", "09:00"]]}, "past midnight overlaps"),
    ({"7": [["22:00", "06:00"]], "1": [["05:00", "09:00"]]}, "past midnight overlaps"),  # Sunday into Monday
]


@pytest.mark.parametrize(
    ("data", "message"),
    INVALID_SCHEDULES,
    ids=["not-dict", "day-8", "not-list", "one-time", "hour-25", "minute-60", "starts-24", "number", "overlap",
         "overnight-overlap", "sunday-into-monday"],
)  # fmt: skip
def test_validate_schedule_rejects_with_a_clear_message(data, message):
    with translation.override("en"), pytest.raises(ValidationError) as error:
        validate_schedule(data)
    assert message in " ".join(error.value.messages)


def test_always_open_is_around_the_clock():
    assert CalendarSpec.always_open().around_the_clock
    assert not SPECS["office"].around_the_clock
