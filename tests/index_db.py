"""The database under the index tests: the test's own PostgreSQL database under
``make test-postgres``, else a new SQLite file; and rows written in bulk."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.db.engine import lock_for_write, make_engine
from facerec.db.migrate import upgrade
from facerec.faces.models import Face, Image
from facerec.index.models import FaceChange, record_changes
from facerec.people.models import Person


@contextmanager
def index_db(tmp_path: Path, database_url: str | None) -> Iterator[Engine]:
    """``database_url`` (the ``database_url`` fixture: already migrated) or a new SQLite
    file in ``tmp_path``, migrated here."""
    url = database_url or f"sqlite:///{tmp_path / 'index.db'}"
    if database_url is None:
        upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def enrol_in_bulk(
    db: Engine, person_ids: list[int], vectors: NDArray[np.float32], *, model: str = "m"
) -> list[int]:
    """Faces (one image each) of ``person_ids[i]`` holding ``vectors[i]``, their people and
    one generation of ``add`` changes, in one transaction of bulk inserts; the face ids."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(db) as session:
        lock_for_write(session)
        people = sorted(set(person_ids))
        rows = [{"id": p, "name": f"p{p}", "created_at": now, "updated_at": now} for p in people]
        session.execute(insert(Person), rows)
        ids = list(range(1, len(person_ids) + 1))
        images = [
            {"id": i, "sha256": f"{i:064d}", "size": 1, "width": 1, "height": 1}
            | {"format": "PNG", "path": f"{i}.png", "created_at": now}
            for i in ids
        ]
        session.execute(insert(Image), images)
        faces = [
            {"id": i, "person_id": p, "image_id": i, "x1": 0, "y1": 0, "x2": 1, "y2": 1}
            | {"landmarks": [], "det_score": 1.0, "quality": {}, "model": model}
            | {"embedding": v.astype("<f4").tobytes(), "created_at": now}
            for i, p, v in zip(ids, person_ids, vectors, strict=True)
        ]
        session.execute(insert(Face), faces)
        generation = record_changes(session, [])
        changes = [
            {"generation": generation, "op": "add", "face_id": i, "person_id": p}
            for i, p in zip(ids, person_ids, strict=True)
        ]
        session.execute(insert(FaceChange), changes)
        session.commit()
    return ids
