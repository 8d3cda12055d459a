"""Edges of the index: centroids of faces far apart, the centroid offset for one photo,
the rebuild row of the change log and what a worker's status reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from facerec.db.engine import lock_for_write, make_engine
from facerec.db.migrate import upgrade
from facerec.index.base import centroid, centroid_score
from facerec.index.faiss_index import FaissIndex
from facerec.index.models import FaceChange, request_rebuild
from facerec.index.sync import IndexStatus, IndexSync
from tests.test_index import DIM, _add_face


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'edges.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_the_centroid_of_faces_far_apart_is_still_a_unit_float32_vector() -> None:
    # e1 and (-0.6, 0.8), 126.9 degrees apart: their sum (0.4, 0.8) is only
    # sqrt(0.8) = 0.894427 long; its unit vector is (0.447214, 0.894427)
    faces = np.array([[1.0, 0.0], [-0.6, 0.8]], dtype=np.float32)
    unit = centroid(faces)
    assert unit.dtype == np.float32
    assert unit.tolist() == pytest.approx([0.447214, 0.894427], abs=1e-6)
    # close faces: the sum (1.96, 0.28) is longer than 1, 1.979899; unit (0.98995, 0.141421)
    close = np.array([[1.0, 0.0], [0.96, 0.28]], dtype=np.float32)
    assert centroid(close).tolist() == pytest.approx([0.989949, 0.141421], abs=1e-6)


def test_the_centroid_offset_is_zero_for_one_photo() -> None:
    # cosine - 0.0116 * (1 - 1/photos); no photo counts as one (no division by zero)
    assert centroid_score(0.8, 1) == 0.8
    assert centroid_score(0.8, 0) == 0.8
    assert centroid_score(0.8, 2) == pytest.approx(0.8 - 0.0058, abs=1e-12)
    assert centroid_score(0.8, 4) == pytest.approx(0.8 - 0.0087, abs=1e-12)


def test_a_rebuild_row_names_no_face_and_no_person(db: Engine) -> None:
    _add_face(db, 1, seed=1)  # generation 1 (face ids start at 1)
    with Session(db) as session:
        lock_for_write(session)
        generation, dropped = request_rebuild(session)
        session.commit()
        rows = session.exec(select(FaceChange)).all()
    assert (generation, dropped) == (2, 1)
    assert [(r.generation, r.op, r.face_id, r.person_id) for r in rows] == [(2, "rebuild", 0, 0)]


def test_status_reports_the_index_and_database_generations(db: Engine) -> None:
    worker = IndexSync(FaissIndex(DIM), "m")
    with Session(db) as session:
        worker.rebuild(session)  # at generation 0, empty
    _add_face(db, 1, seed=1)  # generation 1
    _add_face(db, 2, seed=2)  # generation 2
    with Session(db) as session:
        assert worker.status(session) == IndexStatus(
            in_step=False, index_count=0, db_count=2, index_generation=0, db_generation=2
        )
        worker.catch_up(session)
        assert worker.status(session) == IndexStatus(
            in_step=True, index_count=2, db_count=2, index_generation=2, db_generation=2
        )
