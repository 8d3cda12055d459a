"""One contract, every backend: the same gallery gives the same recognition answers.

Each test runs against every backend in ``BACKENDS`` (FAISS in process, exact and past
its approximate size, Milvus Lite in a temporary file; another backend is one more
entry), through the sync the factory gives it, over a real SQLite database and its
change log. Expected answers are brute force in
numpy, written here from the definition (a person's score is the cosine with their one
face, or their centroid's cosine lowered by ``CENTROID_OFFSET * (1 - 1/photos)``,
clipped to [0, 1]; ties to the smaller person id; the closest face by cosine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.config import FaissSettings, Settings
from facerec.db.engine import lock_for_write
from facerec.faces.models import Face
from facerec.index.base import CENTROID_OFFSET, VectorIndex
from facerec.index.factory import index_sync
from facerec.index.faiss_index import FaissIndex
from facerec.index.milvus_index import MilvusIndex, connect
from facerec.index.models import record_changes, request_rebuild
from facerec.index.scaled import ScaledFaissIndex
from facerec.index.sync import IndexSync
from facerec.people.models import Person
from tests.factories import face_row
from tests.index_db import index_db

DIM = 128
MODEL = "m"
TOP_K = 5

Backend = Callable[[Path, int], VectorIndex]
APPROXIMATE_ABOVE = 50
"""The "faiss-approx" backend's size: every gallery here is past it, so the index is the
IVF base with its overlay (tombstones, a delta, recomputed centroids). Its answers must be
the same, not merely close: an IVF over n <= 400 faces has at most n // 39 <= 10 lists
(``frozen.lists_for``) and the default ``nprobe`` (384; 64 for the centroids) reads them
all; what differs from exact search is only the machinery, which is what is under test."""

BACKENDS: dict[str, Backend] = {
    "faiss": lambda _tmp, dim: FaissIndex(dim),
    "faiss-approx": lambda _tmp, dim: ScaledFaissIndex(
        dim, approximate_above=APPROXIMATE_ABOVE, nprobe=FaissSettings().nprobe
    ),
    "milvus-lite": lambda tmp, dim: MilvusIndex(connect(str(tmp / "milvus.db")), dim),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
def db(tmp_path: Path, database_url: str | None) -> Iterator[Engine]:
    """The test's database: a new SQLite file, or its own PostgreSQL database."""
    with index_db(tmp_path, database_url) as engine:
        yield engine


