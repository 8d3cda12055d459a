"""Removing a person: their biometric data goes, their attendance history stays.

The ``people`` row becomes a tombstone (``deleted_at``): it keeps the history's person id
and, by ``privacy.removed_person_name``, their name or ``Removed person #<id>``. In one
write transaction: their faces go through the face deletion path (change log, so every
worker's index drops them), with the images no other face uses; their check-in events
lose their crops (the rows stay, for reports); the unknown faces that were assigned to
them (or enrolled as them) go; external id and note are cleared; the end date becomes the
removal day unless it is earlier; an audit entry says who removed whom. Files are
deleted only after the commit, each re-checked under the write lock: a crash in between
leaves files that no row refers to (the start-up sweep removes them), never a row
pointing at a missing file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from sqlmodel import Session, select

from facerec.attendance.crops import remove_unreferenced_crops
from facerec.attendance.models import AttendanceEvent, UnknownFace
from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.db.engine import lock_for_write
from facerec.faces.models import Face
from facerec.faces.service import delete_faces, remove_unreferenced_files
from facerec.faces.storage import ImageStore
from facerec.people.service import get_person
from facerec.webhooks import outbox

NameRule = Literal["keep", "anonymise"]


def removed_name(person_id: int) -> str:
    """What an anonymised removed person is called in reports and the audit log."""
    return f"Removed person #{person_id}"


@dataclass(slots=True)
class Removal:
    """What a removal erased (the audit entry's details) and the files to delete."""

    person_id: int
    name: str
    faces: int = 0
    events_kept: int = 0
    crops: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    unknown_faces: int = 0


def remove_person(
    *,
    session: Session,
    store: ImageStore,
    crops: ImageStore,
    person_id: int,
    now: datetime,
    today: date,
    names: NameRule,
    actor: Principal,
) -> Removal:
    """Remove the person (see the module docstring). ``today`` is the local day of ``now``
    in the attendance zone. ``NotFound`` if there is no such person or they were removed."""
    lock_for_write(session)
    person = get_person(session=session, person_id=person_id)
    faces = list(session.exec(select(Face).where(Face.person_id == person_id)).all())
    removal = Removal(person_id=person_id, name=person.name, faces=len(faces))
    removal.images = delete_faces(session=session, faces=faces)
    _drop_event_crops(session, removal)
    _drop_unknown_faces(session, removal)
    if names == "anonymise":
        person.name = removal.name = removed_name(person_id)
    person.external_id = person.note = None
    person.end_date = today if person.end_date is None else min(person.end_date, today)
    person.deleted_at = person.updated_at = now
    session.add(person)
    record(
        session,
        actor=actor,
        action="delete",
        entity="person",
        entity_id=person_id,
        details={
            "name": removal.name,
            "faces": removal.faces,
            "events_kept": removal.events_kept,
            "crops_removed": len(removal.crops),
            "unknown_faces_removed": removal.unknown_faces,
        },
    )
    outbox.emit(session, "person.deleted", {"person_id": person_id, "name": removal.name}, now=now)
    session.commit()
    remove_unreferenced_files(session=session, store=store, paths=removal.images)
    remove_unreferenced_crops(session=session, crops=crops, paths=removal.crops)
    return removal


def _drop_event_crops(session: Session, removal: Removal) -> None:
    events = session.exec(
        select(AttendanceEvent).where(AttendanceEvent.person_id == removal.person_id)
    ).all()
    removal.events_kept = len(events)
    for event in events:
        if event.crop_path is not None:
            removal.crops.append(event.crop_path)
            event.crop_path = None
            session.add(event)


def _drop_unknown_faces(session: Session, removal: Removal) -> None:
    rows = session.exec(select(UnknownFace).where(UnknownFace.person_id == removal.person_id)).all()
    removal.unknown_faces = len(rows)
    for row in rows:
        removal.crops.append(row.crop_path)
        session.delete(row)
    session.flush()
