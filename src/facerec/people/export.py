"""Everything stored about one person, as a ZIP (for a subject access request). No HTTP.

The archive holds:

- ``person.json``: the record, their own schedule, their faces (box, landmarks, quality,
  model and the descriptor itself: it is personal data we store, and the photos in
  the same archive yield it again anyway, so leaving it out would hide nothing from a
  thief, only from the person), their unknown-face sightings, the audit entries about
  them, and the files that were listed but could not be read;
- ``photos/face-<face id>.<ext>``: the original uploaded files;
- ``events.csv``: their attendance events (UTF-8 with BOM, no cell runs as a formula);
- ``crops/event-<event id>.jpg``: check-in crops still kept;
- ``unknown/unknown-<id>.jpg``: crops of unknown faces later enrolled or assigned to them.

It is written member by member into the file the caller gives (a temporary file), so
memory stays small whatever the number of photos and events.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePosixPath
from typing import IO, Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlmodel import Session, col, select

from facerec.attendance.export import csv_cell
from facerec.attendance.models import AttendanceEvent, PersonSchedule, UnknownFace
from facerec.audit import record
from facerec.audit.models import AuditEntry
from facerec.auth.principal import Principal
from facerec.db.engine import lock_for_write
from facerec.faces.models import Face, Image
from facerec.faces.storage import ImageStore
from facerec.people.service import get_person

EVENTS_HEADER = [
    "event_id",
    "time_utc",
    "local_time",
    "similarity",
    "device",
    "source",
    "crop",
]
PAGE = 1000
"""Events read per query while writing ``events.csv``."""


def export_person(
    *,
    session: Session,
    store: ImageStore,
    crops: ImageStore,
    person_id: int,
    out: IO[bytes],
    now: datetime,
    zone: ZoneInfo,
    actor: Principal,
) -> str:
    """Write the person's ZIP to ``out`` and audit the disclosure; the file name to offer."""
    person = get_person(session=session, person_id=person_id)  # a removed person: NotFound
    missing: list[str] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        faces = _write_photos(archive, session, store, person_id, missing)
        events = _write_events(
            archive, session, crops=crops, person_id=person_id, zone=zone, missing=missing
        )
        unknown = _write_unknown(archive, session, crops, person_id, missing)
        document = {
            "exported_at": now.isoformat(),
            "person": person.model_dump(mode="json"),
            "schedule_id": _schedule_id(session, person_id),
            "faces": faces,
            "events": {"file": "events.csv", "count": events},
            "unknown_faces": unknown,
            "audit": _audit_entries(session, person_id),
            "missing_files": missing,
        }
        archive.writestr("person.json", json.dumps(document, ensure_ascii=False, indent=2))
    _record(session, person_id, now, actor, faces=len(faces), events=events, unknown=unknown)
    return f"facerec-person-{person_id}-{now.astimezone(zone):%Y%m%d}.zip"


def _copy(
    archive: zipfile.ZipFile, store: ImageStore, path: str, arcname: str, missing: list[str]
) -> str | None:
    """Add the stored file (already compressed: stored as is); None if it is gone."""
    source = store.root / path
    if not source.is_file():
        missing.append(arcname)
        return None
    archive.write(source, arcname, compress_type=zipfile.ZIP_STORED)
    return arcname


def _write_photos(
    archive: zipfile.ZipFile,
    session: Session,
    store: ImageStore,
    person_id: int,
    missing: list[str],
) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Face, Image)
        .join(Image, col(Image.id) == col(Face.image_id))
        .where(Face.person_id == person_id)
        .order_by(col(Face.id))
    ).all()
    faces = []
    for face, image in rows:
        arcname = f"photos/face-{face.id}{PurePosixPath(image.path).suffix}"
        faces.append(
            {
                "id": face.id,
                "photo": _copy(archive, store, image.path, arcname, missing),
                "image": {
                    "id": image.id,
                    "sha256": image.sha256,
                    "size": image.size,
                    "width": image.width,
                    "height": image.height,
                    "format": image.format,
                },
                "box": face.box,
                "landmarks": face.landmarks,
                "det_score": face.det_score,
                "quality": face.quality,
                "model": face.model,
                "created_at": face.created_at.isoformat(),
                "embedding": face.vector().tolist(),
            }
        )
    return faces


def _events(session: Session, person_id: int) -> Iterator[AttendanceEvent]:
    """The person's events in id order, a page at a time."""
    after = 0
    while True:
        page = session.exec(
            select(AttendanceEvent)
            .where(AttendanceEvent.person_id == person_id, col(AttendanceEvent.id) > after)
            .order_by(col(AttendanceEvent.id))
            .limit(PAGE)
        ).all()
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id or 0


def _write_events(
    archive: zipfile.ZipFile,
    session: Session,
    *,
    crops: ImageStore,
    person_id: int,
    zone: ZoneInfo,
    missing: list[str],
) -> int:
    """Their check-in crops, then ``events.csv`` (a zip takes one member at a time)."""
    copied: set[int] = set()
    for event in _events(session, person_id):
        path = event.crop_path
        if path is not None and _copy(archive, crops, path, _crop_name(event.id), missing):
            copied.add(event.id or 0)
    count = 0
    with archive.open("events.csv", "w") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(EVENTS_HEADER)
        for event in _events(session, person_id):
            row = [
                event.id,
                event.time.isoformat(),
                event.time.astimezone(zone).isoformat(),
                "" if event.similarity is None else event.similarity,
                event.device or "",
                event.source,
                _crop_name(event.id) if event.id in copied else "",
            ]
            writer.writerow([csv_cell(v) for v in row])
            count += 1
        text.flush()
        text.detach()
    return count


def _crop_name(event_id: int | None) -> str:
    return f"crops/event-{event_id}.jpg"


def _write_unknown(
    archive: zipfile.ZipFile,
    session: Session,
    crops: ImageStore,
    person_id: int,
    missing: list[str],
) -> list[dict[str, Any]]:
    rows = session.exec(
        select(UnknownFace).where(UnknownFace.person_id == person_id).order_by(col(UnknownFace.id))
    ).all()
    return [
        {
            "id": row.id,
            "group_id": row.group_id,
            "status": row.status,
            "time": row.time.isoformat(),
            "device": row.device,
            "crop": _copy(archive, crops, row.crop_path, f"unknown/unknown-{row.id}.jpg", missing),
            "box": row.box,
            "model": row.model,
            "embedding": np.frombuffer(row.embedding, dtype="<f4").tolist(),
        }
        for row in rows
    ]


def _schedule_id(session: Session, person_id: int) -> int | None:
    link = session.get(PersonSchedule, person_id)
    return link.schedule_id if link else None


def _audit_entries(session: Session, person_id: int) -> list[dict[str, Any]]:
    rows = session.exec(
        select(AuditEntry)
        .where(AuditEntry.entity == "person", AuditEntry.entity_id == person_id)
        .order_by(col(AuditEntry.id))
    ).all()
    # the staff member's client address is theirs, not the person's: not disclosed
    return [r.model_dump(mode="json", exclude={"id", "address"}) for r in rows]


def _record(
    session: Session,
    person_id: int,
    now: datetime,
    actor: Principal,
    *,
    faces: int,
    events: int,
    unknown: list[dict[str, Any]],
) -> None:
    """Exporting discloses biometric data: the audit log says who did it and when."""
    lock_for_write(session)
    record(
        session,
        actor=actor,
        action="export",
        entity="person",
        entity_id=person_id,
        details={"faces": faces, "events": events, "unknown_faces": len(unknown)},
        time=now,
    )
    session.commit()
