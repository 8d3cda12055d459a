"""Work schedules, per-person overrides and the holiday calendar."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from facerec.attendance.models import (
    Holiday,
    HolidayIn,
    HolidayPublic,
    PersonSchedule,
    PersonScheduleIn,
    Schedule,
    ScheduleIn,
    SchedulePublic,
)
from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.db.engine import lock_for_write
from facerec.errors import NotFound, ValidationFailed
from facerec.people.service import get_person


def list_schedules(*, session: Session) -> list[SchedulePublic]:
    rows = session.exec(select(Schedule).order_by(col(Schedule.id))).all()
    return [SchedulePublic(**r.model_dump()) for r in rows]


def save_schedule(
    *, session: Session, schedule_in: ScheduleIn, schedule_id: int | None, actor: Principal
) -> SchedulePublic:
    """Create (``schedule_id`` None) or replace a schedule; one default at a time."""
    _check(schedule_in)
    lock_for_write(session)
    before = None
    if schedule_id is None:
        schedule = Schedule(**schedule_in.model_dump())
    else:
        schedule = _get(session, schedule_id)
        before = ScheduleIn(**schedule.model_dump()).model_dump(mode="json")
        for key, value in schedule_in.model_dump().items():
            setattr(schedule, key, value)
    if schedule.is_default:
        for other in session.exec(select(Schedule).where(col(Schedule.is_default))).all():
            if other.id != schedule.id:
                other.is_default = False
                session.add(other)
    session.add(schedule)
    session.flush()
    record(
        session,
        actor=actor,
        action="save_schedule",
        entity="schedule",
        entity_id=schedule.id,
        details={**schedule_in.model_dump(mode="json"), "before": before},
    )
    session.commit()
    return SchedulePublic(**schedule.model_dump())


def delete_schedule(*, session: Session, schedule_id: int, actor: Principal) -> None:
    lock_for_write(session)
    schedule = _get(session, schedule_id)
    for link in session.exec(
        select(PersonSchedule).where(PersonSchedule.schedule_id == schedule_id)
    ):
        session.delete(link)
    session.delete(schedule)
    record(
        session,
        actor=actor,
        action="delete_schedule",
        entity="schedule",
        entity_id=schedule_id,
        details={"before": ScheduleIn(**schedule.model_dump()).model_dump(mode="json")},
    )
    session.commit()


def set_person_schedule(
    *, session: Session, person_id: int, schedule_id: int | None, actor: Principal
) -> None:
    lock_for_write(session)
    get_person(session=session, person_id=person_id)
    link = session.get(PersonSchedule, person_id)
    before = link.schedule_id if link is not None else None
    if schedule_id is None:
        if link is not None:
            session.delete(link)
    else:
        _get(session, schedule_id)
        link = link or PersonSchedule(person_id=person_id, schedule_id=schedule_id)
        link.schedule_id = schedule_id
        session.add(link)
    record(
        session,
        actor=actor,
        action="set_person_schedule",
        entity="person",
        entity_id=person_id,
        details={"schedule_id": schedule_id, "before": before},
    )
    session.commit()


def person_schedule(*, session: Session, person_id: int) -> PersonScheduleIn:
    """The person's own schedule id, or None when they follow the default."""
    get_person(session=session, person_id=person_id)
    link = session.get(PersonSchedule, person_id)
    return PersonScheduleIn(schedule_id=link.schedule_id if link else None)


def schedules_for(*, session: Session, person_ids: list[int]) -> dict[int, Schedule | None]:
    """Each person's schedule: their own, else the default (None when there is none)."""
    default = session.exec(select(Schedule).where(col(Schedule.is_default))).first()
    own = dict(
        session.exec(
            select(PersonSchedule.person_id, Schedule)
            .join(Schedule, col(Schedule.id) == col(PersonSchedule.schedule_id))
            .where(col(PersonSchedule.person_id).in_(person_ids))
        ).all()
    )
    return {pid: own.get(pid, default) for pid in person_ids}


def list_holidays(*, session: Session, start: date | None, end: date | None) -> list[HolidayPublic]:
    query = select(Holiday).order_by(col(Holiday.day))
    if start:
        query = query.where(col(Holiday.day) >= start)
    if end:
        query = query.where(col(Holiday.day) <= end)
    return [HolidayPublic(**h.model_dump()) for h in session.exec(query).all()]


def holidays_between(*, session: Session, start: date, end: date) -> dict[date, Holiday]:
    rows = session.exec(
        select(Holiday).where(col(Holiday.day) >= start, col(Holiday.day) <= end)
    ).all()
    return {h.day: h for h in rows}


def put_holiday(
    *, session: Session, day: date, holiday_in: HolidayIn, actor: Principal
) -> HolidayPublic:
    lock_for_write(session)
    holiday = session.get(Holiday, day)
    before = None if holiday is None else HolidayIn(**holiday.model_dump()).model_dump()
    holiday = holiday or Holiday(day=day)
    holiday.name, holiday.kind = holiday_in.name, holiday_in.kind
    session.add(holiday)
    record(
        session,
        actor=actor,
        action="put_holiday",
        entity="holiday",
        entity_id=None,
        details={"day": day.isoformat(), **holiday_in.model_dump(), "before": before},
    )
    session.commit()
    return HolidayPublic(**holiday.model_dump())


def delete_holiday(*, session: Session, day: date, actor: Principal) -> None:
    lock_for_write(session)
    holiday = session.get(Holiday, day)
    if holiday is None:
        raise NotFound(f"no holiday on {day.isoformat()}", resource="holiday")
    session.delete(holiday)
    record(
        session,
        actor=actor,
        action="delete_holiday",
        entity="holiday",
        entity_id=None,
        details={"day": day.isoformat(), "before": HolidayIn(**holiday.model_dump()).model_dump()},
    )
    session.commit()


def _get(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"no schedule with id {schedule_id}", resource="schedule", id=schedule_id)
    return schedule


def _check(schedule_in: ScheduleIn) -> None:
    if schedule_in.end_time <= schedule_in.start_time:
        raise ValidationFailed("end_time must be after start_time (same day)", field="end_time")
    if any(d not in range(1, 8) for d in schedule_in.weekdays):
        raise ValidationFailed("weekdays are 1 (Monday) to 7 (Sunday)", field="weekdays")
