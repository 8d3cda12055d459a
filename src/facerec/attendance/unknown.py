"""The unknown-face review queue: list groups, enrol as a new person, add to a person,
or dismiss."""

from __future__ import annotations

import io
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image as PILImage
from sqlmodel import Session, col, func, select

from facerec.attendance.crops import CropStore
from facerec.attendance.models import (
    EnrolUnknown,
    ResolvedUnknown,
    UnknownFace,
    UnknownGroup,
    UnknownPage,
)
from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.config import Settings
from facerec.db.engine import lock_for_write
from facerec.errors import NotFound
from facerec.faces.identity import check_group
from facerec.faces.service import add_face
from facerec.faces.storage import ImageStore
from facerec.inference.types import AnalyzedFace, AnalyzedImage, Detection
from facerec.people.models import PersonCreate
from facerec.people.service import create_person, get_person

FACES_PER_ENROLMENT = 3
"""The best crops of a group that become faces of the person."""


def list_groups(*, session: Session, offset: int, limit: int, zone: ZoneInfo) -> UnknownPage:
    """Pending groups, most recently seen first."""
    last_seen = func.max(UnknownFace.time).label("last_seen")
    groups = (
        select(UnknownFace.group_id, last_seen)
        .where(UnknownFace.status == "pending")
        .group_by(col(UnknownFace.group_id))
    )
    total = session.exec(select(func.count()).select_from(groups.subquery())).one()
    page = session.exec(groups.order_by(last_seen.desc()).offset(offset).limit(limit)).all()
    items = [_group(session, group_id, zone) for group_id, _ in page]
    return UnknownPage(items=items, total=int(total))


def _group(session: Session, group_id: int, zone: ZoneInfo) -> UnknownGroup:
    rows = _pending(session, group_id)
    return UnknownGroup(
        group_id=group_id,
        count=len(rows),
        first_seen=min(r.time for r in rows).astimezone(zone),
        last_seen=max(r.time for r in rows).astimezone(zone),
        devices=sorted({r.device for r in rows if r.device}),
        face_ids=[r.id or 0 for r in sorted(rows, key=lambda r: r.time, reverse=True)],
    )


def _pending(session: Session, group_id: int) -> list[UnknownFace]:
    rows = list(
        session.exec(
            select(UnknownFace).where(
                UnknownFace.group_id == group_id, UnknownFace.status == "pending"
            )
        ).all()
    )
    if not rows:
        raise NotFound(
            f"no pending unknown group {group_id}", resource="unknown_group", id=group_id
        )
    return rows


def get_unknown_face(*, session: Session, face_id: int) -> UnknownFace:
    row = session.get(UnknownFace, face_id)
    if row is None:
        raise NotFound(f"no unknown face with id {face_id}", resource="unknown_face", id=face_id)
    return row


def enrol_group(
    *,
    session: Session,
    store: ImageStore,
    crops: CropStore,
    group_id: int,
    person_in: EnrolUnknown,
    actor: Principal,
    today: date | None = None,
) -> ResolvedUnknown:
    """Create a person from an unknown visitor; their best crops become the person's faces.
    ``today`` (local) is their start date."""
    _pending(session, group_id)
    person = create_person(
        session=session,
        person_in=PersonCreate(**person_in.model_dump()),
        today=today,
        actor=actor,
    )
    return _resolve(
        session,
        store,
        crops,
        group_id=group_id,
        person_id=person.id,
        status="enrolled",
        actor=actor,
    )


def assign_group(
    *,
    session: Session,
    store: ImageStore,
    crops: CropStore,
    group_id: int,
    person_id: int,
    actor: Principal,
    settings: Settings,
    force: bool = False,
) -> ResolvedUnknown:
    """The unknown visitor was an existing person: add the crops to their faces.

    A group clearly not the person (``faces.identity.check_group``) is refused with
    ``face_mismatch`` unless ``force``, and a forced assignment is audited."""
    _pending(session, group_id)
    get_person(session=session, person_id=person_id)
    return _resolve(
        session,
        store,
        crops,
        group_id=group_id,
        person_id=person_id,
        status="assigned",
        actor=actor,
        checked=(settings, force),
    )


