"""People registry. Keyword-only functions, session first; no HTTP here."""

from __future__ import annotations

from datetime import UTC, date

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.db.engine import lock_for_write
from facerec.db.models import utcnow
from facerec.errors import Conflict, NotFound, ValidationFailed
from facerec.faces.models import Face
from facerec.people.models import PeoplePage, Person, PersonCreate, PersonPublic, PersonUpdate
from facerec.webhooks import outbox

AUDITED_VALUES = ("start_date", "end_date")
"""Fields whose values the audit log keeps; of the others (name, external id, note) only
that they changed: a removal (``removal.py``) must be able to erase them."""
WEBHOOK_FIELDS = {"name", "external_id", "start_date", "created_at"}
"""What the ``person.created`` webhook tells (``facerec.webhooks``)."""


def create_person(
    *, session: Session, person_in: PersonCreate, today: date | None = None, actor: Principal
) -> PersonPublic:
    """``today``: the local day in the attendance zone, the default ``start_date`` (stored,
    so that a later zone change does not move it); without it, the UTC day. Audited."""
    lock_for_write(session)
    person = Person.model_validate(person_in)
    if person.start_date is None:
        person.start_date = today or person.created_at.astimezone(UTC).date()
    session.add(person)
    _commit(session, person_in.external_id, flush_only=True)  # the id, for the entry
    record(
        session,
        actor=actor,
        action="create",
        entity="person",
        entity_id=person.id,
        details={
            "fields": sorted(person_in.model_dump(exclude_unset=True)),
            "after": {k: _json(getattr(person, k)) for k in AUDITED_VALUES},
        },
    )
    payload = {"person_id": person.id, **person.model_dump(include=WEBHOOK_FIELDS)}
    outbox.emit(session, "person.created", payload)
    _commit(session, person_in.external_id)
    return _public(session, person)


def get_person(*, session: Session, person_id: int) -> Person:
    """The person, unless there is none or they were removed (both: ``NotFound``)."""
    person = session.get(Person, person_id)
    if person is None or person.deleted_at is not None:
        raise NotFound(f"no person with id {person_id}", resource="person", id=person_id)
    return person


def read_person(*, session: Session, person_id: int) -> PersonPublic:
    return _public(session, get_person(session=session, person_id=person_id))


def list_people(*, session: Session, q: str | None, offset: int, limit: int) -> PeoplePage:
    query = select(Person).where(col(Person.deleted_at).is_(None))
    if q:
        pattern = f"%{q}%"
        query = query.where(
            or_(col(Person.name).ilike(pattern), col(Person.external_id).ilike(pattern))
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    people = session.exec(
        query.order_by(col(Person.name), col(Person.id)).offset(offset).limit(limit)
    ).all()
    summary = face_summary(session=session, person_ids=[p.id for p in people if p.id is not None])
    items = [_with_faces(p, summary) for p in people]
    return PeoplePage(items=items, total=int(total))


def update_person(
    *, session: Session, person_id: int, person_in: PersonUpdate, actor: Principal
) -> PersonPublic:
    """Change the fields sent; audited (values of ``AUDITED_VALUES`` before and after)."""
    lock_for_write(session)
    person = get_person(session=session, person_id=person_id)
    changes = person_in.model_dump(exclude_unset=True)
    for required in ("name", "start_date"):
        if changes.get(required, ...) is None:
            changes.pop(required, None)
    before = {k: _json(getattr(person, k)) for k in AUDITED_VALUES if k in changes}
    for key, value in changes.items():
        setattr(person, key, value)
    if person.end_date is not None and person.start_date and person.end_date < person.start_date:
        session.rollback()
        raise ValidationFailed("end_date must not be before start_date", field="end_date")
    person.updated_at = utcnow()
    session.add(person)
    record(
        session,
        actor=actor,
        action="update",
        entity="person",
        entity_id=person_id,
        details={
            "fields": sorted(changes),
            "before": before,
            "after": {k: _json(getattr(person, k)) for k in before},
        },
    )
    _commit(session, changes.get("external_id"))
    return _public(session, person)


def face_summary(*, session: Session, person_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per person: (number of faces, id of their first face)."""
    if not person_ids:
        return {}
    rows = session.exec(
        select(Face.person_id, func.count(), func.min(Face.id))
        .where(col(Face.person_id).in_(person_ids))
        .group_by(col(Face.person_id))
    ).all()
    return {int(pid): (int(n), int(first or 0)) for pid, n, first in rows}


def _with_faces(person: Person, summary: dict[int, tuple[int, int]]) -> PersonPublic:
    count, cover = summary.get(person.id or 0, (0, None))
    return PersonPublic(**person.model_dump(), face_count=count, cover_face_id=cover)


def names_of(*, session: Session, person_ids: list[int]) -> dict[int, str]:
    if not person_ids:
        return {}
    rows = session.exec(
        select(Person.id, Person.name)
        .where(col(Person.id).in_(person_ids))
        .where(col(Person.deleted_at).is_(None))
    ).all()
    return {int(pid or 0): name for pid, name in rows}


def _public(session: Session, person: Person) -> PersonPublic:
    assert person.id is not None
    return _with_faces(person, face_summary(session=session, person_ids=[person.id]))


def _json(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _commit(session: Session, external_id: str | None, *, flush_only: bool = False) -> None:
    try:
        if flush_only:
            session.flush()
        else:
            session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            f"another person already has external_id {external_id!r}", field="external_id"
        ) from exc
