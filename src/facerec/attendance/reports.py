"""Per-person, per-day attendance over a date range, with totals; and today at a glance."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from facerec.attendance.events import public_event
from facerec.attendance.models import (
    AttendanceEvent,
    DayRow,
    Holiday,
    PersonTotals,
    Report,
    Schedule,
    TodaySummary,
)
from facerec.attendance.rules import day_bounds, day_outcome
from facerec.attendance.schedules import holidays_between, schedules_for
from facerec.errors import NotFound, ValidationFailed
from facerec.people.models import Person

MAX_DAYS = 366


def build_report(
    *,
    session: Session,
    start: date,
    end: date,
    person_id: int | None,
    now: datetime,
    zone: ZoneInfo,
) -> Report:
    """Rows for every person and every day from ``start`` to ``end`` (inclusive), up to today."""
    if end < start:
        raise ValidationFailed("'to' must not be before 'from'", field="to")
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_DAYS} days", field="to")
    today = now.astimezone(zone).date()
    last = min(end, today)
    people = _people(session, person_id, start, last)
    days = [start + timedelta(days=i) for i in range((last - start).days + 1)]
    times = _event_times(session, [p.id or 0 for p in people], start, last, zone)
    schedules = schedules_for(session=session, person_ids=[p.id or 0 for p in people])
    holidays = holidays_between(session=session, start=start, end=last)
    rows = [
        _row(
            person,
            day,
            schedule=schedules[person.id or 0],
            holiday=holidays.get(day),
            times=times,
            now=now,
            zone=zone,
        )
        for person in people
        for day in days
    ]
    return Report(start=start, end=end, timezone=zone.key, rows=rows, totals=_totals(people, rows))


def today_summary(
    *, session: Session, now: datetime, zone: ZoneInfo, recent: int = 20
) -> TodaySummary:
    today = now.astimezone(zone).date()
    report = build_report(
        session=session, start=today, end=today, person_id=None, now=now, zone=zone
    )
    counts: dict[str, int] = defaultdict(int)  # "inactive" rows count in none
    for row in report.rows:
        counts["present" if row.status == "left_early" else row.status] += 1
    begin, finish = day_bounds(today, zone)
    events = session.exec(
        select(AttendanceEvent, Person.name, Person.deleted_at)
        .join(Person, col(Person.id) == col(AttendanceEvent.person_id))
        .where(col(AttendanceEvent.time) >= begin, col(AttendanceEvent.time) < finish)
        .order_by(col(AttendanceEvent.time).desc())
        .limit(recent)
    ).all()
    return TodaySummary(
        day=today,
        timezone=zone.key,
        present=counts["present"] + counts["late"],
        late=counts["late"],
        absent=counts["absent"],
        off=counts["off"],
        recent=[public_event(e, name, zone, removed=gone is not None) for e, name, gone in events],
    )


def _people(session: Session, person_id: int | None, first: date, last: date) -> list[Person]:
    """People expected on some day of [first, last]: removed people too (their history
    stays), not those who started after it or ended before it. With ``person_id``, that
    person (404 if they never existed), even outside their dates."""
    query = select(Person).order_by(col(Person.name), col(Person.id))
    if person_id is not None:
        query = query.where(Person.id == person_id)
    people = list(session.exec(query).all())
    if person_id is not None and not people:
        raise NotFound(f"no person with id {person_id}", resource="person", id=person_id)
    if person_id is None:
        people = [p for p in people if _overlaps(p, first, last)]
    return people


def _overlaps(person: Person, first: date, last: date) -> bool:
    """Their dates meet [first, last]."""
    starts_in_time = person.start_date is None or person.start_date <= last
    return starts_in_time and (person.end_date is None or person.end_date >= first)


def _employed(person: Person, day: date) -> bool:
    """Expected on ``day``: on or after their start date and on or before their end date."""
    if person.start_date is not None and day < person.start_date:
        return False
    return person.end_date is None or day <= person.end_date


def _event_times(
    session: Session, person_ids: list[int], start: date, end: date, zone: ZoneInfo
) -> dict[tuple[int, date], list[datetime]]:
    begin, _ = day_bounds(start, zone)
    _, finish = day_bounds(end, zone)
    rows = session.exec(
        select(AttendanceEvent.person_id, AttendanceEvent.time)
        .where(col(AttendanceEvent.person_id).in_(person_ids))
        .where(col(AttendanceEvent.time) >= begin, col(AttendanceEvent.time) < finish)
    ).all()
    grouped: dict[tuple[int, date], list[datetime]] = defaultdict(list)
    for pid, moment in rows:
        grouped[(pid, moment.astimezone(zone).date())].append(moment)
    return grouped


def _row(
    person: Person,
    day: date,
    *,
    schedule: Schedule | None,
    holiday: Holiday | None,
    times: dict[tuple[int, date], list[datetime]],
    now: datetime,
    zone: ZoneInfo,
) -> DayRow:
    moments = times.get((person.id or 0, day), [])
    outcome = day_outcome(
        day=day, schedule=schedule, holiday=holiday, times=moments, now=now, zone=zone
    )
    # Outside their dates a day is not theirs to miss; check-ins then still show.
    inactive = outcome.status in ("absent", "off") and not _employed(person, day)
    return DayRow(
        person_id=person.id or 0,
        name=person.name,
        external_id=person.external_id,
        removed=person.deleted_at is not None,
        day=day,
        status="inactive" if inactive else outcome.status,
        first_in=outcome.first_in,
        last_out=outcome.last_out,
        minutes_late=outcome.minutes_late,
        minutes_early=outcome.minutes_early,
        events=len(moments),
    )


def _totals(people: list[Person], rows: list[DayRow]) -> list[PersonTotals]:
    by_person: dict[int, list[DayRow]] = defaultdict(list)
    for row in rows:
        by_person[row.person_id].append(row)
    totals = []
    for person in people:
        mine = by_person.get(person.id or 0, [])
        working = [r for r in mine if r.status not in ("off", "inactive")]
        totals.append(
            PersonTotals(
                person_id=person.id or 0,
                name=person.name,
                external_id=person.external_id,
                removed=person.deleted_at is not None,
                working_days=len(working),
                present=sum(r.status != "absent" for r in working),
                late=sum(r.minutes_late > 0 for r in working),
                left_early=sum(r.minutes_early > 0 for r in working),
                absent=sum(r.status == "absent" for r in working),
                minutes_late=sum(r.minutes_late for r in working),
            )
        )
    return totals