def dismiss_group(
    *, session: Session, crops: CropStore, group_id: int, actor: Principal
) -> ResolvedUnknown:
    """Forget the visitor: rows and crop files go (the audit entry keeps the count)."""
    rows = _pending(session, group_id)
    paths = [r.crop_path for r in rows]
    for row in rows:
        session.delete(row)
    record(
        session,
        actor=actor,
        action="dismiss_unknown",
        entity="unknown_group",
        entity_id=group_id,
        details={"faces": len(rows)},
    )
    session.commit()
    in_use = set(
        session.exec(
            select(UnknownFace.crop_path).where(col(UnknownFace.crop_path).in_(paths))
        ).all()
    )
    for path in set(paths) - in_use:
        crops.delete(path)
    return ResolvedUnknown(group_id=group_id, status="dismissed", person_id=None, faces_added=0)


def _resolve(
    session: Session,
    store: ImageStore,
    crops: CropStore,
    *,
    group_id: int,
    person_id: int,
    status: str,
    actor: Principal,
    checked: tuple[Settings, bool] | None = None,
) -> ResolvedUnknown:
    """``checked``: (settings, force) to check the group against the person first."""
    rows = _pending(session, group_id)
    best = sorted(rows, key=_usefulness, reverse=True)[:FACES_PER_ENROLMENT]
    overridden = None
    if checked is not None:
        settings, force = checked
        overridden = _check(
            session,
            group_id=group_id,
            person_id=person_id,
            rows=best,
            settings=settings,
            force=force,
        )
    added = 0
    for row in best:
        data = crops.read(row.crop_path)
        with PILImage.open(io.BytesIO(data)) as crop:
            image, face = _as_analysed(row, crop.size)
        _, duplicate = add_face(
            session=session,
            store=store,
            person_id=person_id,
            data=data,
            image=image,
            face=face,
            actor=None,  # the group's entry below says who added them
        )
        added += not duplicate
    for row in _pending(session, group_id):
        row.status, row.person_id = status, person_id
        session.add(row)
    if overridden is not None:
        record(
            session,
            actor=actor,
            action="force_assign",
            entity="unknown_group",
            entity_id=group_id,
            reason="assigned with force=true although it does not look like the person",
            details=overridden,
        )
    record(
        session,
        actor=actor,
        action=f"{status}_unknown",
        entity="unknown_group",
        entity_id=group_id,
        details={"person_id": person_id, "faces_added": added},
    )
    session.commit()
    return ResolvedUnknown(group_id=group_id, status=status, person_id=person_id, faces_added=added)


def _check(
    session: Session,
    *,
    group_id: int,
    person_id: int,
    rows: list[UnknownFace],
    settings: Settings,
    force: bool,
) -> dict[str, float | int] | None:
    """The group against the person, under the write lock (the first face added keeps it)."""
    lock_for_write(session)
    probes = [(np.frombuffer(r.embedding, dtype="<f4").astype(np.float32), r.model) for r in rows]
    try:
        return check_group(
            session=session,
            settings=settings,
            person_id=person_id,
            group_id=group_id,
            probes=probes,
            force=force,
        )
    except BaseException:
        session.rollback()
        raise


def _usefulness(row: UnknownFace) -> float:
    return float(row.quality.get("size", 0.0)) * min(1.0, row.quality.get("sharpness", 0.0) / 100)


def _as_analysed(row: UnknownFace, size: tuple[int, int]) -> tuple[AnalyzedImage, AnalyzedFace]:
    x1, y1, x2, y2 = row.box
    face = AnalyzedFace(
        detection=Detection(x1=x1, y1=y1, x2=x2, y2=y2, score=row.det_score),
        landmarks=np.asarray(row.landmarks, dtype=np.float32),
        quality=row.quality,
        embedding=np.frombuffer(row.embedding, dtype="<f4").astype(np.float32),
    )
    image = AnalyzedImage(
        width=size[0], height=size[1], faces=[face], model=row.model, format="JPEG"
    )
    return image, face
