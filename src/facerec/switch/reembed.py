"""Filling the second set of vectors: each face's descriptor by the target model.

The descriptor comes from the stored photo and the stored landmarks (no detection, so
the face stays the one enrolled), as ``faces/reembed.py`` does; where the stored points
cannot serve the target (ArcFace-order points for dlib's descriptor) the face is found
again at its box (``faces/refind.py``). Each vector is kept with the points it came
from. Batches are embedded outside the write lock; each is written (``face_vectors`` rows
only) in a short transaction under it, so faces deleted meanwhile are skipped and the
index, which reads only ``faces``, is untouched: the old model keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, exists, insert
from sqlmodel import Session, col, func, select

from facerec.db.engine import lock_for_write
from facerec.faces.models import Face, Image
from facerec.faces.reembed import Vectors, embed_rows
from facerec.faces.storage import ImageStore
from facerec.inference.runtime import FaceRuntime
from facerec.switch.models import FaceVector


def lacking(model: str) -> ColumnElement[bool]:
    """Faces of another model that have no ``model`` vector yet (a where clause)."""
    has = exists().where(col(FaceVector.face_id) == col(Face.id), col(FaceVector.model) == model)
    return and_(col(Face.model) != model, ~has)


def count_lacking(session: Session, model: str) -> int:
    return int(session.exec(select(func.count()).select_from(Face).where(lacking(model))).one())


def next_batch(
    session: Session, model: str, *, skip: set[int], size: int
) -> list[tuple[Face, Image]]:
    query = select(Face, Image).join(Image, col(Image.id) == col(Face.image_id))
    query = query.where(lacking(model))
    if skip:
        query = query.where(col(Face.id).not_in(skip))
    rows = session.exec(query.order_by(col(Face.id)).limit(size)).all()
    session.rollback()  # no read transaction stays open while embedding
    return [(face, image) for face, image in rows]


def write_vectors(session: Session, vectors: Vectors, model: str) -> int:
    """Insert the vectors of faces that still exist and still lack one, in the caller's
    transaction (which holds the write lock). Returns the number written."""
    if not vectors:
        return 0
    ids = list(vectors)
    alive = set(
        session.exec(select(Face.id).where(col(Face.id).in_(ids)).where(lacking(model))).all()
    )
    rows = [
        {"face_id": i, "model": model, "embedding": vectors[i][0], "landmarks": vectors[i][1]}
        for i in ids
        if i in alive
    ]
    if rows:
        session.execute(insert(FaceVector), rows)
    return len(rows)


def fill_vectors(
    *,
    session: Session,
    store: ImageStore,
    runtime: FaceRuntime,
    batch: int = 32,
    on_batch: Callable[[Session, int, dict[int, str]], None] = lambda s, n, f: None,
    committed: Callable[[], None] = lambda: None,
) -> dict[int, str]:
    """Give every face lacking one a ``runtime.model`` vector; (face id -> reason) for
    the faces whose photo could not be read. ``on_batch(session, written, failed)`` runs
    inside each batch's locked transaction, before its commit (the progress row);
    ``committed()`` after it."""
    failed: dict[int, str] = {}
    while True:
        rows = next_batch(session, runtime.model, skip=set(failed), size=batch)
        if not rows:
            return failed
        vectors, bad = embed_rows(rows, runtime=runtime, store=store)
        failed.update(bad)
        lock_for_write(session)
        written = write_vectors(session, vectors, runtime.model)
        on_batch(session, written, failed)
        session.commit()
        committed()
