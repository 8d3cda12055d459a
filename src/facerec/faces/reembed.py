"""Re-embedding stored faces when the embedding recipe changes (model, augmentation).

Every face row keeps its image, its landmarks and the id of the model that embedded
it; searches only see faces of the running engine's model. After an upgrade (or a
switch to another engine) the older rows are re-embedded here from the stored image
and stored landmarks (no detection, so the face stays the one that was enrolled; where
they cannot serve the new model, ArcFace's points for dlib's descriptor, the face is found
again at its box: ``refind.py``), and the points used are kept with the new vector.
Each batch is embedded outside the write lock, then written in one transaction with
its change-log entries, so running workers pick the new vectors up and an
interrupted run loses nothing: it simply resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, func, select

from facerec.db.engine import lock_for_write
from facerec.errors import FaceRecError
from facerec.faces.models import Face, Image
from facerec.faces.refind import points_for
from facerec.faces.storage import ImageStore
from facerec.index.models import record_changes
from facerec.inference.runtime import FaceRuntime
from facerec.inference.types import LandmarkOrder

Vectors = dict[int, tuple[bytes, list[list[float]]]]
"""Face id -> (descriptor bytes, the points it was embedded from)."""


@dataclass(slots=True)
class ReembedReport:
    model: str
    updated: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    """(face id, reason) for faces whose image could not be read."""


def stale_faces(*, session: Session, model: str) -> dict[str, int]:
    """How many faces each other model id holds (faces that searches do not see)."""
    rows = session.exec(
        select(Face.model, func.count()).where(Face.model != model).group_by(col(Face.model))
    ).all()
    return {str(name): int(count) for name, count in rows}


def reembed_faces(
    *,
    session: Session,
    store: ImageStore,
    runtime: FaceRuntime,
    batch: int = 32,
    on_face: Callable[[], None] = lambda: None,
) -> ReembedReport:
    """Re-embed every face whose model differs from ``runtime.model``."""
    report = ReembedReport(model=runtime.model)
    skip: set[int] = set()
    while True:
        query = select(Face, Image).join(Image, col(Image.id) == col(Face.image_id))
        query = query.where(Face.model != runtime.model)
        if skip:
            query = query.where(col(Face.id).not_in(skip))
        rows = session.exec(query.order_by(col(Face.id)).limit(batch)).all()
        if not rows:
            return report
        vectors, failed = embed_rows(rows, runtime=runtime, store=store, on_face=on_face)
        report.failed.extend(failed.items())
        skip.update(failed)
        models = {face.id: face.model for face, _ in rows}
        _store(session, vectors, models, runtime.model)
        report.updated += len(vectors)


def embed_rows(
    rows: Sequence[tuple[Face, Image]],
    *,
    runtime: FaceRuntime,
    store: ImageStore,
    on_face: Callable[[], None] = lambda: None,
) -> tuple[Vectors, dict[int, str]]:
    """Each face's vector by ``runtime``'s model with the points it came from (in that
    model's order), and (face id -> reason) for the faces that failed."""
    arcface = getattr(runtime.engine, "landmark_order", "dlib5") == "arcface5"
    order: LandmarkOrder = "arcface5" if arcface else "dlib5"
    vectors: Vectors = {}
    failed: dict[int, str] = {}
    for face, image in rows:
        assert face.id is not None
        try:
            pixels = runtime.decode(store.read(image.path)).pixels
            points = points_for(runtime, pixels, face, order)
            vector = runtime.embed_landmarks(pixels, [points])[0]
            kept = [[float(x), float(y)] for x, y in points]
            vectors[face.id] = (vector.astype("<f4").tobytes(), kept)
        except (FaceRecError, OSError) as exc:
            failed[face.id] = str(exc)
        on_face()
    return vectors, failed


def _store(session: Session, vectors: Vectors, models: dict[int | None, str], model: str) -> None:
    """Write one batch under the write lock, skipping faces changed or deleted meanwhile
    (``models``: each face's model when it was read)."""
    lock_for_write(session)
    changes = []
    for face_id, (blob, points) in vectors.items():
        face = session.get(Face, face_id, populate_existing=True)
        if face is None or face.model != models[face_id]:
            continue
        face.embedding, face.model, face.landmarks = blob, model, points
        session.add(face)
        changes.append(("add", face_id, face.person_id))
    if changes:
        record_changes(session, changes)
    session.commit()
