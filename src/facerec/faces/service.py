"""Enrolment and face management. Keyword-only functions, session first; no HTTP here."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image as PILImage
from sqlmodel import Session, col, func, select

from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.config import EnrolSettings
from facerec.db.engine import lock_for_write
from facerec.errors import EngineSwitched, MultipleFaces, NoFace, NotFound
from facerec.faces.models import Face, Image
from facerec.faces.quality_gate import check_quality
from facerec.faces.storage import ImageStore, sha256_of
from facerec.index.models import active_model, record_changes
from facerec.inference.decode import decode_image
from facerec.inference.types import AnalyzedFace, AnalyzedImage
from facerec.people.models import Person
from facerec.webhooks import outbox

if TYPE_CHECKING:
    from facerec.faces.identity import IdentityCheck


WEBHOOK_FIELDS = {"person_id", "image_id", "model", "det_score", "created_at"}
"""What the ``face.enrolled`` webhook tells (``facerec.webhooks``): no descriptor, no image."""


def choose_dominant(faces: list[AnalyzedFace], *, ratio: float) -> AnalyzedFace:
    """The face to enrol: the largest, if it is at least ``ratio`` times the next in area."""
    if not faces:
        raise NoFace("no face was found in the image")
    ordered = sorted(faces, key=lambda f: f.detection.area, reverse=True)
    if len(ordered) > 1 and ordered[0].detection.area < ratio * ordered[1].detection.area:
        raise MultipleFaces(
            f"{len(faces)} faces of similar size were found; send a photo of one person",
            faces=len(faces),
        )
    return ordered[0]


def enrol_face(
    *,
    session: Session,
    store: ImageStore,
    person_id: int,
    data: bytes,
    analyzed: AnalyzedImage,
    gates: EnrolSettings,
    force: bool = False,
    check: IdentityCheck | None = None,
    actor: Principal | None,
) -> tuple[Face, bool]:
    """Store the image and its dominant face for the person.

    The face must pass the quality ``gates`` unless ``force``, and the identity
    ``check`` (see :func:`add_face`). Returns ``(face, duplicate)``: when this exact
    image is already enrolled for the person, the existing face comes back and nothing
    is written.
    """
    face = choose_dominant(analyzed.faces, ratio=gates.dominance_ratio)
    if not force:
        check_quality(face, gates)
    return add_face(
        session=session,
        store=store,
        person_id=person_id,
        data=data,
        image=analyzed,
        face=face,
        check=check,
        actor=actor,
    )


def add_face(
    *,
    session: Session,
    store: ImageStore,
    person_id: int,
    data: bytes,
    image: AnalyzedImage,
    face: AnalyzedFace,
    check: IdentityCheck | None = None,
    actor: Principal | None,
) -> tuple[Face, bool]:
    """Store ``data`` (the file ``image`` was analysed from) and ``face`` for the person,
    in one transaction under the write lock. ``(existing face, True)`` for a repeat.

    With a ``check``, a new face is first compared with the person's faces under the
    lock (``FaceMismatch`` refuses it; look-alikes land in ``check.warnings``).
    A new face is audited as ``actor``'s ``enrol`` (``force_enrol`` when ``check`` let a
    mismatch in); None: the caller audits the whole operation (an unknown group's
    resolution records one entry for the group)."""
    sha = sha256_of(data)
    lock_for_write(session)
    active = active_model(session)
    if active is not None and image.model != active:  # a switch committed since inference
        session.rollback()
        raise EngineSwitched(f"the face models were switched to {active}; embed again")
    if not _active(session, person_id):  # removed since the caller looked
        raise NotFound(f"no person with id {person_id}", resource="person", id=person_id)
    stored = session.exec(select(Image).where(Image.sha256 == sha)).first()
    if stored is not None:
        existing = session.exec(
            select(Face).where(Face.person_id == person_id, Face.image_id == stored.id)
        ).first()
        if existing is not None:
            session.rollback()
            return existing, True
    if check is not None:
        assert face.embedding is not None
        try:
            check.before_add(
                session,
                person_id=person_id,
                probe=face.embedding,
                model=image.model,
                image_id=None if stored is None else stored.id,
            )
        except BaseException:
            session.rollback()
            raise
    new_file = stored is None
    if stored is None:
        stored = Image(
            sha256=sha,
            size=len(data),
            width=image.width,
            height=image.height,
            format=image.format,
            path=store.relative_path(sha, image.format),
        )
    try:
        if new_file:
            store.put(data, stored.path)
            session.add(stored)
            session.flush()
        row = _face_row(face, person_id=person_id, image_id=stored.id or 0, model=image.model)
        session.add(row)
        session.flush()
        if actor is not None:
            _audit_enrol(session, actor, row, None if check is None else check.overridden)
        record_changes(session, [("add", row.id or 0, person_id)])
        payload = {"face_id": row.id, **row.model_dump(include=WEBHOOK_FIELDS)}
        outbox.emit(session, "face.enrolled", payload)
        session.commit()
    except BaseException:
        session.rollback()
        if new_file:  # nobody else can refer to it: we held the write lock
            store.delete(stored.path)
        raise
    return row, False


def _audit_enrol(
    session: Session, actor: Principal, row: Face, overridden: dict[str, float | int] | None
) -> None:
    details: dict[str, float | int] = {"person_id": row.person_id, "image_id": row.image_id}
    record(
        session,
        actor=actor,
        action="enrol" if overridden is None else "force_enrol",
        entity="face",
        entity_id=row.id,
        reason=""
        if overridden is None
        else "enrolled with force=true although it does not look like the person",
        details={**details, **(overridden or {})},
    )


def _face_row(face: AnalyzedFace, *, person_id: int, image_id: int, model: str) -> Face:
    assert face.embedding is not None
    det = face.detection
    return Face(
        person_id=person_id,
        image_id=image_id,
        x1=round(det.x1),
        y1=round(det.y1),
        x2=round(det.x2),
        y2=round(det.y2),
        landmarks=[[float(x), float(y)] for x, y in face.landmarks],
        det_score=round(det.score, 4),
        quality=face.quality,
        embedding=face.embedding.astype("<f4").tobytes(),
        model=model,
    )


def get_face(*, session: Session, face_id: int) -> Face:
    face = session.get(Face, face_id)
    if face is None:
        raise NotFound(f"no face with id {face_id}", resource="face", id=face_id)
    return face


def _active(session: Session, person_id: int) -> bool:
    """The person exists and was not removed (people/removal.py)."""
    person = session.get(Person, person_id)
    return person is not None and person.deleted_at is None


def list_faces(*, session: Session, person_id: int) -> list[Face]:
    if not _active(session, person_id):
        raise NotFound(f"no person with id {person_id}", resource="person", id=person_id)
    return list(
        session.exec(select(Face).where(Face.person_id == person_id).order_by(col(Face.id))).all()
    )


def delete_face(*, session: Session, store: ImageStore, face_id: int, actor: Principal) -> None:
    lock_for_write(session)
    face = get_face(session=session, face_id=face_id)
    record(
        session,
        actor=actor,
        action="delete",
        entity="face",
        entity_id=face_id,
        details={"person_id": face.person_id, "image_id": face.image_id},
    )
    orphaned = delete_faces(session=session, faces=[face])
    session.commit()
    remove_unreferenced_files(session=session, store=store, paths=orphaned)


def delete_faces(*, session: Session, faces: list[Face]) -> list[str]:
    """Delete ``faces`` inside the caller's transaction, logging the change.

    Returns the paths of image files no face refers to any more; the caller removes
    them after committing.
    """
    if not faces:
        return []
    image_ids = {f.image_id for f in faces}
    record_changes(session, [("delete", f.id or 0, f.person_id) for f in faces])
    for face in faces:
        session.delete(face)
    session.flush()
    still_used = set(
        session.exec(select(Face.image_id).where(col(Face.image_id).in_(image_ids))).all()
    )
    orphaned: list[str] = []
    for image in session.exec(select(Image).where(col(Image.id).in_(image_ids - still_used))):
        orphaned.append(image.path)
        session.delete(image)
    return orphaned


def remove_unreferenced_files(*, session: Session, store: ImageStore, paths: list[str]) -> None:
    """Delete the files of images removed by a committed transaction.

    Runs under the write lock and re-checks: an enrolment of the same bytes may have
    stored the file and its row again in between, and then the file stays.
    """
    if not paths:
        return
    lock_for_write(session)
    reused = set(session.exec(select(Image.path).where(col(Image.path).in_(paths))).all())
    for path in paths:
        if path not in reused:
            store.delete(path)
    session.rollback()  # release the lock; nothing was written


def count_faces(*, session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Face)).one())


def thumbnail(*, session: Session, store: ImageStore, face_id: int, size: int = 160) -> bytes:
    """A JPEG crop of the face with some margin, at most ``size`` pixels a side."""
    face = get_face(session=session, face_id=face_id)
    image = session.get(Image, face.image_id)
    assert image is not None
    pixels = decode_image(store.read(image.path), max_bytes=1 << 40, max_pixels=1 << 40).pixels
    height, width = pixels.shape[:2]
    margin = 0.25 * max(face.x2 - face.x1, face.y2 - face.y1)
    x1, y1 = max(0, int(face.x1 - margin)), max(0, int(face.y1 - margin))
    x2, y2 = min(width, int(face.x2 + margin)), min(height, int(face.y2 + margin))
    crop = PILImage.fromarray(pixels[y1:y2, x1:x2])
    crop.thumbnail((size, size))
    out = io.BytesIO()
    crop.save(out, format="JPEG", quality=88)
    return out.getvalue()
