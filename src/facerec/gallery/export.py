"""Writing the gallery file (``archive.py`` describes it). No HTTP.

One read transaction from the first query to the last, so people, faces and photos are
one consistent state however long the writing takes; rows are read a page at a time and
written as they come, and each photo is copied from its file, so memory stays small
whatever the size of the gallery. Removed people (tombstones) are not exported.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.db.engine import lock_for_write
from facerec.faces.models import Face, Image
from facerec.faces.storage import ImageStore
from facerec.gallery.archive import (
    FACES,
    IMAGES,
    MANIFEST,
    PEOPLE,
    encode_embedding,
    manifest_document,
)
from facerec.people.models import Person

PAGE = 1000


@dataclass(slots=True)
class ExportReport:
    people: int = 0
    faces: int = 0
    images: int = 0
    models: Counter[str] = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)
    """Photos whose file is gone: their faces are left out (``facerec doctor`` says more)."""


def export_gallery(
    *, session: Session, store: ImageStore, out: IO[bytes], now: datetime, actor: Principal
) -> ExportReport:
    """Write every live person with their faces and photos to ``out``; audited."""
    report = ExportReport()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        missing = _write_images(archive, session, store, report)
        with archive.open(PEOPLE, "w", force_zip64=True) as people:
            for person, shas in _people(session, missing):
                people.write(_line(_person(person, shas)))
                report.people += 1
        with archive.open(FACES, "w", force_zip64=True) as faces:
            for face, image in _faces(session):
                if image.sha256 in missing:
                    continue
                faces.write(_line(_face(face, image)))
                report.faces += 1
                report.models[face.model] += 1
        counts = {"people": report.people, "faces": report.faces, "images": report.images}
        document = manifest_document(exported_at=now, models=dict(report.models), counts=counts)
        archive.writestr(MANIFEST, json.dumps(document, indent=2))
    session.rollback()  # the end of the read snapshot
    _audit(session, report, now, actor)
    return report


def _write_images(
    archive: zipfile.ZipFile, session: Session, store: ImageStore, report: ExportReport
) -> set[str]:
    """Each photo a face uses, once (stored as is: photos are compressed already)."""
    missing: set[str] = set()
    after = 0
    while True:
        page = session.exec(
            select(Image)
            .where(col(Image.id) > after)
            .where(col(Image.id).in_(select(Face.image_id)))
            .order_by(col(Image.id))
            .limit(PAGE)
        ).all()
        for image in page:
            source = store.root / image.path
            if not source.is_file():
                missing.add(image.sha256)
                report.missing.append(image.path)
                continue
            archive.write(source, IMAGES + image.sha256, compress_type=zipfile.ZIP_STORED)
            report.images += 1
        if len(page) < PAGE:
            return missing
        after = page[-1].id or 0


def _people(session: Session, missing: set[str]) -> Iterator[tuple[Person, list[str]]]:
    after = 0
    while True:
        page = session.exec(
            select(Person)
            .where(col(Person.deleted_at).is_(None), col(Person.id) > after)
            .order_by(col(Person.id))
            .limit(PAGE)
        ).all()
        shas: dict[int, list[str]] = {}
        if page:
            rows = session.exec(
                select(Face.person_id, Image.sha256)
                .join(Image, col(Image.id) == col(Face.image_id))
                .where(col(Face.person_id).in_([p.id for p in page]))
                .order_by(col(Face.id))
            ).all()
            for person_id, sha in rows:
                if sha not in missing:
                    shas.setdefault(person_id, []).append(sha)
        for person in page:
            yield person, shas.get(person.id or 0, [])
        if len(page) < PAGE:
            return
        after = page[-1].id or 0


def _faces(session: Session) -> Iterator[tuple[Face, Image]]:
    """Faces of live people, in person order (then face order), a page at a time."""
    last = (0, 0)
    while True:
        person_id, face_id = last
        page = session.exec(
            select(Face, Image)
            .join(Image, col(Image.id) == col(Face.image_id))
            .join(Person, col(Person.id) == col(Face.person_id))
            .where(col(Person.deleted_at).is_(None))
            .where(tuple_(col(Face.person_id), col(Face.id)) > tuple_(person_id, face_id))
            .order_by(col(Face.person_id), col(Face.id))
            .limit(PAGE)
        ).all()
        yield from page
        if len(page) < PAGE:
            return
        last = (page[-1][0].person_id, page[-1][0].id or 0)


def _person(person: Person, shas: list[str]) -> dict[str, Any]:
    data = person.model_dump(
        mode="json",
        include={"name", "external_id", "note", "start_date", "end_date", "created_at"},
    )
    data["updated_at"] = person.updated_at.isoformat()
    return {"key": person.id, **data, "images": shas}


def _face(face: Face, image: Image) -> dict[str, Any]:
    return {
        "person": face.person_id,
        "image": {
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
            "format": image.format,
        },
        "box": face.box,
        "landmarks": face.landmarks,
        "det_score": face.det_score,
        "quality": face.quality,
        "model": face.model,
        "embedding": encode_embedding(face.embedding),
        "created_at": face.created_at.isoformat(),
    }


def _line(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _audit(session: Session, report: ExportReport, now: datetime, actor: Principal) -> None:
    """The file holds every descriptor: the audit log says who took it, and when."""
    lock_for_write(session)
    record(
        session,
        actor=actor,
        action="export",
        entity="gallery",
        details={
            "people": report.people,
            "faces": report.faces,
            "images": report.images,
            "missing": len(report.missing),
        },
        time=now,
    )
    session.commit()
