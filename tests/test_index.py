"""FAISS index ranking and the change-log sync that keeps workers in step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from facerec.db.engine import lock_for_write, make_engine
from facerec.db.migrate import upgrade
from facerec.faces.models import Face
from facerec.index.base import person_similarity
from facerec.index.faiss_index import FaissIndex
from facerec.index.models import FaceChange, record_changes, request_rebuild
from facerec.index.sync import IndexSync
from facerec.people.models import Person
from tests.factories import face_row

DIM = 8


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def test_best_face_per_person_then_top_k() -> None:
    index = FaissIndex(DIM)
    e1, e2, e3 = _axis(0), _axis(1), _axis(2)
    near = 0.96 * e1 + 0.28 * e2  # cosine 0.96 with e1 (0.96^2 + 0.28^2 = 1)
    opposite = -0.6 * e1 + 0.8 * e3  # cosine -0.6 with e1
    vectors = np.stack([e1, near, opposite]).astype(np.float32)
    index.add([10, 11, 12], [1, 1, 2], vectors)
    (hits,) = index.search_people(e1[None, :], top_k=5)
    assert [h.person_id for h in hits] == [1, 2]  # person 1 once, with its best face
    assert hits[0].face_id == 10
    # person 1 by centroid: (1.96, 0.28) / sqrt(1.96^2 + 0.28^2) = (1.96, 0.28) / 1.979899,
    # cosine 1.96 / 1.979899 = 0.989949, lowered by 0.0116 * (1 - 1/2) = 0.0058: 0.984149
    assert hits[0].similarity == pytest.approx(0.984149, abs=1e-5)
    assert person_similarity(vectors[:2], e1) == pytest.approx(0.984149, abs=1e-5)
    assert hits[1].similarity == 0.0  # cosine -0.6, clipped: never negative
    (top1,) = index.search_people(e1[None, :], top_k=1)
    assert [(h.person_id, h.face_id) for h in top1] == [(1, 10)]


def test_search_finds_people_beyond_the_first_page_of_faces() -> None:
    index = FaissIndex(DIM)
    base = _unit(1)
    many = np.stack([base] * 300 + [_unit(9)])  # one person holds the 300 nearest faces
    index.add(list(range(1, 302)), [1] * 300 + [2], many)
    (hits,) = index.search_people(base[None, :], top_k=2)
    assert [h.person_id for h in hits] == [1, 2]


def test_remove_and_replace() -> None:
    index = FaissIndex(DIM)
    index.add([1, 2], [1, 2], np.stack([_unit(1), _unit(2)]))
    index.remove([1, 99])
    assert index.count() == 1
    index.add([2], [3], _unit(5)[None, :])  # same face id again: replaced
    assert index.count() == 1
    (hits,) = index.search_people(_unit(5)[None, :], top_k=3)
    assert hits[0].person_id == 3


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _add_face(engine: Engine, person_id: int, seed: int, face_id: int | None = None) -> int:
    with Session(engine) as session:
        lock_for_write(session)
        if session.get(Person, person_id) is None:
            session.add(Person(id=person_id, name=f"p{person_id}"))
        face = face_row(session, person_id=person_id, embedding=_unit(seed), face_id=face_id)
        record_changes(session, [("add", face.id or 0, person_id)])
        session.commit()
        return face.id or 0


def _delete_face(engine: Engine, face_id: int) -> None:
    with Session(engine) as session:
        lock_for_write(session)
        face = session.get(Face, face_id)
        assert face is not None
        record_changes(session, [("delete", face_id, face.person_id)])
        session.delete(face)
        session.commit()


def _people(sync: IndexSync, engine: Engine, seed: int) -> list[int]:
    with Session(engine) as session:
        sync.catch_up(session)
    (hits,) = sync.index.search_people(_unit(seed)[None, :], top_k=5)
    return [h.person_id for h in hits if h.similarity > 0.99]


def test_two_workers_follow_each_others_changes(db: Engine) -> None:
    worker_a, worker_b = IndexSync(FaissIndex(DIM), "m"), IndexSync(FaissIndex(DIM), "m")
    for worker in (worker_a, worker_b):
        with Session(db) as session:
            worker.rebuild(session)
    face = _add_face(db, 1, seed=7)  # written "through" worker A
    assert _people(worker_b, db, 7) == [1]
    assert _people(worker_a, db, 7) == [1]
    _delete_face(db, face)
    assert _people(worker_b, db, 7) == []
    # SQLite may hand the deleted id to the next face: replay must honour order.
    again = _add_face(db, 2, seed=8)
    assert _people(worker_a, db, 8) == [2]
    with Session(db) as session:
        for worker in (worker_a, worker_b):
            worker.catch_up(session)
            status = worker.status(session)
            assert status.in_step, status
            assert status.index_count == 1
    assert again > 0


def test_replay_of_add_then_delete_of_the_same_face(db: Engine) -> None:
    """Face ids come back after a delete (explicit here, whatever the database does):
    replay must apply only the newest change of each face, removals before additions."""
    worker = IndexSync(FaissIndex(DIM), "m")
    with Session(db) as session:
        worker.rebuild(session)
    # one replay sees: add 5 (seed 3), delete 5, add 5 (seed 4)
    assert _add_face(db, 1, seed=3, face_id=5) == 5
    _delete_face(db, 5)
    assert _add_face(db, 1, seed=4, face_id=5) == 5
    assert _people(worker, db, 4) == [1]
    assert _people(worker, db, 3) == []
    assert _add_face(db, 2, seed=6, face_id=6) == 6
    assert _people(worker, db, 6) == [2]
    # the next replay sees: delete 5, add 5 (seed 5, another person), delete 6
    _delete_face(db, 5)
    assert _add_face(db, 3, seed=5, face_id=5) == 5
    _delete_face(db, 6)
    assert _people(worker, db, 5) == [3]
    assert _people(worker, db, 4) == []
    assert _people(worker, db, 6) == []
    with Session(db) as session:
        status = worker.status(session)
    assert status.in_step, status
    assert status.index_count == 1


def test_rebuild_request_reloads_everything(db: Engine) -> None:
    worker = IndexSync(FaissIndex(DIM), "m")
    _add_face(db, 1, seed=1)
    with Session(db) as session:
        worker.rebuild(session)
    worker.index.reset()  # the cache goes bad
    with Session(db) as session:
        assert not worker.status(session).in_step
        lock_for_write(session)
        record_changes(session, [("rebuild", 0, 0)])
        session.commit()
        worker.catch_up(session)
        assert worker.status(session).in_step


def test_a_rebuild_request_empties_the_log_and_every_worker_follows(db: Engine) -> None:
    behind, current = IndexSync(FaissIndex(DIM), "m"), IndexSync(FaissIndex(DIM), "m")
    with Session(db) as session:
        behind.rebuild(session)
    kept = _add_face(db, 1, seed=11)
    _delete_face(db, _add_face(db, 2, seed=12))
    assert _people(current, db, 11) == [1]
    with Session(db) as session:
        lock_for_write(session)
        generation, dropped = request_rebuild(session)
        session.commit()
        assert dropped == 3  # add, add, delete
        rows = session.exec(select(FaceChange)).all()
        assert [(r.generation, r.op) for r in rows] == [(generation, "rebuild")]
    # a worker from before any of it, and one that had seen it all, both end in step
    assert _people(behind, db, 11) == [1] and _people(behind, db, 12) == []
    assert _people(current, db, 11) == [1]
    _add_face(db, 3, seed=13)  # and the log goes on from there
    for worker in (behind, current):
        assert _people(worker, db, 13) == [3]
        with Session(db) as session:
            assert worker.status(session).in_step
    assert kept > 0


def test_a_person_with_several_photos_scores_by_centroid() -> None:
    index = FaissIndex(DIM)
    probe = _unit(20)
    # two photos of person 1 on either side of the probe: each alone is further than
    # their mean; person 2 has one photo in between
    side = _orthogonal(probe, 21)
    left, right = probe * 0.8 + side * 0.6, probe * 0.8 - side * 0.6
    single = probe * 0.9 + _orthogonal(probe, 22) * float(np.sqrt(1 - 0.81))
    index.add([1, 2, 3], [1, 1, 2], np.stack([left, right, single]).astype(np.float32))
    (hits,) = index.search_people(probe[None, :], top_k=5)
    assert [h.person_id for h in hits] == [1, 2]
    # the centroid is the probe itself: cosine 1.0, lowered by 0.0116 * (1 - 1/2) = 0.0058
    assert hits[0].similarity == pytest.approx(0.9942, abs=1e-5)
    assert hits[0].face_id in (1, 2)
    assert hits[1].similarity == pytest.approx(0.9, abs=1e-5)
    photos = np.stack([left, right]).astype(np.float32)
    assert person_similarity(photos, probe) == pytest.approx(0.9942, abs=1e-5)
    assert person_similarity(photos[:1], probe) == pytest.approx(0.8, abs=1e-5)
    # one photo left: the person scores by that face alone; none left: gone
    index.remove([2])
    (hits,) = index.search_people(probe[None, :], top_k=5)
    assert [(h.person_id, round(h.similarity, 4)) for h in hits] == [(2, 0.9), (1, 0.8)]
    index.remove([1])
    (hits,) = index.search_people(probe[None, :], top_k=5)
    assert [h.person_id for h in hits] == [2]
    index.reset()
    assert index.search_people(probe[None, :], top_k=5) == [[]]


def test_centroid_scores_worked_by_hand() -> None:
    e1, e2, e3, e4 = (_axis(i) for i in range(4))
    # two photos e1, e2; probe e1: centroid (1, 1) / sqrt(2), cosine 1 / sqrt(2) = 0.707107,
    # lowered by 0.0116 * (1 - 1/2) = 0.0058: 0.701307
    two = np.stack([e1, e2])
    assert person_similarity(two, e1) == pytest.approx(0.701307, abs=1e-5)
    # three photos e1, e3, e4; probe e1: centroid (1, 0, 1, 1) / sqrt(3), cosine
    # 1 / sqrt(3) = 0.577350, lowered by 0.0116 * (1 - 1/3) = 0.007733: 0.569617
    three = np.stack([e1, e3, e4])
    assert person_similarity(three, e1) == pytest.approx(0.569617, abs=1e-5)
    # one photo: its cosine as it is, no offset
    assert person_similarity(np.stack([e2 * 0.6 + e1 * 0.8]), e1) == pytest.approx(0.8, abs=1e-6)
    index = FaissIndex(DIM)
    index.add([10, 11, 20, 21, 22], [1, 1, 2, 2, 2], np.concatenate([two, three]))
    (hits,) = index.search_people(e1[None, :], top_k=5)
    assert [(h.person_id, h.face_id) for h in hits] == [(1, 10), (2, 20)]
    assert hits[0].similarity == pytest.approx(0.701307, abs=1e-5)
    assert hits[1].similarity == pytest.approx(0.569617, abs=1e-5)


def test_a_person_found_only_by_centroid_gets_their_closest_face() -> None:
    index = FaissIndex(DIM)
    probe = _unit(30)
    side = _orthogonal(probe, 31)
    # face 1 has cosine 0.6 with the probe, face 2 (the closer) 0.7
    pair = [probe * 0.6 - side * 0.8, probe * 0.7 + side * np.sqrt(0.51)]
    # many close single-photo people (0.75) push person 1's faces out of the face
    # search's top k
    crowd = [probe * 0.75 + _orthogonal(probe, 100 + i) * np.sqrt(1 - 0.5625) for i in range(80)]
    vectors = np.stack([*pair, *crowd]).astype(np.float32)
    index.add(list(range(1, 83)), [1, 1, *range(2, 82)], vectors)
    (hits,) = index.search_people(probe[None, :], top_k=1)
    assert hits[0].person_id == 1
    # sum of the pair: 1.3 probe + (sqrt(0.51) - 0.8) side = 1.3 probe - 0.085857 side,
    # norm sqrt(1.69 + 0.0073714) = 1.302832, cosine 1.3 / 1.302832 = 0.997826,
    # lowered by 0.0116 * (1 - 1/2) = 0.0058: 0.992026
    assert hits[0].similarity == pytest.approx(0.992026, abs=1e-5)
    assert hits[0].face_id == 2  # the closer of the two photos


def test_a_person_found_only_by_a_face_still_scores_by_centroid() -> None:
    index = FaissIndex(DIM)
    probe = _unit(40)
    # person 1: one photo is the probe, the other orthogonal to it: centroid cosine
    # 1 / sqrt(2) = 0.707107, score 0.707107 - 0.0116 * (1 - 1/2) = 0.701307.
    own = [probe, _orthogonal(probe, 41)]
    # 70 people with ten identical photos each at cosine 0.708: their centroids (0.708)
    # come before person 1's (0.7071) in the centroid search, which looks at the best 64
    # and so never sees person 1's, but score lower: 0.708 - 0.0116 * (1 - 1/10) = 0.69756
    crowd = [
        probe * 0.708 + _orthogonal(probe, 200 + i) * float(np.sqrt(1 - 0.708**2))
        for i in range(70)
        for _ in range(10)
    ]
    vectors = np.stack([*own, *crowd]).astype(np.float32)
    people = [1, 1, *[2 + i // 10 for i in range(700)]]
    index.add(list(range(1, 703)), people, vectors)
    (hits,) = index.search_people(probe[None, :], top_k=1)
    assert [(h.person_id, h.face_id) for h in hits] == [(1, 1)]
    assert hits[0].similarity == pytest.approx(0.701307, abs=1e-5)
    (hits,) = index.search_people(probe[None, :], top_k=3)
    assert [h.person_id == 1 for h in hits] == [True, False, False]
    assert [h.similarity for h in hits] == pytest.approx([0.701307, 0.69756, 0.69756], abs=1e-5)


def _axis(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def _orthogonal(v: np.ndarray, seed: int) -> np.ndarray:
    u = _unit(seed)
    u -= (u @ v) * v
    unit: np.ndarray = u / np.linalg.norm(u)
    return unit
