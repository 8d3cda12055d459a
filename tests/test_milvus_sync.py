"""The shared index (Milvus Lite here) is written once per change: a second worker finds
the work done, a crash between the data and the generation is applied again, two
appliers racing apply the change once, a caller holding the write lock applies in its
own transaction, and ``facerec doctor`` checks and repairs it in place."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.db.engine import lock_for_write
from facerec.doctor.service import run_doctor
from facerec.faces.storage import ImageStore
from facerec.index.milvus_index import MilvusIndex, connect
from facerec.index.milvus_sync import SharedIndexSync
from facerec.index.models import current_generation
from tests.index_db import index_db
from tests.test_index_congruence import Gallery, unit

DIM = 8


class CountingIndex(MilvusIndex):
    """Counts face writes; ``crash_before_mark`` makes the next generation write fail."""

    def __init__(self, uri: str) -> None:
        super().__init__(connect(uri), DIM)
        self.upserts: list[list[int]] = []
        self.crash_before_mark = False

    def upsert_faces(
        self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]
    ) -> None:
        self.upserts.append(list(face_ids))
        super().upsert_faces(face_ids, person_ids, vectors)

    def mark_applied(self, generation: int, model: str) -> None:
        if self.crash_before_mark:
            self.crash_before_mark = False
            raise RuntimeError("killed between the data and the generation")
        super().mark_applied(generation, model)


@pytest.fixture
def db(tmp_path: Path, database_url: str | None) -> Iterator[Engine]:
    with index_db(tmp_path, database_url) as engine:  # PostgreSQL under make test-postgres
        yield engine


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "milvus.db")


def held(index: MilvusIndex) -> dict[int, int]:
    entries = index.entries()
    return dict(zip(entries.face_ids.tolist(), entries.person_ids.tolist(), strict=True))


def catch_up(sync: SharedIndexSync, db: Engine) -> None:
    with Session(db) as session:
        sync.catch_up(session)


def test_a_change_is_written_once_whatever_the_number_of_workers(db: Engine, uri: str) -> None:
    gallery = Gallery(db)
    first, second = CountingIndex(uri), CountingIndex(uri)
    workers = [SharedIndexSync(first, "m"), SharedIndexSync(second, "m")]
    gallery.enrol(1, unit(np.eye(DIM)[:2] + 0.1))
    for worker in workers:
        catch_up(worker, db)
    face = gallery.enrol(2, unit(np.ones((1, DIM))))[0]
    for worker in workers:
        catch_up(worker, db)
    assert first.upserts + second.upserts == [sorted(gallery.faces)[:2], [face]]
    assert held(second) == {f: p for f, (p, _v) in gallery.faces.items()}
    assert second.applied() is not None and second.applied().generation == 2  # type: ignore[union-attr]


def test_a_crash_between_data_and_generation_is_applied_again(db: Engine, uri: str) -> None:
    gallery = Gallery(db)
    index = CountingIndex(uri)
    worker = SharedIndexSync(index, "m")
    first = gallery.enrol(1, unit(np.eye(DIM)[:2] + 0.1))
    catch_up(worker, db)
    gallery.remove(first[:1])
    second = gallery.enrol(1, unit(np.eye(DIM)[2:3] + 0.1))
    index.crash_before_mark = True
    with pytest.raises(RuntimeError):
        catch_up(worker, db)
    assert held(index) == {first[1]: 1, second[0]: 1}  # the data was written...
    assert index.applied().generation == 1  # type: ignore[union-attr]  # ...not the generation

    restarted = CountingIndex(uri)
    catch_up(SharedIndexSync(restarted, "m"), db)
    assert restarted.upserts == [second]  # the same changes again, not a reload
    assert held(restarted) == {first[1]: 1, second[0]: 1}
    assert restarted.applied().generation == 3  # type: ignore[union-attr]
    vectors = np.stack([gallery.faces[f][1] for f in (first[1], second[0])]).astype(np.float64)
    mean = vectors.sum(axis=0) / np.linalg.norm(vectors.sum(axis=0))
    hit = restarted.search_people(mean.astype(np.float32)[None, :], 1)[0][0]
    assert hit.similarity == pytest.approx(1.0 - 0.0116 * 0.5, abs=1e-5)  # centroid of two


def test_two_appliers_racing_apply_the_change_once(db: Engine, uri: str) -> None:
    gallery = Gallery(db)
    indexes = [CountingIndex(uri), CountingIndex(uri)]
    workers = [SharedIndexSync(i, "m") for i in indexes]
    catch_up(workers[0], db)
    catch_up(workers[1], db)
    face = gallery.enrol(7, unit(np.ones((1, DIM))))[0]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(worker: SharedIndexSync) -> None:
        try:
            start.wait()
            catch_up(worker, db)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [u for i in indexes for u in i.upserts] == [[face]]
    assert held(indexes[0]) == {face: 7}
    assert all(w.generation == 1 for w in workers)


def test_a_caller_holding_the_write_lock_applies_in_its_own_transaction(
    db: Engine, uri: str
) -> None:
    """Enrolment searches for look-alikes under the write lock: no deadlock, no waiting."""
    gallery = Gallery(db)
    index = CountingIndex(uri)
    worker = SharedIndexSync(index, "m")
    face = gallery.enrol(3, unit(np.ones((1, DIM))))[0]
    with Session(db) as session:
        lock_for_write(session)
        worker.catch_up(session)
        assert held(index) == {face: 3}
        session.rollback()


def test_a_database_behind_the_index_reloads_it(db: Engine, uri: str) -> None:
    """After a restore, the meta row is ahead of the database: the database wins."""
    gallery = Gallery(db)
    index = CountingIndex(uri)
    face = gallery.enrol(1, unit(np.ones((1, DIM))))[0]
    index.upsert_faces([555], [9], unit(np.ones((1, DIM))))
    index.mark_applied(40, "m")
    catch_up(SharedIndexSync(index, "m"), db)
    assert held(index) == {face: 1}
    assert index.applied().generation == 1  # type: ignore[union-attr]


def test_doctor_finds_and_repairs_the_shared_index_in_place(
    db: Engine, uri: str, tmp_path: Path
) -> None:
    gallery = Gallery(db)
    index = CountingIndex(uri)
    worker = SharedIndexSync(index, "m")
    faces = gallery.enrol(1, unit(np.eye(DIM)[:2] + 0.1))
    catch_up(worker, db)
    index.delete_faces([faces[0]])  # lost behind the change log's back
    index.upsert_faces([faces[1]], [2], unit(np.ones((1, DIM))))  # wrong person and vector

    def doctor(repair: bool) -> list[str]:
        with Session(db, expire_on_commit=False) as session:
            report = run_doctor(
                session=session,
                images=ImageStore(tmp_path / "images"),
                crops=ImageStore(tmp_path / "crops"),
                model="m",
                dim=DIM,
                repair=repair,
                sync=worker,
            )
        return sorted(
            f"{f.kind} {f.subject}" for f in report.findings if f.kind.startswith("index")
        )

    broken = [f"index_missing faces {faces[0]}", f"index_vector faces {faces[1]}"]
    assert doctor(repair=True) == broken
    assert held(index) == {faces[0]: 1, faces[1]: 1}
    assert doctor(repair=False) == []
    with Session(db) as session:
        assert worker.status(session).in_step and current_generation(session) == 1
