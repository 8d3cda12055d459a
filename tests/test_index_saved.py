"""The approximate index saved under the data dir: a start loads it and replays the newer
log; a torn or foreign one, or one older than a rebuild or a gap in the log, is rebuilt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete

from facerec.db.engine import lock_for_write, make_engine
from facerec.db.migrate import upgrade
from facerec.faces.models import Face
from facerec.index.models import (
    FaceChange,
    current_generation,
    record_changes,
    request_rebuild,
)
from facerec.index.saved import SavedIndexes
from facerec.index.saving import save_index
from facerec.index.scaled import ScaledFaissIndex
from facerec.index.sync import IndexSync
from facerec.people.models import Person
from tests.factories import face_row

DIM = 16
SIZE = 200  # approximate past this many faces


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'saved.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def saved(tmp_path: Path) -> SavedIndexes:
    return SavedIndexes(tmp_path / "index")


def _vectors(count: int, seed: int) -> NDArray[np.float32]:
    x = np.random.default_rng(seed).normal(size=(count, DIM))
    unit: NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


def _add_faces(engine: Engine, people: list[int], seed: int) -> list[int]:
    """One face per entry of ``people`` (created as needed), one generation."""
    with Session(engine) as session:
        lock_for_write(session)
        ids = []
        for person_id, vector in zip(people, _vectors(len(people), seed), strict=True):
            if session.get(Person, person_id) is None:
                session.add(Person(id=person_id, name=f"p{person_id}"))
                session.flush()
            ids.append(face_row(session, person_id=person_id, embedding=vector).id or 0)
        record_changes(session, [("add", f, p) for f, p in zip(ids, people, strict=True)])
        session.commit()
        return ids


def _delete_faces(engine: Engine, face_ids: list[int]) -> None:
    with Session(engine) as session:
        lock_for_write(session)
        faces = [session.get(Face, f) for f in face_ids]
        record_changes(session, [("delete", f.id or 0, f.person_id) for f in faces if f])
        for face in faces:
            session.delete(face)
        session.commit()


def _worker(engine: Engine, saved: SavedIndexes | None) -> IndexSync:
    sync = IndexSync(ScaledFaissIndex(DIM, approximate_above=SIZE, nprobe=64), "m")
    with Session(engine) as session:
        sync.start(session, saved)
    return sync


def _gallery(engine: Engine) -> list[int]:
    people = [1 + i % 90 for i in range(300)]  # 90 people, 3 or 4 faces each
    return _add_faces(engine, people, seed=1)


def _saved_worker(engine: Engine, saved: SavedIndexes) -> str:
    first = _worker(engine, saved)
    assert first.saved_name is None and first.index.approximate is not None  # type: ignore[attr-defined]
    with Session(engine) as session:
        name = save_index(session, first, saved)
    assert name is not None and first.saved_name == name
    return name


def _held(sync: IndexSync) -> dict[int, tuple[int, bytes]]:
    entries = sync.index.entries()  # type: ignore[attr-defined]
    return {
        int(f): (int(p), v.tobytes())
        for f, p, v in zip(entries.face_ids, entries.person_ids, entries.vectors, strict=True)
    }


def test_load_and_replay_equals_a_fresh_build(db: Engine, saved: SavedIndexes) -> None:
    faces = _gallery(db)
    name = _saved_worker(db, saved)
    # changes after the save: new faces, deleted faces, a person's last face gone
    _add_faces(db, [5, 5, 200, 201], seed=2)
    _delete_faces(db, faces[:40])
    _delete_faces(db, [f for i, f in enumerate(faces) if 1 + i % 90 == 60])
    loaded = _worker(db, saved)
    fresh = _worker(db, None)
    assert loaded.saved_name == name and fresh.saved_name is None
    assert loaded.generation == fresh.generation
    assert _held(loaded) == _held(fresh)
    probes = _vectors(30, seed=9)
    for a, b in zip(
        loaded.index.search_people(probes, 5), fresh.index.search_people(probes, 5), strict=True
    ):
        assert [(h.person_id, h.face_id) for h in a] == [(h.person_id, h.face_id) for h in b]
        assert [h.similarity for h in a] == pytest.approx([h.similarity for h in b], abs=1e-6)


def test_a_torn_file_is_ignored_and_the_index_rebuilt(db: Engine, saved: SavedIndexes) -> None:
    _gallery(db)
    name = _saved_worker(db, saved)
    faiss_file = saved.dir / name / "faces.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:-100])
    rebuilt = _worker(db, saved)
    assert rebuilt.saved_name is None and rebuilt.index.count() == 300


def test_a_changed_id_file_fails_its_checksum(db: Engine, saved: SavedIndexes) -> None:
    _gallery(db)
    name = _saved_worker(db, saved)
    ids = saved.dir / name / "person_ids.npy"
    data = bytearray(ids.read_bytes())
    data[-1] ^= 1  # same size, another person for the last face
    ids.write_bytes(bytes(data))
    assert _worker(db, saved).saved_name is None


def test_another_models_index_is_ignored(db: Engine, saved: SavedIndexes) -> None:
    _gallery(db)
    _saved_worker(db, saved)
    other = IndexSync(ScaledFaissIndex(DIM, approximate_above=SIZE, nprobe=64), "other-model")
    with Session(db) as session:
        other.start(session, saved)
    assert other.saved_name is None


def test_a_rebuild_request_after_the_save_means_a_rebuild(db: Engine, saved: SavedIndexes) -> None:
    _gallery(db)
    _saved_worker(db, saved)
    with Session(db) as session:
        lock_for_write(session)
        request_rebuild(session)
        session.commit()
    assert _worker(db, saved).saved_name is None


def test_a_gap_in_the_log_means_a_rebuild(db: Engine, saved: SavedIndexes) -> None:
    _gallery(db)
    _saved_worker(db, saved)
    _add_faces(db, [7], seed=3)
    _add_faces(db, [8], seed=4)
    with Session(db) as session:  # the first of the two newer generations is gone
        newest = current_generation(session)
        session.exec(delete(FaceChange).where(col(FaceChange.generation) == newest - 1))
        session.commit()
    worker = _worker(db, saved)
    assert worker.saved_name is None and worker.index.count() == 302


def test_an_index_not_yet_approximate_is_not_saved(db: Engine, saved: SavedIndexes) -> None:
    _add_faces(db, [1, 2, 3], seed=5)
    small = _worker(db, saved)
    with Session(db) as session:
        assert save_index(session, small, saved) is None
    assert saved.current_name() is None


def test_saving_twice_at_one_generation_keeps_the_newest(db: Engine, saved: SavedIndexes) -> None:
    _gallery(db)
    first = _saved_worker(db, saved)
    again = _worker(db, saved)
    with Session(db) as session:
        second = save_index(session, again, saved)
    assert second not in (None, first) and saved.current_name() == second
    assert sorted(p.name for p in saved.dir.iterdir()) == sorted(["current", str(second)])
