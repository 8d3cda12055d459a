"""Milvus Lite gives the same answers as FAISS on the LFW-dev gallery (issue #12).

One gallery is enrolled through the API of the whole stack (the real models, FAISS), so
every descriptor comes from the real pipeline, once. Then two apps start on that same
database, one with ``FACEREC_INDEX=faiss`` and one with ``milvus`` (Lite, loaded from the
database at start), and answer the same probes: other photos of enrolled people and
strangers, each embedded once. Both must give the people in the same order, the same
closest faces and scores within 1e-5, and both must equal a brute-force search over the
stored descriptors (``brute_force``, written from the definition). The ``/recognize``
answers of both apps agree too (their scores are rounded to 4 decimals there).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from sqlmodel import Session, select

from facerec.app import create_app
from facerec.config import Settings
from facerec.faces.models import Face
from facerec.index.base import Hit
from facerec.inference.types import AnalyzedFace, FaceEngine
from facerec.state import AppState
from tests.conftest import shared_path
from tests.test_index_congruence import brute_force

pytestmark = [pytest.mark.models, pytest.mark.shared_data, pytest.mark.slow]

API = "/api/v1"
PEOPLE = 300
"""Identities enrolled: one photo each, two for those with three or more (centroids)."""
PROBED = 60
STRANGERS = 40
TOP_K = 5
SKIPPED = {"no_face", "multiple_faces", "low_quality", "face_mismatch"}


@contextmanager
def app_on(settings: Settings, engine: FaceEngine, index: str) -> Iterator[TestClient]:
    """The whole app on ``settings``' database and data, with the vector index ``index``."""
    chosen = settings.model_copy(update={"index": index})
    with TestClient(create_app(chosen, engine=engine)) as client:
        yield client


def state_of(client: TestClient) -> AppState:
    state: AppState = client.app.state.facerec  # type: ignore[attr-defined]
    return state


def enrol_gallery(client: TestClient, root: Path) -> list[Path]:
    """Enrol ``PEOPLE`` identities spread over the alphabet; the photos left to probe."""
    multi = [d for d in sorted(root.iterdir()) if len(list(d.glob("*.jpg"))) >= 2]
    chosen = multi[:: max(1, len(multi) // PEOPLE)][:PEOPLE]
    left = []
    for person in chosen:
        pid = client.post(f"{API}/people", json={"name": person.name}).json()["id"]
        photos = sorted(person.glob("*.jpg"))
        wanted = 2 if len(photos) >= 3 else 1
        enrolled = 0
        for photo in photos:
            if enrolled == wanted:
                left.append(photo)
                break
            files = {"file": (photo.name, photo.read_bytes())}
            response = client.post(f"{API}/people/{pid}/faces", files=files)
            if response.status_code == 201:
                enrolled += 1
            else:
                assert response.json()["error"]["code"] in SKIPPED, response.text
    return left


def central_embedding(state: AppState, path: Path) -> NDArray[np.float32] | None:
    """The descriptor of the face nearest the centre (LFW centres the labelled person)."""
    analyzed = state.runtime.analyze(path.read_bytes())
    faces = [f for f in analyzed.faces if f.embedding is not None]
    if not faces:
        return None
    centre = analyzed.width / 2, analyzed.height / 2

    def off_centre(face: AnalyzedFace) -> float:
        x1, y1, x2, y2 = face.detection.box()
        return float(abs((x1 + x2) / 2 - centre[0]) + abs((y1 + y2) / 2 - centre[1]))

    return np.asarray(min(faces, key=off_centre).embedding, dtype=np.float32)


def search(client: TestClient, probes: NDArray[np.float32]) -> list[list[Hit]]:
    state = state_of(client)
    with Session(state.db) as session:
        state.index.catch_up(session)
    return state.index.index.search_people(probes, TOP_K)


def stored_faces(client: TestClient) -> dict[int, tuple[int, NDArray[np.float32]]]:
    state = state_of(client)
    with Session(state.db) as session:
        rows = session.exec(
            select(Face.id, Face.person_id, Face.embedding).where(Face.model == state.runtime.model)
        ).all()
    return {int(f or 0): (p, np.frombuffer(e, dtype="<f4").copy()) for f, p, e in rows}


def recognise_all(client: TestClient, paths: list[Path]) -> list[list[tuple[int, float]]]:
    answers = []
    for path in paths:
        response = client.post(f"{API}/recognize", files={"file": (path.name, path.read_bytes())})
        assert response.status_code == 200, response.text
        answers.append(
            [
                (c["person_id"], c["similarity"])
                for face in response.json()["faces"]
                for c in face["candidates"]
            ]
        )
    return answers


def assert_same(found: list[list[Hit]], expected: list[list[Hit]], what: str) -> None:
    assert len(found) == len(expected)
    for i, (mine, theirs) in enumerate(zip(found, expected, strict=True)):
        where = f"{what}, probe {i}"
        assert [h.person_id for h in mine] == [h.person_id for h in theirs], where
        assert [h.face_id for h in mine] == [h.face_id for h in theirs], where
        assert [h.similarity for h in mine] == pytest.approx(
            [h.similarity for h in theirs], abs=1e-5
        ), where


def test_milvus_lite_answers_as_faiss_on_the_lfw_dev_gallery(
    settings: Settings, real_engine: FaceEngine
) -> None:
    root = shared_path("lfw-dev")
    settings = settings.model_copy(update={"match_threshold": Settings().match_threshold})
    with app_on(settings, real_engine, "faiss") as client:
        left = enrol_gallery(client, root)
        singles = [d for d in sorted(root.iterdir()) if len(list(d.glob("*.jpg"))) == 1]
        strangers = [next(d.glob("*.jpg")) for d in singles[:: len(singles) // STRANGERS]]
        probe_paths, rows = [], []
        for path in left[:: max(1, len(left) // PROBED)][:PROBED] + strangers[:STRANGERS]:
            vector = central_embedding(state_of(client), path)
            if vector is not None:
                probe_paths.append(path)
                rows.append(vector)
        probes = np.stack(rows)
        faces = stored_faces(client)
        faiss_hits = search(client, probes)
        faiss_http = recognise_all(client, probe_paths[:20])

    people = {p for p, _v in faces.values()}
    several = sum(1 for p in people if sum(q == p for q, _v in faces.values()) >= 2)
    assert len(people) >= 250 and several >= 100 and len(probes) >= 90  # what it is about
    print(
        f"\nLFW-dev gallery: {len(people)} people ({several} with two faces), "
        f"{len(faces)} faces; {len(probes)} probes, top {TOP_K}"
    )

    expected = [[Hit(p, f, s) for p, f, s in brute_force(faces, probe, TOP_K)] for probe in probes]
    assert_same(faiss_hits, expected, "faiss against brute force")
    with app_on(settings, real_engine, "milvus") as client:
        assert state_of(client).index.index.count() == len(faces)  # loaded at start
        milvus_hits = search(client, probes)
        milvus_http = recognise_all(client, probe_paths[:20])
    assert_same(milvus_hits, faiss_hits, "milvus against faiss")
    assert_same(milvus_hits, expected, "milvus against brute force")

    for mine, theirs in zip(milvus_http, faiss_http, strict=True):
        assert [p for p, _s in mine] == [p for p, _s in theirs]
        assert [s for _p, s in mine] == pytest.approx([s for _p, s in theirs], abs=1.1e-4)
    matched = sum(
        bool(hits) and hits[0].similarity >= settings.match_threshold
        for hits in milvus_hits[:PROBED]
    )
    assert matched > 0  # the probes of enrolled people do find them