def unit(rows: NDArray[np.float64]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(
        np.float32
    )
    return out


class Gallery:
    """The faces table (what the test wrote) and writes that log their changes."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.faces: dict[int, tuple[int, NDArray[np.float32]]] = {}

    def enrol(self, person_id: int, vectors: NDArray[np.float32]) -> list[int]:
        with Session(self.db) as session:
            lock_for_write(session)
            if session.get(Person, person_id) is None:
                session.add(Person(id=person_id, name=f"p{person_id}"))
            ids = []
            for vector in vectors:
                face = face_row(
                    session,
                    person_id=person_id,
                    embedding=vector.astype("<f4").tobytes(),
                    model=MODEL,
                )
                assert face.id is not None
                ids.append(face.id)
                self.faces[face.id] = (person_id, vector)
            record_changes(session, [("add", f, person_id) for f in ids])
            session.commit()
        return ids

    def remove(self, face_ids: list[int]) -> None:
        with Session(self.db) as session:
            lock_for_write(session)
            changes = []
            for face_id in face_ids:
                face = session.get(Face, face_id)
                assert face is not None
                changes.append(("delete", face_id, face.person_id))
                session.delete(face)
                del self.faces[face_id]
            record_changes(session, changes)
            session.commit()

    def rebuild_request(self) -> None:
        with Session(self.db) as session:
            lock_for_write(session)
            request_rebuild(session)
            session.commit()


def brute_force(
    faces: dict[int, tuple[int, NDArray[np.float32]]], probe: NDArray[np.float32], top_k: int
) -> list[tuple[int, int, float]]:
    """(person id, closest face id, score) of the ``top_k`` best people."""
    by_person: dict[int, list[tuple[int, NDArray[np.float32]]]] = {}
    for face_id, (person_id, vector) in sorted(faces.items()):
        by_person.setdefault(person_id, []).append((face_id, vector))
    q = probe.astype(np.float64)
    answers = []
    for person_id, rows in by_person.items():
        matrix = np.stack([v for _f, v in rows]).astype(np.float64)
        cosines = matrix @ q
        if len(rows) == 1:
            score = float(cosines[0])
        else:
            mean = matrix.sum(axis=0)
            score = float(mean @ q / np.linalg.norm(mean)) - CENTROID_OFFSET * (1 - 1 / len(rows))
        closest = rows[int(np.argmax(cosines))][0]
        answers.append((person_id, closest, min(1.0, max(0.0, score))))
    answers.sort(key=lambda a: (-a[2], a[0]))
    return answers[:top_k]


def assert_same_answers(sync: IndexSync, gallery: Gallery, probes: NDArray[np.float32]) -> None:
    with Session(gallery.db) as session:
        sync.catch_up(session)
    if isinstance(sync.index, ScaledFaissIndex):  # the case "faiss-approx" is about
        assert sync.index.approximate is not None
    found = sync.index.search_people(probes, TOP_K)
    for probe, hits in zip(probes, found, strict=True):
        expected = brute_force(gallery.faces, probe, TOP_K)
        assert [h.person_id for h in hits] == [e[0] for e in expected]
        assert [h.face_id for h in hits] == [e[1] for e in expected]
        assert [h.similarity for h in hits] == pytest.approx([e[2] for e in expected], abs=1e-5)


def synthetic_gallery(rng: np.random.Generator, people: int) -> dict[int, NDArray[np.float32]]:
    """1 to 4 faces a person around their own direction, all sharing a common one (as real
    descriptors do: strangers have a positive cosine), so no score is clipped to 0."""
    common = rng.normal(size=DIM)
    gallery = {}
    for person_id in range(1, people + 1):
        centre = common * 0.6 + rng.normal(size=DIM) / np.sqrt(DIM) * 8
        photos = int(rng.integers(1, 5))
        gallery[person_id] = unit(centre + rng.normal(size=(photos, DIM)) / np.sqrt(DIM) * 5)
    return gallery


def probes_near(
    rng: np.random.Generator, faces: dict[int, tuple[int, NDArray[np.float32]]], count: int
) -> NDArray[np.float32]:
    """Noisy copies of stored faces (the people they show are close contenders)."""
    chosen = rng.choice(sorted(faces), size=count)
    rows = np.stack([faces[int(f)][1] for f in chosen]).astype(np.float64)
    return unit(rows + rng.normal(size=rows.shape) / np.sqrt(DIM) * 2)


def test_same_answers_through_adds_removals_readds_and_a_rebuild(
    backend: Backend, db: Engine, tmp_path: Path
) -> None:
    rng = np.random.default_rng(12)
    gallery = Gallery(db)
    sync = index_sync(
        Settings(data_dir=tmp_path), dim=DIM, model=MODEL, index=backend(tmp_path, DIM)
    )
    for person_id, vectors in synthetic_gallery(rng, 150).items():
        gallery.enrol(person_id, vectors)
    assert_same_answers(sync, gallery, probes_near(rng, gallery.faces, 60))

    # Removals: people go from several faces to one, and from one to none.
    by_person: dict[int, list[int]] = {}
    for face_id, (person_id, _v) in sorted(gallery.faces.items()):
        by_person.setdefault(person_id, []).append(face_id)
    several = [faces for faces in by_person.values() if len(faces) >= 2][:20]
    single = [faces for faces in by_person.values() if len(faces) == 1][:10]
    gallery.remove(
        [f for faces in several for f in faces[1:]] + [f for faces in single for f in faces]
    )
    assert_same_answers(sync, gallery, probes_near(rng, gallery.faces, 60))

    # Re-adds: new faces (new ids) for people who lost theirs, and a new person.
    for faces in several[:10]:
        person_id = gallery.faces[faces[0]][0]
        gallery.enrol(
            person_id, unit(gallery.faces[faces[0]][1] + rng.normal(size=(2, DIM)) * 0.05)
        )
    gallery.enrol(999, unit(rng.normal(size=(3, DIM))))
    assert_same_answers(sync, gallery, probes_near(rng, gallery.faces, 60))

    gallery.rebuild_request()
    assert_same_answers(sync, gallery, probes_near(rng, gallery.faces, 40))

    # A worker started now (built from the database, or, shared, as it stands) agrees.
    fresh = index_sync(
        Settings(data_dir=tmp_path), dim=DIM, model=MODEL, index=backend(tmp_path, DIM)
    )
    with Session(db) as session:
        fresh.rebuild(session)
    assert_same_answers(fresh, gallery, probes_near(rng, gallery.faces, 40))


def test_a_person_found_only_by_centroid_gets_score_and_closest_face(
    backend: Backend, db: Engine, tmp_path: Path
) -> None:
    """Far more single-face look-alikes than the face search reads (64 rows): a person of
    three faces ranks first by centroid although none of their faces is among them."""
    rng = np.random.default_rng(3)
    gallery = Gallery(db)
    probe = unit(rng.normal(size=DIM))
    spread = unit(probe + rng.normal(size=(3, DIM)) * 0.11)  # each face ~0.8, centroid higher
    gallery.enrol(1, spread)
    for person_id in range(2, 100):
        gallery.enrol(person_id, unit(probe + rng.normal(size=(1, DIM)) * 0.085))
    expected = brute_force(gallery.faces, probe, TOP_K)
    faces_above = sum(
        float(v @ probe) > max(float(s @ probe) for s in spread) for _p, v in gallery.faces.values()
    )
    assert expected[0][0] == 1 and faces_above >= 64  # the case this test is about
    sync = index_sync(
        Settings(data_dir=tmp_path), dim=DIM, model=MODEL, index=backend(tmp_path, DIM)
    )
    assert_same_answers(sync, gallery, probe[None, :])


def test_a_single_face_person_just_behind_one_persons_faces(
    backend: Backend, db: Engine, tmp_path: Path
) -> None:
    """The first 64 faces found are person 1's (cosine 0.9 down to 0.87), whose centroid
    is pulled far off by 65 more faces; person 99's one face (0.8) is the 65th: the
    search must read on past top_k people whose scores are below what it has not read."""
    rng = np.random.default_rng(5)
    gallery = Gallery(db)
    probe = unit(rng.normal(size=DIM))
    other = unit(rng.normal(size=DIM))
    other = unit(other - (other @ probe) * probe)  # orthogonal to the probe

    def at(cosine: float) -> NDArray[np.float32]:
        return unit(cosine * probe + np.sqrt(1 - cosine**2) * other)

    near = [at(0.9 - 0.0005 * i) for i in range(64)]  # distinct: one closest face
    gallery.enrol(1, np.stack(near + [unit(-probe.astype(np.float64))] * 65))
    gallery.enrol(99, at(0.8)[None, :])
    expected = brute_force(gallery.faces, probe, 1)
    assert expected[0][0] == 99  # the case this test is about
    sync = index_sync(
        Settings(data_dir=tmp_path), dim=DIM, model=MODEL, index=backend(tmp_path, DIM)
    )
    assert_same_answers(sync, gallery, probe[None, :])
    assert [h.person_id for h in sync.index.search_people(probe[None, :], 1)[0]] == [99]


def test_an_empty_gallery_answers_no_one(backend: Backend, db: Engine, tmp_path: Path) -> None:
    sync = index_sync(
        Settings(data_dir=tmp_path), dim=DIM, model=MODEL, index=backend(tmp_path, DIM)
    )
    with Session(db) as session:
        sync.catch_up(session)
    assert sync.index.search_people(unit(np.ones((2, DIM))), TOP_K) == [[], []]
