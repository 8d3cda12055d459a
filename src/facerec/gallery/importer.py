"""Reading a gallery file into this installation. No HTTP.

The whole file is checked first (``archive.open_gallery``): a damaged or foreign file is
refused with ``invalid_archive`` before anything is stored. Then people are matched or
created (``identity.py``), and faces are stored in batches, each in one transaction under
the write lock with its change-log entries, so every worker's index picks them up:

- a face whose model id is the running engine's is stored as it is (its descriptor's
  bytes unchanged: no decoding, no detection, no embedding);
- any other is re-embedded from its photo, outside the lock: the photo is decoded, faces
  detected, the one that overlaps the stored box most (IoU >= 0.5, ``faces/refind.py``) is embedded,
  and its box, landmarks and quality are this engine's. No such face: reported, skipped.

A face is the same as one already here when the same person is enrolled with the same
photo (SHA-256; the table's own unique constraint): skipped, so importing a file twice
stores nothing twice, and a run that stopped half-way is finished by running it again.
One audit entry (action ``import``, entity ``gallery``) gives the counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import IO, Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.db.engine import lock_for_write
from facerec.errors import EngineSwitched, FaceRecError
from facerec.faces.models import Face, Image
from facerec.faces.refind import refind
from facerec.faces.storage import ImageStore
from facerec.gallery.archive import FaceLine, Gallery, open_gallery
from facerec.gallery.identity import resolve_people
from facerec.index.models import active_model, record_changes
from facerec.inference.runtime import FaceRuntime

BATCH = 1000


@dataclass(slots=True)
class ImportReport:
    model: str
    people_created: int = 0
    people_matched: int = 0
    people_removed: list[str] = field(default_factory=list)
    """Names skipped because that person was removed here (never brought back)."""
    faces_added: int = 0
    faces_reembedded: int = 0
    """Of ``faces_added``: stored by another model, embedded again here."""
    faces_existing: int = 0
    images_added: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(photo SHA-256, reason) for faces that could not be re-embedded."""


@dataclass(slots=True)
class _Row:
    """A face to store: the line it came from and the column values this installation
    keeps (plain values: one bulk INSERT a batch, no ORM object a face)."""

    line: FaceLine
    person_id: int
    face: dict[str, Any]


