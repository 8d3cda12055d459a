"""Day status on fixed clocks: late, absent, left early, off days, holidays, make-up days."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from facerec.attendance.models import Holiday, Schedule
from facerec.attendance.rules import DayOutcome, day_outcome

ZONE = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 23)
SATURDAY = date(2026, 11, 28)
OFFICE = Schedule(
    name="office",
    start_time=time(9),
    end_time=time(18),
    weekdays=[1, 2, 3, 4, 5],
    grace_minutes=5,
)


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=ZONE)


def outcome(
    day: date,
    *times: datetime,
    now: datetime | None = None,
    holiday: Holiday | None = None,
    schedule: Schedule | None = OFFICE,
) -> DayOutcome:
    return day_outcome(
        day=day,
        schedule=schedule,
        holiday=holiday,
        times=list(times),
        now=now or at(day, 23, 59),
        zone=ZONE,
    )


def test_on_time_all_day_is_present() -> None:
    result = outcome(MONDAY, at(MONDAY, 8, 55), at(MONDAY, 18, 2))
    assert result.status == "present"
    assert (result.minutes_late, result.minutes_early) == (0, 0)
    assert result.first_in == at(MONDAY, 8, 55)
    assert result.last_out == at(MONDAY, 18, 2)


def test_within_grace_is_not_late_but_after_it_is() -> None:
    assert outcome(MONDAY, at(MONDAY, 9, 5), at(MONDAY, 18)).status == "present"
    late = outcome(MONDAY, at(MONDAY, 9, 6), at(MONDAY, 18))
    assert late.status == "late"
    assert late.minutes_late == 6  # counted from the start, not from the grace


def test_no_check_in_on_a_working_day_is_absent() -> None:
    assert outcome(MONDAY).status == "absent"


def test_leaving_early_and_missing_check_out() -> None:
    early = outcome(MONDAY, at(MONDAY, 8, 50), at(MONDAY, 17, 30))
    assert early.status == "left_early"
    assert early.minutes_early == 30
    single = outcome(MONDAY, at(MONDAY, 8, 50))
    assert single.status == "left_early"  # no check-out recorded
    assert single.last_out is None
    during_the_day = outcome(MONDAY, at(MONDAY, 8, 50), now=at(MONDAY, 12))
    assert during_the_day.status == "present"  # the day is not over yet


def test_late_and_left_early_reports_late_with_both_counts() -> None:
    result = outcome(MONDAY, at(MONDAY, 10), at(MONDAY, 17))
    assert result.status == "late"
    assert (result.minutes_late, result.minutes_early) == (60, 60)


def test_weekends_holidays_and_make_up_days() -> None:
    assert outcome(SATURDAY).status == "off"
    assert outcome(SATURDAY, at(SATURDAY, 10)).first_in == at(SATURDAY, 10)
    assert outcome(MONDAY, holiday=Holiday(day=MONDAY, kind="off")).status == "off"
    workday = Holiday(day=SATURDAY, kind="workday")
    assert outcome(SATURDAY, holiday=workday).status == "absent"
    assert outcome(MONDAY, schedule=None).status == "off"


def test_times_are_read_in_the_local_zone() -> None:
    utc_morning = datetime(2026, 11, 23, 1, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 in Shanghai
    result = outcome(MONDAY, utc_morning, at(MONDAY, 18))
    assert result.minutes_late == 30
    assert result.first_in is not None
    assert result.first_in.utcoffset() == at(MONDAY, 0).utcoffset()
