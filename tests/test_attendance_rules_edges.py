"""Edge cases of the day rules: exact boundaries, the ``working`` flag, whole minutes, day bounds
in a zone with daylight saving, and an end of day inside the repeated hour of a fall-back day.

Expected values are written out by hand. Asia/Shanghai is UTC+8 all year; America/New_York
is EST (UTC-5) and EDT (UTC-4): clocks go 02:00 EST -> 03:00 EDT on Sunday 8 March 2026 (a
23-hour day) and 02:00 EDT -> 01:00 EST on Sunday 1 November 2026 (a 25-hour day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from facerec.attendance.models import Holiday, Schedule
from facerec.attendance.rules import (
    DayOutcome,
    _minutes,
    day_bounds,
    day_outcome,
    is_working_day,
)
from tests.test_attendance_rules import MONDAY, OFFICE, ZONE, at, outcome

NEW_YORK = ZoneInfo("America/New_York")
SATURDAY = date(2026, 11, 28)
FALL_BACK = date(2026, 11, 1)  # a Sunday in New York, 25 hours long
# Ends inside the hour that 1 November repeats: 01:30 EDT = 05:30 UTC is the first 01:30.
NIGHT = Schedule(
    name="night",
    start_time=time(0),
    end_time=time(1, 30),
    weekdays=[1, 2, 3, 4, 5, 6, 7],
    grace_minutes=0,
)


# --- day bounds -------------------------------------------------------------------------------


def test_day_bounds_of_an_ordinary_day_are_aware_and_one_day_apart() -> None:
    start, end = day_bounds(MONDAY, ZONE)
    assert start == datetime(2026, 11, 23, tzinfo=ZONE)
    assert end == datetime(2026, 11, 24, tzinfo=ZONE)  # the next day, not the one after
    assert end.utcoffset() == timedelta(hours=8)  # aware, in the zone
    assert end.astimezone(UTC) == datetime(2026, 11, 23, 16, tzinfo=UTC)  # 24:00 - 8 h


def test_the_short_day_in_march_has_23_hours() -> None:
    start, end = day_bounds(date(2026, 3, 8), NEW_YORK)
    assert start.utcoffset() == timedelta(hours=-5)  # 00:00 EST
    assert end.utcoffset() == timedelta(hours=-4)  # 00:00 EDT on the 9th
    assert start.astimezone(UTC) == datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 + 5 h
    assert end.astimezone(UTC) == datetime(2026, 3, 9, 4, tzinfo=UTC)  # 00:00 + 4 h
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)  # 24 + 4 - 5


def test_the_long_day_in_november_has_25_hours() -> None:
    start, end = day_bounds(FALL_BACK, NEW_YORK)
    assert start.utcoffset() == timedelta(hours=-4)  # 00:00 EDT
    assert end.utcoffset() == timedelta(hours=-5)  # 00:00 EST on the 2nd
    assert start.astimezone(UTC) == datetime(2026, 11, 1, 4, tzinfo=UTC)  # 00:00 + 4 h
    assert end.astimezone(UTC) == datetime(2026, 11, 2, 5, tzinfo=UTC)  # 00:00 + 5 h
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25)  # 24 + 5 - 4


# --- working days and the working flag -------------------------------------------------------


def test_without_a_schedule_no_day_is_a_working_day() -> None:
    assert is_working_day(MONDAY, OFFICE, None) is True
    assert is_working_day(MONDAY, None, None) is False
    # Not even a make-up day: without a schedule there are no hours to keep.
    assert is_working_day(SATURDAY, None, Holiday(day=SATURDAY, kind="workday")) is False


def test_an_off_day_shows_its_check_ins_and_counts_nothing() -> None:
    result = outcome(SATURDAY, at(SATURDAY, 15), at(SATURDAY, 10))
    assert result.status == "off"
    assert result.first_in == at(SATURDAY, 10)
    assert result.last_out == at(SATURDAY, 15)
    assert (result.minutes_late, result.minutes_early) == (0, 0)
    assert result.working is False


def test_a_holiday_with_late_and_early_check_ins_is_still_off() -> None:
    # 10:00 and 12:00 would be 60 min late and 360 min early on a working day.
    holiday = Holiday(day=MONDAY, kind="off")
    result = outcome(MONDAY, at(MONDAY, 10), at(MONDAY, 12), holiday=holiday)
    assert result.status == "off"
    assert result.last_out == at(MONDAY, 12)
    assert (result.minutes_late, result.minutes_early) == (0, 0)
    assert result.working is False
    no_schedule = outcome(MONDAY, at(MONDAY, 10), schedule=None)
    assert (no_schedule.status, no_schedule.working) == ("off", False)
    assert (no_schedule.minutes_late, no_schedule.minutes_early) == (0, 0)


def test_absent_present_late_and_left_early_are_working_days() -> None:
    absent = outcome(MONDAY)
    assert (absent.status, absent.working) == ("absent", True)
    assert (absent.first_in, absent.last_out) == (None, None)
    assert (absent.minutes_late, absent.minutes_early) == (0, 0)
    present = outcome(MONDAY, at(MONDAY, 8, 55), at(MONDAY, 18, 2))
    assert (present.status, present.working) == ("present", True)
    late = outcome(MONDAY, at(MONDAY, 9, 30), at(MONDAY, 18))
    assert (late.status, late.working) == ("late", True)
    early = outcome(MONDAY, at(MONDAY, 8, 55), at(MONDAY, 17))
    assert (early.status, early.working) == ("left_early", True)
    make_up = outcome(SATURDAY, holiday=Holiday(day=SATURDAY, kind="workday"))
    assert (make_up.status, make_up.working) == ("absent", True)


# --- check-ins and boundaries -------------------------------------------------------------------


def test_the_last_of_three_check_ins_is_the_check_out() -> None:
    result = outcome(MONDAY, at(MONDAY, 17, 58), at(MONDAY, 8, 50), at(MONDAY, 12))
    assert result.first_in == at(MONDAY, 8, 50)
    assert result.last_out == at(MONDAY, 17, 58)  # not the middle one, 12:00
    assert result.status == "present"  # 17:58 is not before 18:00 - 5 min
    assert result.minutes_early == 0


def test_the_day_closes_exactly_at_its_end() -> None:
    before = outcome(MONDAY, at(MONDAY, 8, 50), now=at(MONDAY, 17, 59))
    assert (before.status, before.minutes_early) == ("present", 0)  # the day is not over
    single = outcome(MONDAY, at(MONDAY, 8, 50), now=at(MONDAY, 18))
    assert single.status == "left_early"
    assert single.minutes_early == 550  # 18:00 - 08:50 = 9 h 10 min
    pair = outcome(MONDAY, at(MONDAY, 8, 50), at(MONDAY, 17, 30), now=at(MONDAY, 18))
    assert (pair.status, pair.minutes_early) == ("left_early", 30)  # 18:00 - 17:30


def test_a_single_check_in_near_or_after_the_end_counts_one_minute_early() -> None:
    # The only check-in is also the first: late by 17:59 - 09:00 = 8 h 59 min = 539 min.
    near = outcome(MONDAY, at(MONDAY, 17, 59))
    assert (near.status, near.minutes_late, near.minutes_early) == ("late", 539, 1)  # 18:00 - 17:59
    after = outcome(MONDAY, at(MONDAY, 18, 30))
    assert after.last_out is None  # one check-in: no check-out recorded
    # 18:30 - 09:00 = 570 min late; 18:00 - 18:30 is negative, but at least one minute early.
    assert (after.status, after.minutes_late, after.minutes_early) == ("late", 570, 1)


def test_a_check_out_exactly_at_end_minus_grace_is_on_time() -> None:
    on_time = outcome(MONDAY, at(MONDAY, 8, 50), at(MONDAY, 17, 55))  # 18:00 - 5 min
    assert (on_time.status, on_time.minutes_early) == ("present", 0)
    one_minute_more = outcome(MONDAY, at(MONDAY, 8, 50), at(MONDAY, 17, 54))
    assert (one_minute_more.status, one_minute_more.minutes_early) == ("left_early", 6)


def test_a_check_out_within_the_grace_is_on_time() -> None:
    result = outcome(MONDAY, at(MONDAY, 8, 50), at(MONDAY, 17, 56))  # 17:55 <= 17:56 < 18:00
    assert (result.status, result.minutes_early) == ("present", 0)
    last_second = outcome(MONDAY, at(MONDAY, 8, 50), at(MONDAY, 17, 59, 59))
    assert (last_second.status, last_second.minutes_early) == ("present", 0)


def test_minutes_are_whole_and_never_negative() -> None:
    assert _minutes(timedelta(seconds=90)) == 1  # 1.5 min
    assert _minutes(timedelta(seconds=59)) == 0
    assert _minutes(timedelta(0)) == 0
    assert _minutes(timedelta(seconds=60)) == 1
    assert _minutes(timedelta(seconds=119)) == 1
    assert _minutes(timedelta(hours=9, minutes=10, seconds=59)) == 550  # 540 + 10
    assert _minutes(timedelta(seconds=-30)) == 0
    assert _minutes(timedelta(minutes=-90)) == 0


# --- an end of day inside the repeated hour ------------------------------------------------------


def night_outcome(*times: datetime, now: datetime) -> DayOutcome:
    return day_outcome(
        day=FALL_BACK, schedule=NIGHT, holiday=None, times=list(times), now=now, zone=NEW_YORK
    )


def test_a_check_out_forty_minutes_after_an_end_in_the_repeated_hour_is_on_time() -> None:
    arrive = datetime(2026, 11, 1, 4, tzinfo=UTC)  # 00:00 EDT, the start
    leave = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, the second 01:10
    # The end, 01:30 EDT = 05:30 UTC, was 40 minutes before the check-out: not early.
    result = night_outcome(arrive, leave, now=leave)
    assert result.last_out is not None
    # (Compared in UTC: Python never finds an ambiguous local time equal to another zone's.)
    assert result.last_out.astimezone(UTC) == leave
    assert result.last_out.utcoffset() == timedelta(hours=-5)  # read as EST, the second 01:10
    assert (result.status, result.minutes_late, result.minutes_early) == ("present", 0, 0)


def test_the_same_check_out_is_on_time_once_the_day_is_over() -> None:
    arrive = datetime(2026, 11, 1, 4, tzinfo=UTC)  # 00:00 EDT
    leave = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST = 40 min after 05:30 UTC
    result = night_outcome(arrive, leave, now=datetime(2026, 11, 1, 7, tzinfo=UTC))  # 02:00 EST
    assert (result.status, result.minutes_early) == ("present", 0)
