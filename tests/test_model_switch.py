"""``facerec models use``: re-embedding into a second set of vectors while the old model
answers, then one switch (switch/). Fakes: the settings' engine (``FakeEngine``) and a
second recogniser of another model id and size (``OtherEngine``)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from PIL import Image as PILImage
from sqlmodel import Session, col, func, select

from facerec.app import create_app
from facerec.audit.models import AuditEntry
from facerec.auth.principal import SYSTEM
from facerec.config import Settings
from facerec.doctor.service import models_in_use
from facerec.errors import EngineSwitched
from facerec.faces.models import Face, Image
from facerec.faces.service import enrol_face
from facerec.index.models import current_generation
from facerec.inference.types import Detection, FaceEngine, Landmarks, RGBImage
from facerec.registry.contract import default_contract
from facerec.state import AppState
from facerec.switch import job
from facerec.switch.models import FaceVector, ModelSwitch
from tests.fakes import FakeEngine, picture
from tests.model_files import recogniser
from tests.test_engine_parts import install

API = "/api/v1"
OLD, NEW = FakeEngine.model_id, "fake-other-v2"
PEOPLE = {"Red": (200, 40, 40), "Green": (40, 200, 40), "Blue": (40, 40, 200)}
YELLOW = (200, 200, 40)


class OtherEngine(FakeEngine):
    """Another recogniser: its own model id, size and vectors (same faces found)."""

    model_id = NEW
    dim = 24
    embedded = 0
    """Faces embedded by every instance (the re-embedding's work)."""

    def embed(self, image: RGBImage, landmarks: list[Landmarks]) -> NDArray[np.float32]:  # type: ignore[override]
        OtherEngine.embedded += len(landmarks)
        return np.asarray([other_vector(image, points) for points in landmarks], np.float32)


def other_vector(image: RGBImage, points: Landmarks) -> NDArray[np.float64]:
    x, y = (int(v) for v in points[4])
    colour = tuple(int(c) // 32 for c in image[y, x])
    seed = 7_000_000 + colour[0] * 10_000 + colour[1] * 100 + colour[2]
    return np.random.default_rng(seed).normal(size=OtherEngine.dim)


class ArcOrderEngine(OtherEngine):
    """A registry-style ArcFace recogniser: its faces keep ArcFace-order points, which
    dlib's descriptor cannot take (``parts.points_in_order``)."""

    model_id = "arc@0123abcd"
    landmark_order = "arcface5"

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        """Eyes, nose, mouth corners (ArcFace's order), inside each square."""
        points = [(0.3, 0.4), (0.7, 0.4), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75)]
        return [
            np.asarray([(d.x1 + px * d.width, d.y1 + py * d.height) for px, py in points], "f4")
            for d in detections
        ]


class CountingEngine(FakeEngine):
    """The settings' engine, counting the faces it embeds."""

    embedded = 0

    def embed(self, image: RGBImage, landmarks: list[Landmarks]) -> NDArray[np.float32]:  # type: ignore[override]
        self.embedded += len(landmarks)
        return super().embed(image, landmarks)


class Engines:
    """settings -> engine, noting the recognisers it builds."""

    def __init__(self) -> None:
        self.fake = CountingEngine()
        self.built: list[str] = []

    def __call__(self, settings: Settings) -> FaceEngine:
        self.built.append(settings.recogniser.model)
        if settings.recogniser.model == "arc":
            return ArcOrderEngine()
        return OtherEngine() if settings.recogniser.model == "other" else self.fake


@pytest.fixture
def engines(settings: Settings, tmp_path: Path) -> Engines:
    contract = default_contract("arcface").model_copy(update={"embedding_size": OtherEngine.dim})
    install(settings, "other", recogniser(tmp_path / "other.onnx", dim=24), contract)
    install(settings, "arc", recogniser(tmp_path / "arc.onnx", dim=24), contract)
    OtherEngine.embedded = 0
    return Engines()


@pytest.fixture
def client(settings: Settings, engines: Engines) -> Iterator[TestClient]:
    app = create_app(settings, engine=engines.fake, engines=engines)
    with TestClient(app) as test_client:
        for name, colour in PEOPLE.items():
            _enrol(test_client, name, colour)
        yield test_client


def _state(client: TestClient) -> AppState:
    state: AppState = client.app.state.facerec  # type: ignore[attr-defined]
    return state


def _enrol(client: TestClient, name: str, colour: tuple[int, int, int]) -> int:
    person = client.post(f"{API}/people", json={"name": name})
    assert person.status_code == 201, person.text
    pid = int(person.json()["id"])
    files = {"file": ("p.png", picture([(colour, 80)]))}
    enrolled = client.post(f"{API}/people/{pid}/faces", files=files)
    assert enrolled.status_code == 201, enrolled.text
    return pid


def _who(client: TestClient, colour: tuple[int, int, int]) -> tuple[str, str | None]:
    """(model of the answer, name of the match) for a photo of ``colour``."""
    answer = client.post(f"{API}/recognize", files={"file": ("q.png", picture([(colour, 70)]))})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    match = body["faces"][0]["match"]
    return body["model"], None if match is None else match["name"]


def _switch(
    client: TestClient, name: str, *, during: Any = lambda row: None, batch: int = 1
) -> ModelSwitch:
    state = _state(client)
    makings = state.follower.makings
    with Session(state.db, expire_on_commit=False) as session:
        target = job.prepare(
            session, base=makings.base, engines=makings.engines, name=name, dim=None
        )
        job.begin(session, target, actor=SYSTEM, now=datetime.now(UTC))
    return job.complete(
        state.db,
        target,
        store=state.store,
        actor=SYSTEM,
        clock=lambda: datetime.now(UTC),
        batch=batch,
        progress=during,
    )


def _count(client: TestClient, model: str) -> int:
    with Session(_state(client).db) as session:
        query = select(func.count()).select_from(FaceVector).where(FaceVector.model == model)
        return int(session.exec(query).one())


def test_the_old_model_answers_during_the_reembed_and_the_new_one_after(
    client: TestClient,
) -> None:
    with Session(_state(client).db) as session:
        generation = current_generation(session)
    seen: list[tuple[tuple[str, str | None], int]] = []

    def during(row: ModelSwitch) -> None:
        seen.append((_who(client, PEOPLE["Green"]), _count(client, NEW)))

    done = _switch(client, "other", during=during)
    assert [answer for answer, _ in seen] == [(OLD, "Green")] * 3
    assert [filled for _, filled in seen] == [1, 2, 3]  # the second set fills, batch by batch
    assert (done.status, done.done, done.total) == ("done", 3, 3)
    for name, colour in PEOPLE.items():
        assert _who(client, colour) == (NEW, name)
    with Session(_state(client).db) as session:
        faces = session.exec(select(Face)).all()
        assert generation < current_generation(session)  # every worker rebuilds
    assert {f.model for f in faces} == {NEW}
    for face in faces:  # the target's vector, as the other engine gives it for the photo
        pixels = np.asarray(_image_of(client, face), dtype=np.uint8)
        expected = other_vector(pixels, np.asarray(face.landmarks, dtype=np.float32))
        expected /= np.linalg.norm(expected)
        assert np.allclose(np.frombuffer(face.embedding, dtype="<f4"), expected, atol=1e-6)
    assert _count(client, OLD) == 3 and _count(client, NEW) == 0  # the old ones kept


def _image_of(client: TestClient, face: Face) -> Any:
    with Session(_state(client).db) as session:
        image = session.get(Image, face.image_id)
        assert image is not None
    return PILImage.open(io.BytesIO(_state(client).store.read(image.path))).convert("RGB")


def test_an_interrupted_reembed_leaves_the_old_model_and_a_rerun_resumes(
    client: TestClient,
) -> None:
    def crash(row: ModelSwitch) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        _switch(client, "other", during=crash)
    assert _who(client, PEOPLE["Red"]) == (OLD, "Red")
    status = client.get(f"{API}/models/switch").json()
    assert status["recogniser"] == "dlib-resnet" and status["model"] is None
    assert status["switch"]["status"] == "failed" and "power cut" in status["switch"]["error"]
    assert _count(client, NEW) == 1
    doctor = models_in_use(_state(client).follower.makings.base)  # what `facerec doctor` says
    assert doctor["recogniser"] == "dlib-resnet"
    assert doctor["switch"].startswith("to other + hog: failed, 1/3 faces")
    shown = client.get(f"{API}/status").json()["choice"]
    assert (shown["switch"]["status"], shown["switch"]["done"]) == ("failed", 1)
    OtherEngine.embedded = 0
    done = _switch(client, "other", batch=2)
    assert OtherEngine.embedded == 2  # only the faces still lacking a vector
    assert (done.done, done.total) == (3, 3)
    assert _who(client, PEOPLE["Red"]) == (NEW, "Red")


def test_each_recogniser_keeps_its_own_calibrated_threshold(client: TestClient) -> None:
    stored = client.put(f"{API}/calibration/threshold", json={"threshold": 0.95})
    assert stored.status_code == 200, stored.text
    _switch(client, "cnn")  # the same recogniser: the threshold still holds
    assert client.get(f"{API}/status").json()["threshold"] == 0.95
    _switch(client, "other")  # its scores are not dlib's: the configured one
    assert client.get(f"{API}/status").json()["threshold"] == 0.8
    other = client.put(f"{API}/calibration/threshold?force=true", json={"threshold": 0.7})
    assert other.status_code == 200, other.text
    _switch(client, "dlib-resnet")  # back: dlib's calibration again
    assert client.get(f"{API}/status").json()["threshold"] == 0.95
    _switch(client, "other")
    assert client.get(f"{API}/status").json()["threshold"] == 0.7


def _points(client: TestClient, model: str) -> dict[int, Any]:
    """Face id -> the points of its ``model`` vector (face row or kept row)."""
    with Session(_state(client).db) as session:
        faces = session.exec(select(Face).where(Face.model == model)).all()
        rows = {int(f.id or 0): f.landmarks for f in faces}
        kept = session.exec(select(FaceVector).where(FaceVector.model == model)).all()
    return {**rows, **{v.face_id: v.landmarks for v in kept}}


def test_faces_enrolled_under_an_arcface_model_are_found_again_for_dlibs(
    client: TestClient,
) -> None:
    """A face row keeps the points of its own model: switching to an ArcFace-style model
    puts ArcFace-order points in the rows (dlib's are kept with dlib's vectors). Yellow,
    enrolled meanwhile, has only ArcFace-order points, which dlib's descriptor cannot take:
    switching back finds the face again at its box, so it is searched, not left behind."""
    dlib_points = _points(client, OLD)
    _switch(client, "arc")
    arc_points = _points(client, ArcOrderEngine.model_id)
    assert set(arc_points) == set(dlib_points)
    for face_id, points in dlib_points.items():
        assert not np.allclose(arc_points[face_id], points)  # converted to ArcFace order
    assert _points(client, OLD) == dlib_points  # kept with dlib's vectors
    _enrol(client, "Yellow", YELLOW)
    done = _switch(client, "dlib-resnet")
    assert (done.status, done.failed) == ("done", 0)
    assert _who(client, YELLOW) == (OLD, "Yellow")
    back = _points(client, OLD)
    assert {k: v for k, v in back.items() if k in dlib_points} == dlib_points
    (yellow,) = set(back) - set(dlib_points)
    image = np.asarray(PILImage.open(io.BytesIO(picture([(YELLOW, 80)]))).convert("RGB"))
    fake = FakeEngine()
    expected = fake.landmarks(image, fake.detect(image))[0]  # the face found again
    np.testing.assert_allclose(back[yellow], expected, atol=1e-4)


def test_switching_back_reuses_the_kept_vectors(client: TestClient) -> None:
    with Session(_state(client).db) as session:
        before = {f.id: f.embedding for f in session.exec(select(Face))}
    _switch(client, "other")
    _enrol(client, "Yellow", YELLOW)  # enrolled by the new model: re-embedded going back
    fake = _state(client).follower.makings.engines.fake  # type: ignore[attr-defined]
    embedded = fake.embedded
    _switch(client, "dlib-resnet")
    assert fake.embedded - embedded == 1  # Yellow's face only
    with Session(_state(client).db) as session:
        after = {f.id: f.embedding for f in session.exec(select(Face))}
    assert {i: after[i] for i in before} == before  # the kept vectors, byte for byte
    for name, colour in {**PEOPLE, "Yellow": YELLOW}.items():
        assert _who(client, colour) == (OLD, name)
    assert _count(client, NEW) == 4
    OtherEngine.embedded = 0
    again = _switch(client, "other")  # and forth again: every face has its kept vector
    assert (OtherEngine.embedded, again.total, again.done) == (0, 0, 0)
    assert _who(client, YELLOW) == (NEW, "Yellow")


def test_a_face_enrolled_during_the_reembed_is_found_after_the_switch(
    client: TestClient,
) -> None:
    def during(row: ModelSwitch) -> None:
        if row.done == 1:
            _enrol(client, "Yellow", YELLOW)

    done = _switch(client, "other", during=during)
    assert done.done == 4
    assert _who(client, YELLOW) == (NEW, "Yellow")


def test_deleting_a_person_during_the_reembed_loses_nothing(client: TestClient) -> None:
    people = {p["name"]: p["id"] for p in client.get(f"{API}/people").json()["items"]}

    def during(row: ModelSwitch) -> None:
        if row.done == 1:
            assert client.delete(f"{API}/people/{people['Red']}").status_code == 204

    _switch(client, "other", during=during)
    assert _who(client, PEOPLE["Red"]) == (NEW, None)
    for name in ("Green", "Blue"):
        assert _who(client, PEOPLE[name]) == (NEW, name)
    with Session(_state(client).db) as session:
        orphans = session.exec(
            select(func.count())
            .select_from(FaceVector)
            .where(col(FaceVector.face_id).not_in(select(Face.id)))
        ).one()
    assert orphans == 0


def test_an_enrolment_embedded_before_the_switch_is_not_stored_with_the_old_model(
    client: TestClient,
) -> None:
    state = _state(client)
    old = state.serving
    data = picture([(YELLOW, 80)])
    analyzed = old.runtime.analyze(data)  # embedded by the old model...
    pid = int(client.post(f"{API}/people", json={"name": "Yellow"}).json()["id"])
    _switch(client, "other")  # ...which is switched out before the write
    with Session(state.db) as session, pytest.raises(EngineSwitched):
        enrol_face(
            session=session,
            store=state.store,
            person_id=pid,
            data=data,
            analyzed=analyzed,
            gates=state.settings.enrol,
            actor=SYSTEM,
        )
    files = {"file": ("p.png", data)}  # through the API, the worker follows and re-embeds
    assert client.post(f"{API}/people/{pid}/faces", files=files).status_code == 201
    assert _who(client, YELLOW) == (NEW, "Yellow")


def test_the_api_switches_in_the_background_and_shows_progress(client: TestClient) -> None:
    assert client.post(f"{API}/models/nope/use").status_code == 404
    already = client.post(f"{API}/models/dlib-resnet/use")
    assert already.status_code == 409, already.text
    started = client.post(f"{API}/models/other/use")
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running" and started.json()["total"] == 3
    for _ in range(200):
        shown = client.get(f"{API}/models/switch").json()
        if shown["switch"]["status"] != "running":
            break
        time.sleep(0.05)
    assert shown["recogniser"] == "other" and shown["model"] == NEW, shown
    assert shown["switch"]["status"] == "done" and shown["switch"]["done"] == 3
    status = client.get(f"{API}/status").json()
    assert status["model"] == NEW and status["indexed_faces"] == 3
    assert status["choice"]["recogniser"] == "other"
    with Session(_state(client).db) as session:
        actions = session.exec(select(AuditEntry.action).where(AuditEntry.entity == "model")).all()
    assert list(actions) == ["switch", "use"]


def test_a_detector_switch_needs_no_reembedding(client: TestClient) -> None:
    done = _switch(client, "cnn")
    assert (done.total, _count(client, NEW), _count(client, OLD)) == (0, 0, 0)
    status = client.get(f"{API}/status").json()
    assert status["detector"] == "cnn" and status["model"] == OLD
    assert _who(client, PEOPLE["Blue"]) == (OLD, "Blue")


def test_the_migration_matches_the_models(client: TestClient) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with _state(client).db.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    ours = ("face_vectors", "model_switches", "'recogniser'", "'detector'", "'switches'")
    assert [d for d in diff if any(n in repr(d) for n in ours)] == []


def test_a_face_whose_photo_is_gone_is_counted_once_and_keeps_the_old_model(
    client: TestClient,
) -> None:
    state = _state(client)
    with Session(state.db) as session:
        face, image = session.exec(
            select(Face, Image).join(Image, col(Image.id) == col(Face.image_id))
        ).first()  # type: ignore[misc]
    state.store.delete(image.path)
    done = _switch(client, "other")
    assert (done.status, done.done, done.failed) == ("done", 2, 1)
    with Session(state.db) as session:
        models = dict(session.exec(select(Face.id, Face.model)).all())
    assert models.pop(face.id) == OLD  # stale, not searched: /status counts it
    assert set(models.values()) == {NEW}
