"""Edges of ``IndexSync``: what a worker's index holds after a rebuild, after interleaved
changes by several workers and after a rebuild request (checked against a plain dict of
the faces the test wrote), that a replay touches only the faces changed since, the
order a replay applies the log in, a worker's status before its first build and
``malformed_vectors`` counted by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy.engine import Engine
from sqlmodel import Session, text

from facerec.db.engine import lock_for_write, make_engine
from facerec.db.migrate import upgrade
from facerec.faces.models import Face
from facerec.index.base import Hit
from facerec.index.models import FaceChange, record_changes, request_rebuild
from facerec.index.sync import IndexStatus, IndexSync
from facerec.people.models import Person
from tests.factories import face_row

DIM = 4

Held = dict[int, tuple[int, bytes]]
"""What an index holds: face id -> (person id, the vector's float32 bytes)."""


class DictIndex:
    """A plain-Python ``VectorIndex`` that keeps exactly what it was given and records
    every call (``search_people`` is not needed here)."""

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.faces: Held = {}
        self.calls: list[tuple[str, list[int]]] = []
        self.dtypes: list[np.dtype[np.generic]] = []

    def add(self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]) -> None:
        self.calls.append(("add", list(face_ids)))
        self.dtypes.append(vectors.dtype)
        for face_id, person_id, vector in zip(face_ids, person_ids, vectors, strict=True):
            self.faces[face_id] = (person_id, vector.tobytes())

    def remove(self, face_ids: list[int]) -> None:
        self.calls.append(("remove", list(face_ids)))
        for face_id in face_ids:
            self.faces.pop(face_id, None)

    def reset(self) -> None:
        self.calls.append(("reset", []))
        self.faces.clear()

    def count(self) -> int:
        return len(self.faces)

    def search_people(self, vectors: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        raise NotImplementedError


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'sync-edges.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _blob(values: list[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def _unit(seed: int) -> bytes:
    v = np.random.default_rng(seed).normal(size=DIM)
    return _blob(list(v / np.linalg.norm(v)))


def _insert(
    session: Session, person_id: int, blob: bytes, *, face_id: int | None = None, model: str = "m"
) -> int:
    """A face row (and its person and image), no change logged."""
    if session.get(Person, person_id) is None:
        session.add(Person(id=person_id, name=f"p{person_id}"))
    face = face_row(session, person_id=person_id, embedding=blob, model=model, face_id=face_id)
    assert face.id is not None
    return face.id


def _enrol(
    engine: Engine, person_id: int, blob: bytes, *, face_id: int | None = None, model: str = "m"
) -> int:
    with Session(engine) as session:
        lock_for_write(session)
        new = _insert(session, person_id, blob, face_id=face_id, model=model)
        record_changes(session, [("add", new, person_id)])
        session.commit()
    return new


def _delete(engine: Engine, face_id: int) -> None:
    with Session(engine) as session:
        lock_for_write(session)
        face = session.get(Face, face_id)
        assert face is not None
        record_changes(session, [("delete", face_id, face.person_id)])
        session.delete(face)
        session.commit()


def _move_to_model(engine: Engine, face_id: int, model: str, blob: bytes) -> None:
    """What ``facerec index reembed`` does: a new vector and model, logged as ``add``."""
    with Session(engine) as session:
        lock_for_write(session)
        face = session.get(Face, face_id)
        assert face is not None
        face.embedding, face.model = blob, model
        session.add(face)
        record_changes(session, [("add", face_id, face.person_id)])
        session.commit()


def _caught_up(worker: IndexSync, engine: Engine) -> Held:
    with Session(engine) as session:
        worker.catch_up(session)
    assert isinstance(worker.index, DictIndex)
    return dict(worker.index.faces)


def _calls(worker: IndexSync) -> list[tuple[str, list[int]]]:
    assert isinstance(worker.index, DictIndex)
    calls = list(worker.index.calls)
    worker.index.calls.clear()
    return calls


# -- rebuild -----------------------------------------------------------------------------------
def test_a_rebuild_holds_every_face_of_the_model_under_its_own_id(db: Engine) -> None:
    expected: Held = {}
    with Session(db) as session:
        for person_id, seed in [(1, 1), (1, 2), (2, 3), (3, 4)]:
            blob = _unit(seed)
            expected[_insert(session, person_id, blob)] = (person_id, blob)
        _insert(session, 2, _unit(5), model="other")  # another model: not this worker's
        _insert(session, 4, _unit(6), model="other")
        session.commit()
    assert sorted(expected) == [1, 2, 3, 4]
    index = DictIndex()
    worker = IndexSync(index, "m")
    with Session(db) as session:
        assert worker.rebuild(session) == 4
    assert index.faces == expected
    assert index.dtypes == [np.dtype(np.float32)]
    assert _calls(worker) == [("reset", []), ("add", [1, 2, 3, 4])]


def test_a_face_with_id_zero_is_indexed_as_face_zero(db: Engine) -> None:
    # SQLite holds a row id 0 when it is given one; it must not land on face 1
    zero, one, later = _unit(10), _unit(11), _unit(12)
    with Session(db) as session:
        assert _insert(session, 1, zero, face_id=0) == 0
        assert _insert(session, 2, one, face_id=1) == 1
        session.commit()
    index = DictIndex()
    worker = IndexSync(index, "m")
    with Session(db) as session:
        worker.rebuild(session)
    assert index.faces == {0: (1, zero), 1: (2, one)}
    _delete(db, 0)
    assert _caught_up(worker, db) == {1: (2, one)}
    assert _enrol(db, 3, later, face_id=0) == 0  # and through a replay
    assert _caught_up(worker, db) == {0: (3, later), 1: (2, one)}


# -- catch_up and replay -----------------------------------------------------------------------
def test_a_worker_built_at_generation_zero_replays_rather_than_reloads(db: Engine) -> None:
    worker = IndexSync(DictIndex(), "m")
    with Session(db) as session:
        assert worker.rebuild(session) == 0  # empty database, generation 0
    assert _calls(worker) == [("reset", [])]
    first = _enrol(db, 1, _unit(20))  # generation 1
    assert _caught_up(worker, db) == {first: (1, _unit(20))}
    assert _calls(worker) == [("remove", [first]), ("add", [first])]
    # the next replay starts after generation 1: face `first` is not touched again
    second = _enrol(db, 2, _unit(21))  # generation 2
    assert _caught_up(worker, db) == {first: (1, _unit(20)), second: (2, _unit(21))}
    assert _calls(worker) == [("remove", [second]), ("add", [second])]
    assert _caught_up(worker, db) == {first: (1, _unit(20)), second: (2, _unit(21))}
    assert _calls(worker) == []  # nothing new: nothing done


def test_a_worker_never_built_loads_everything_on_its_first_catch_up(db: Engine) -> None:
    kept = _enrol(db, 1, _unit(30))  # generation 1
    worker = IndexSync(DictIndex(), "m")
    assert _caught_up(worker, db) == {kept: (1, _unit(30))}
    assert _calls(worker) == [("reset", []), ("add", [kept])]


def test_one_reload_per_rebuild_request_then_replays_again(db: Engine) -> None:
    worker = IndexSync(DictIndex(), "m")
    first = _enrol(db, 1, _unit(40))
    assert _caught_up(worker, db) == {first: (1, _unit(40))}
    with Session(db) as session:
        lock_for_write(session)
        generation, _ = request_rebuild(session)
        session.commit()
    assert generation == 2
    _calls(worker)
    assert _caught_up(worker, db) == {first: (1, _unit(40))}
    assert _calls(worker) == [("reset", []), ("add", [first])]
    # the rebuild row (generation 2) is behind the worker now: no second reload
    second = _enrol(db, 2, _unit(41))  # generation 3
    assert _caught_up(worker, db) == {first: (1, _unit(40)), second: (2, _unit(41))}
    assert _calls(worker) == [("remove", [second]), ("add", [second])]
    with Session(db) as session:
        assert worker.status(session) == IndexStatus(
            in_step=True, index_count=2, db_count=2, index_generation=3, db_generation=3
        )


def _log(session: Session, row_id: int, op: str, face_id: int, person_id: int) -> int:
    """One change under a new generation, with the log row id given (as a database whose
    ids come from a cached sequence, e.g. PostgreSQL with CACHE > 1, can hand them out)."""
    session.execute(text("UPDATE index_state SET generation = generation + 1 WHERE id = 1"))
    generation = int(session.execute(text("SELECT generation FROM index_state")).scalar_one())
    session.add(
        FaceChange(id=row_id, generation=generation, op=op, face_id=face_id, person_id=person_id)
    )
    return generation


def test_a_replay_follows_generations_not_log_row_ids(db: Engine) -> None:
    old, new = _unit(50), _unit(51)
    with Session(db) as session:
        assert _insert(session, 1, old, face_id=5) == 5
        session.commit()
    worker = IndexSync(DictIndex(), "m")
    with Session(db) as session:
        worker.rebuild(session)  # generation 0, face 5 of person 1
    with Session(db) as session:  # generation 1: face 5 deleted, logged as row 20
        lock_for_write(session)
        face = session.get(Face, 5)
        assert face is not None
        session.delete(face)
        assert _log(session, 20, "delete", 5, 1) == 1
        session.commit()
    with Session(db) as session:  # generation 2: face 5 again, another person, row 10
        lock_for_write(session)
        assert _insert(session, 2, new, face_id=5) == 5
        assert _log(session, 10, "add", 5, 2) == 2
        session.commit()
    # in generation order the add comes last: face 5 is there, of person 2
    assert _caught_up(worker, db) == {5: (2, new)}


def test_changes_of_one_generation_apply_in_the_order_recorded(db: Engine) -> None:
    old, new = _unit(60), _unit(61)
    assert _enrol(db, 1, old, face_id=5) == 5
    worker = IndexSync(DictIndex(), "m")
    assert _caught_up(worker, db) == {5: (1, old)}
    with Session(db) as session:  # one transaction replaces face 5: delete, then add
        lock_for_write(session)
        face = session.get(Face, 5)
        assert face is not None
        session.delete(face)
        session.flush()
        assert _insert(session, 2, new, face_id=5) == 5
        record_changes(session, [("delete", 5, 1), ("add", 5, 2)])
        session.commit()
    assert _caught_up(worker, db) == {5: (2, new)}


def test_two_workers_follow_interleaved_changes(db: Engine) -> None:
    expected: Held = {}  # the faces of model "m", kept by hand
    a, b = IndexSync(DictIndex(), "m"), IndexSync(DictIndex(), "m")
    with Session(db) as session:
        a.rebuild(session)

    def enrol(person_id: int, seed: int, face_id: int | None = None, model: str = "m") -> int:
        new = _enrol(db, person_id, _unit(seed), face_id=face_id, model=model)
        if model == "m":
            expected[new] = (person_id, _unit(seed))
        return new

    def delete(face_id: int) -> None:
        _delete(db, face_id)
        expected.pop(face_id, None)

    f1, f2, f3 = enrol(1, 1), enrol(1, 2), enrol(2, 3)
    assert (
        _caught_up(b, db) == expected == {f1: (1, _unit(1)), f2: (1, _unit(2)), f3: (2, _unit(3))}
    )
    delete(f2)
    f4 = enrol(3, 4, model="other")  # logged, but not of this model
    assert _caught_up(a, db) == expected == {f1: (1, _unit(1)), f3: (2, _unit(3))}
    delete(f1)
    enrol(3, 5, face_id=f1)  # the id comes back for another person
    _move_to_model(db, f3, "other", _unit(6))  # re-embedded by another model: gone from "m"
    expected.pop(f3)
    _move_to_model(db, f4, "m", _unit(7))  # and one comes over to "m"
    expected[f4] = (3, _unit(7))
    assert _caught_up(b, db) == expected == {f1: (3, _unit(5)), f4: (3, _unit(7))}
    with Session(db) as session:
        lock_for_write(session)
        request_rebuild(session)
        session.commit()
    f5 = enrol(4, 8)
    delete(f4)
    assert _caught_up(a, db) == expected == {f1: (3, _unit(5)), f5: (4, _unit(8))}
    assert _caught_up(b, db) == expected
    delete(f5)
    f6 = enrol(2, 9)
    assert _caught_up(b, db) == expected == {f1: (3, _unit(5)), f6: (2, _unit(9))}
    assert _caught_up(a, db) == expected
    with Session(db) as session:
        for worker in (a, b):
            assert worker.status(session) == IndexStatus(
                in_step=True, index_count=2, db_count=2, index_generation=14, db_generation=14
            )


# -- status ------------------------------------------------------------------------------------
def test_the_status_of_a_worker_never_built(db: Engine) -> None:
    worker = IndexSync(DictIndex(), "m")
    with Session(db) as session:
        # both empty, yet not in step: the index has not been built (generation -1)
        assert worker.status(session) == IndexStatus(
            in_step=False, index_count=0, db_count=0, index_generation=-1, db_generation=0
        )
        worker.rebuild(session)
        assert worker.status(session) == IndexStatus(
            in_step=True, index_count=0, db_count=0, index_generation=0, db_generation=0
        )


def test_status_counts_only_the_faces_of_the_workers_model(db: Engine) -> None:
    _enrol(db, 1, _unit(70))
    _enrol(db, 1, _unit(71), model="other")
    _enrol(db, 2, _unit(72), model="other")
    worker = IndexSync(DictIndex(), "other")
    with Session(db) as session:
        worker.rebuild(session)
        status = worker.status(session)
    assert status == IndexStatus(
        in_step=True, index_count=2, db_count=2, index_generation=3, db_generation=3
    )
    assert type(status.db_count) is int


# -- malformed_vectors ---------------------------------------------------------------------------
def test_malformed_vectors_counted_by_hand(db: Engine) -> None:
    worker = IndexSync(DictIndex(), "m")
    with Session(db) as session:
        assert worker.malformed_vectors(session, dim=DIM) == 0  # no faces
        rows = [
            ([1.0, 0.0, 0.0, 0.0], "m"),  # exactly unit: fine
            ([0.6, 0.8, 0.0, 0.0], "m"),  # unit to float32 rounding: fine
            ([0.0, 0.0, 1.0005, 0.0], "m"),  # norm off by 0.0005 (< 1e-3): fine
            ([0.0, 0.0, 0.0, 0.9995], "m"),  # fine
            ([1.002, 0.0, 0.0, 0.0], "m"),  # norm off by 0.002: bad
            ([0.0, 0.998, 0.0, 0.0], "m"),  # bad
            ([2.0, 0.0, 0.0, 0.0], "m"),  # norm 2: bad
            ([0.0, 0.0, 0.0, 0.0], "m"),  # norm 0: bad
            ([1.0, 0.0, 0.0, 0.0, 0.0], "m"),  # unit but 5 values: bad
            ([0.0, 1.0, 0.0], "m"),  # unit but 3 values: bad
            ([3.0, 0.0, 0.0, 0.0], "other"),  # another model's, bad or not: not counted
            ([1.0, 0.0, 0.0, 0.0, 0.0, 0.0], "other"),
            ([1.0, 0.0, 0.0, 0.0], "other"),
            ([0.0, 0.0, 0.0, 1.0], "m"),  # fine (last, so a count that is not a sum shows)
        ]
        for person_id, (values, model) in enumerate(rows, start=1):
            _insert(session, person_id, _blob(values), model=model)
        session.commit()
    with Session(db) as session:
        # bad for dimension 4: 1.002, 0.998, 2, 0, the 5 and the 3 values
        assert worker.malformed_vectors(session, dim=DIM) == 6
        # for dimension 5 every 4- and 3-value vector is bad; the 5-value unit one is fine
        assert worker.malformed_vectors(session, dim=5) == 10
        # the other model's: 3.0 (norm 3) and the 6 values
        assert IndexSync(DictIndex(), "other").malformed_vectors(session, dim=DIM) == 2
        assert IndexSync(DictIndex(), "none").malformed_vectors(session, dim=DIM) == 0
