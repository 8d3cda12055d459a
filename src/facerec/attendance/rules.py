"""Day status from a schedule, a holiday calendar and the day's check-in times. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from facerec.attendance.models import DayStatus, Holiday, Schedule


@dataclass(frozen=True, slots=True)
class DayOutcome:
    status: DayStatus
    first_in: datetime | None
    last_out: datetime | None
    """The last check-in of the day, when there were at least two."""
    minutes_late: int
    minutes_early: int
    working: bool


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day's first instant and the next day's, timezone-aware."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def is_working_day(day: date, schedule: Schedule | None, holiday: Holiday | None) -> bool:
    if schedule is None:
        return False
    if holiday is not None:
        return holiday.kind == "workday"
    return day.isoweekday() in schedule.weekdays


def day_outcome(
    *,
    day: date,
    schedule: Schedule | None,
    holiday: Holiday | None,
    times: list[datetime],
    now: datetime,
    zone: ZoneInfo,
) -> DayOutcome:
    """Status of one person's day.

    - ``off``: not a working day (weekend, holiday, no schedule); check-ins still show.
    - ``absent``: a working day without any check-in.
    - ``late``: first check-in after start + grace; minutes counted from the start.
    - ``left_early``: the day's end has passed and the last check-in came before
      end - grace (a single check-in counts as no check-out, i.e. left early).
    - ``present``: otherwise.
    """
    local = sorted(t.astimezone(zone) for t in times)
    first_in = local[0] if local else None
    last_out = local[-1] if len(local) > 1 else None
    working = is_working_day(day, schedule, holiday)
    if not working or schedule is None:
        return DayOutcome("off", first_in, last_out, 0, 0, working=False)
    if first_in is None:
        return DayOutcome("absent", None, None, 0, 0, working=True)
    grace = timedelta(minutes=schedule.grace_minutes)
    # In UTC: Python compares two times of one zone by their wall clocks, which puts
    # 01:10 EST before 01:30 EDT on the day the clocks go back.
    start = datetime.combine(day, schedule.start_time, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day, schedule.end_time, tzinfo=zone).astimezone(UTC)
    minutes_late = _minutes(first_in - start) if first_in > start + grace else 0
    minutes_early = 0
    if now.astimezone(zone) >= end:
        if last_out is None:  # one check-in only: no check-out was recorded
            minutes_early = max(1, _minutes(end - first_in))
        elif last_out < end - grace:
            minutes_early = _minutes(end - last_out)
    status: DayStatus = "late" if minutes_late else "left_early" if minutes_early else "present"
    return DayOutcome(status, first_in, last_out, minutes_late, minutes_early, working=True)


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))
