"""Check-in: recognise every face in a frame, record recognised people (once per dedupe
window, which restarts at local midnight), and keep unrecognised faces in the review
queue, grouped by visitor."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlmodel import Session, col, select

from facerec.attendance.crops import CropStore, crop_face
from facerec.attendance.models import (
    AttendanceEvent,
    CheckInEvent,
    CheckInResult,
    EventStatus,
    UnknownFace,
)
from facerec.attendance.rules import day_bounds
from facerec.calibration.service import threshold_value
from facerec.config import Settings
from facerec.db.engine import lock_for_write
from facerec.index.sync import IndexSync
from facerec.inference.types import AnalyzedFace, AnalyzedImage
from facerec.recognition.service import recognize
from facerec.webhooks import outbox

UNKNOWN_LOOKBACK = timedelta(days=30)
UNKNOWN_COMPARE_LIMIT = 5000


def check_in(
    *,
    session: Session,
    index: IndexSync,
    crops: CropStore,
    analyzed: AnalyzedImage,
    device: str | None,
    now: datetime,
    settings: Settings,
) -> CheckInResult:
    result = recognize(
        session=session,
        index=index,
        analyzed=analyzed,
        top_k=1,
        threshold=threshold_value(session=session, settings=settings),
    )
    zone = ZoneInfo(settings.attendance.timezone)
    # The window never reaches into the previous local day: a day's first check-in counts.
    since = max(
        now - timedelta(minutes=settings.attendance.dedupe_minutes),
        day_bounds(now.astimezone(zone).date(), zone)[0],
    )
    lock_for_write(session)  # dedupe decisions are made one writer at a time
    events: list[CheckInEvent] = []
    unknown = 0
    for face, answer in zip(analyzed.faces, result.faces, strict=True):
        if answer.match is None:
            unknown += 1
            _remember_unknown(
                session,
                crops,
                analyzed=analyzed,
                face=face,
                device=device,
                now=now,
                settings=settings,
            )
            continue
        person_id, similarity = answer.match.person_id, answer.match.similarity
        recent = session.exec(
            select(AttendanceEvent)
            .where(AttendanceEvent.person_id == person_id)
            .where(col(AttendanceEvent.time) > since)
            .order_by(col(AttendanceEvent.time).desc())
        ).first()
        status: EventStatus = "duplicate"
        if recent is None:
            recent = AttendanceEvent(
                person_id=person_id,
                time=now,
                similarity=similarity,
                device=device,
                crop_path=_save_crop(crops, analyzed, face),
                source="camera",
            )
            session.add(recent)
            session.flush()
            status = "checked_in"
            outbox.emit(session, "checkin.created", _checkin_payload(recent, answer.match.name))
        events.append(
            CheckInEvent(
                id=recent.id or 0,
                person_id=person_id,
                name=answer.match.name,
                time=recent.time,
                similarity=similarity,
                status=status,
            )
        )
    session.commit()
    return CheckInResult(events=events, unknown_faces=unknown)


def _save_crop(crops: CropStore, analyzed: AnalyzedImage, face: AnalyzedFace) -> str | None:
    if analyzed.pixels is None:
        return None
    return crops.save(crop_face(analyzed.pixels, face, analyzed.model).data)


def _remember_unknown(
    session: Session,
    crops: CropStore,
    *,
    analyzed: AnalyzedImage,
    face: AnalyzedFace,
    device: str | None,
    now: datetime,
    settings: Settings,
) -> None:
    """Queue the face for review, in the group of the most similar pending stranger.

    A stranger already seen in the dedupe window adds nothing: standing in front of
    the kiosk for a minute yields one entry, not sixty.
    """
    if face.embedding is None or analyzed.pixels is None:
        return
    threshold = settings.attendance.unknown_group_threshold or threshold_value(
        session=session, settings=settings
    )
    group = _similar_group(session, face.embedding, analyzed.model, now, threshold)
    window = timedelta(minutes=settings.attendance.dedupe_minutes)
    if group is not None and group[1] > now - window:
        return
    crop = crop_face(analyzed.pixels, face, analyzed.model)
    moved = crop.image.faces[0]
    row = UnknownFace(
        group_id=group[0] if group else 0,
        time=now,
        device=device,
        crop_path=crops.save(crop.data),
        box=moved.detection.box(),
        landmarks=[[float(x), float(y)] for x, y in moved.landmarks],
        det_score=round(face.detection.score, 4),
        quality=face.quality,
        embedding=face.embedding.astype("<f4").tobytes(),
        model=analyzed.model,
    )
    session.add(row)
    session.flush()
    if group is None:
        row.group_id = row.id or 0
        session.add(row)
    outbox.emit(session, "unknown_face.queued", _unknown_payload(row, new_group=group is None))


def _checkin_payload(event: AttendanceEvent, name: str) -> dict[str, object]:
    """The ``checkin.created`` webhook's data (no crop, no descriptor)."""
    keys = ("id", "person_id", "time", "device", "similarity", "source")
    return {"event_id" if k == "id" else k: getattr(event, k) for k in keys} | {"name": name}


def _unknown_payload(row: UnknownFace, *, new_group: bool) -> dict[str, object]:
    """The ``unknown_face.queued`` webhook's data (no crop, no descriptor)."""
    keys = ("group_id", "time", "device", "det_score")
    return {k: getattr(row, k) for k in keys} | {"unknown_face_id": row.id, "new_group": new_group}


def _similar_group(
    session: Session, embedding: np.ndarray, model: str, now: datetime, threshold: float
) -> tuple[int, datetime] | None:
    """``(group_id, newest sighting time)`` of the best pending match, if any."""
    rows = session.exec(
        select(UnknownFace.group_id, UnknownFace.time, UnknownFace.embedding)
        .where(UnknownFace.status == "pending", UnknownFace.model == model)
        .where(col(UnknownFace.time) > now - UNKNOWN_LOOKBACK)
        .order_by(col(UnknownFace.time).desc())
        .limit(UNKNOWN_COMPARE_LIMIT)
    ).all()
    if not rows:
        return None
    gallery = np.stack([np.frombuffer(r[2], dtype="<f4") for r in rows])
    scores = gallery @ embedding
    best = int(np.argmax(scores))
    if float(scores[best]) < threshold:
        return None
    group_id = rows[best][0]
    newest = max(r[1] for r in rows if r[0] == group_id)
    return group_id, newest
