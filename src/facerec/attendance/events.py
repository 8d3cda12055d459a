"""Listing attendance events, and admin corrections (each one audited)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from facerec.attendance.models import AttendanceEvent, EventCreate, EventPage, EventPublic
from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.db.engine import lock_for_write
from facerec.errors import NotFound
from facerec.people.models import Person
from facerec.people.service import get_person


def list_events(
    *,
    session: Session,
    start: datetime | None,
    end: datetime | None,
    person_id: int | None,
    offset: int,
    limit: int,
    zone: ZoneInfo,
) -> EventPage:
    """Events in [start, end), newest first."""
    query = select(AttendanceEvent, Person.name, Person.deleted_at).join(
        Person, col(Person.id) == col(AttendanceEvent.person_id)
    )
    if start is not None:
        query = query.where(col(AttendanceEvent.time) >= start)
    if end is not None:
        query = query.where(col(AttendanceEvent.time) < end)
    if person_id is not None:
        query = query.where(AttendanceEvent.person_id == person_id)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AttendanceEvent.time).desc(), col(AttendanceEvent.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    items = [public_event(e, name, zone, removed=gone is not None) for e, name, gone in rows]
    return EventPage(items=items, total=int(total))


def public_event(
    event: AttendanceEvent, name: str, zone: ZoneInfo, *, removed: bool = False
) -> EventPublic:
    return EventPublic(
        id=event.id or 0,
        person_id=event.person_id,
        name=name,
        time=event.time.astimezone(zone),
        similarity=event.similarity,
        device=event.device,
        source=event.source,
        has_crop=event.crop_path is not None,
        removed=removed,
    )


def add_event(
    *, session: Session, event_in: EventCreate, actor: Principal, zone: ZoneInfo
) -> EventPublic:
    """An admin records a check-in that the camera missed."""
    moment = event_in.time if event_in.time.tzinfo else event_in.time.replace(tzinfo=zone)
    lock_for_write(session)
    person = get_person(session=session, person_id=event_in.person_id)
    event = AttendanceEvent(
        person_id=event_in.person_id, time=moment, device=event_in.device, source="manual"
    )
    session.add(event)
    session.flush()
    record(
        session,
        actor=actor,
        action="add_event",
        entity="event",
        entity_id=event.id,
        reason=event_in.reason,
        details={"person_id": event.person_id, "time": moment.isoformat(), "device": event.device},
    )
    session.commit()
    return public_event(event, person.name, zone)


def delete_event(*, session: Session, event_id: int, reason: str, actor: Principal) -> str | None:
    """Remove a wrong event; the audit entry keeps what it was. Returns its crop path."""
    lock_for_write(session)
    event = get_event(session=session, event_id=event_id)
    record(
        session,
        actor=actor,
        action="delete_event",
        entity="event",
        entity_id=event_id,
        reason=reason,
        details={
            "person_id": event.person_id,
            "time": event.time.isoformat(),
            "similarity": event.similarity,
            "device": event.device,
            "source": event.source,
        },
    )
    crop = event.crop_path
    session.delete(event)
    session.commit()
    return crop


def get_event(*, session: Session, event_id: int) -> AttendanceEvent:
    event = session.get(AttendanceEvent, event_id)
    if event is None:
        raise NotFound(f"no attendance event with id {event_id}", resource="event", id=event_id)
    return event
