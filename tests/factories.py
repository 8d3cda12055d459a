"""Rows for database-level tests: a face (with an image row of its own) holding a chosen
embedding, without models, files or the change log."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import numpy as np
from numpy.typing import ArrayLike
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.config import Settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.faces.models import Face, Image
from facerec.people.models import Person

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


def two_people_db(settings: Settings) -> Iterator[Engine]:
    """A migrated database in ``settings.data_dir`` holding people 1 ("A") and 2 ("B");
    for a fixture to ``yield from``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        session.add_all([Person(id=1, name="A"), Person(id=2, name="B")])
        session.commit()
    yield engine
    engine.dispose()