def import_gallery(
    *,
    session: Session,
    store: ImageStore,
    runtime: FaceRuntime,
    source: IO[bytes],
    now: datetime,
    actor: Principal,
    batch: int = BATCH,
    on_face: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Import the gallery file ``source`` (seekable); see the module's docstring."""
    gallery = open_gallery(source, dims={runtime.model: runtime.dim})
    report = ImportReport(model=runtime.model)
    people = resolve_people(session=session, people=gallery.people)
    report.people_created, report.people_matched = len(people.created), people.matched
    report.people_removed = people.removed
    for lines in _batches(gallery.faces(), batch):
        rows = [_row(line, people.local[line.person], gallery, runtime, report) for line in lines]
        _store(session, store, gallery, [r for r in rows if r is not None], report)
        for _ in lines:
            on_face()
    _audit(session, report, now, actor)
    return report


def _batches(faces: Iterator[FaceLine], size: int) -> Iterator[list[FaceLine]]:
    while chunk := list(islice(faces, size)):
        yield chunk


def _row(
    line: FaceLine,
    person_id: int | None,
    gallery: Gallery,
    runtime: FaceRuntime,
    report: ImportReport,
) -> _Row | None:
    if person_id is None:  # removed here
        return None
    if line.model == runtime.model:
        return _Row(line, person_id, _as_stored(line, person_id))
    try:
        face = _reembedded(line, person_id, gallery.image_bytes(line.image.sha256), runtime)
    except FaceRecError as exc:
        report.failed.append((line.image.sha256, f"[{exc.code}] {exc.message}"))
        return None
    return _Row(line, person_id, face)


def _as_stored(line: FaceLine, person_id: int) -> dict[str, Any]:
    x1, y1, x2, y2 = line.box
    return {
        "person_id": person_id,
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "landmarks": [list(p) for p in line.landmarks],
        "det_score": line.det_score,
        "quality": line.quality,
        "embedding": line.embedding,
        "model": line.model,
        "created_at": line.created_at,
    }


def _reembedded(
    line: FaceLine, person_id: int, data: bytes, runtime: FaceRuntime
) -> dict[str, Any]:
    """The face at the stored box, found and embedded again by this engine."""
    pixels = runtime.decode(data).pixels
    face = refind(runtime, pixels, list(line.box))
    vector = runtime.embed_landmarks(pixels, [face.landmarks])[0]
    det = face.detection
    return {
        "person_id": person_id,
        "x1": round(det.x1),
        "y1": round(det.y1),
        "x2": round(det.x2),
        "y2": round(det.y2),
        "landmarks": [[float(x), float(y)] for x, y in face.landmarks],
        "det_score": round(det.score, 4),
        "quality": face.quality,
        "embedding": vector.astype("<f4").tobytes(),
        "model": runtime.model,
        "created_at": line.created_at,
    }


def _store(
    session: Session, store: ImageStore, gallery: Gallery, rows: list[_Row], report: ImportReport
) -> None:
    """One batch in one transaction under the write lock: photos, faces, change log."""
    if not rows:
        return
    lock_for_write(session)
    active = active_model(session)
    if active is not None and active != report.model:  # `models use` finished meanwhile
        session.rollback()
        raise EngineSwitched(
            f"the face models were switched to {active} during the import: import the "
            "file again (what was imported is kept; nothing is stored twice)"
        )
    shas = {r.line.image.sha256 for r in rows}
    images = {i.sha256: i for i in session.exec(select(Image).where(col(Image.sha256).in_(shas)))}
    new_files: list[str] = []
    try:
        for row in rows:
            line = row.line.image
            if line.sha256 not in images:
                image = Image(
                    sha256=line.sha256,
                    size=0,
                    width=line.width,
                    height=line.height,
                    format=line.format,
                    path=store.relative_path(line.sha256, line.format),
                )
                data = gallery.image_bytes(line.sha256)
                image.size = len(data)
                store.put(data, image.path)
                new_files.append(image.path)
                session.add(image)
                images[line.sha256] = image
        session.flush()
        added = _add_faces(session, rows, images, report)
        if added:
            record_changes(session, [("add", face_id, person) for face_id, person in added])
        session.commit()
    except BaseException:
        session.rollback()
        for path in new_files:  # nobody else can refer to them: we held the write lock
            store.delete(path)
        raise
    report.images_added += len(new_files)


def _add_faces(
    session: Session, rows: list[_Row], images: dict[str, Image], report: ImportReport
) -> list[tuple[int, int]]:
    """Insert the batch's new faces; their ``(face id, person id)``."""
    image_ids = [i.id for i in images.values()]
    people = {row.person_id for row in rows}
    taken = set(
        session.exec(
            select(Face.person_id, Face.image_id).where(
                col(Face.image_id).in_(image_ids), col(Face.person_id).in_(people)
            )
        ).all()
    )
    values: list[dict[str, Any]] = []
    for row in rows:
        image_id = images[row.line.image.sha256].id or 0
        if (row.person_id, image_id) in taken:
            report.faces_existing += 1
            continue
        taken.add((row.person_id, image_id))
        values.append({**row.face, "image_id": image_id})
        if row.face["model"] != row.line.model:
            report.faces_reembedded += 1
    if not values:
        return []
    statement = insert(Face).returning(
        col(Face.id), col(Face.person_id), sort_by_parameter_order=True
    )
    added = [(int(i), int(p)) for i, p in session.execute(statement, values).all()]
    report.faces_added += len(added)
    return added


def _audit(session: Session, report: ImportReport, now: datetime, actor: Principal) -> None:
    lock_for_write(session)
    record(
        session,
        actor=actor,
        action="import",
        entity="gallery",
        details={
            "model": report.model,
            "people_created": report.people_created,
            "people_matched": report.people_matched,
            "people_removed": len(report.people_removed),
            "faces_added": report.faces_added,
            "faces_reembedded": report.faces_reembedded,
            "faces_existing": report.faces_existing,
            "faces_failed": len(report.failed),
            "images_added": report.images_added,
        },
        time=now,
    )
    session.commit()
