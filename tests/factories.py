"""Rows for database-level tests: a face (with an image row of its own) holding a chosen
embedding, without models, files or the change log."""

from __future__ import annotations

from itertools import count

import numpy as np
from numpy.typing import ArrayLike
from sqlmodel import Session

from facerec.faces.models import Face, Image

_images = count(1)


def face_row(
    session: Session,
    *,
    person_id: int,
    embedding: ArrayLike | bytes,
    model: str = "m",
    face_id: int | None = None,
) -> Face:
    """Add (and flush) a face of ``person_id`` whose stored embedding is ``embedding``
    (bytes as stored, or values written as little-endian float32)."""
    n = next(_images)
    image = Image(sha256=f"{n:064d}", size=1, width=1, height=1, format="PNG", path=f"{n}.png")
    session.add(image)
    session.flush()
    blob = embedding if isinstance(embedding, bytes) else np.asarray(embedding, "<f4").tobytes()
    face = Face(
        id=face_id,
        person_id=person_id,
        image_id=image.id or 0,
        x1=0,
        y1=0,
        x2=1,
        y2=1,
        landmarks=[],
        det_score=1.0,
        quality={},
        embedding=blob,
        model=model,
    )
    session.add(face)
    session.flush()
    return face
