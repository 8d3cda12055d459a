"""Re-embedding stored faces after the embedding recipe changes: nothing lost, workers told."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sqlmodel import Session

from facerec.app import build_state, close_state
from facerec.auth.principal import SYSTEM
from facerec.config import EnrolSettings, Settings
from facerec.faces.models import Face, Image
from facerec.faces.reembed import reembed_faces, stale_faces
from facerec.faces.service import enrol_face
from facerec.index.models import current_generation
from facerec.people.models import PersonCreate
from facerec.people.service import create_person
from facerec.state import AppState
from tests.fakes import FakeEngine, picture

OLD = "older-model-v0"


@pytest.fixture
def state(settings: Settings) -> Iterator[AppState]:
    app_state = build_state(settings, engine=FakeEngine())
    yield app_state
    close_state(app_state)


def _enrol(state: AppState, name: str, colour: tuple[int, int, int]) -> int:
    data = picture([(colour, 80)])
    analyzed = state.runtime.analyze(data)
    with Session(state.db, expire_on_commit=False) as session:
        person = create_person(session=session, person_in=PersonCreate(name=name), actor=SYSTEM)
        face, _ = enrol_face(
            session=session,
            store=state.store,
            person_id=person.id,
            data=data,
            analyzed=analyzed,
            gates=EnrolSettings(),
            force=True,
            actor=SYSTEM,
        )
    assert face.id is not None
    return face.id


def _age(state: AppState, face_id: int) -> bytes:
    """Pretend the face was embedded by an older model; returns its current vector."""
    with Session(state.db) as session:
        face = session.get(Face, face_id)
        assert face is not None
        original = face.embedding
        face.model = OLD
        face.embedding = np.zeros(16, dtype="<f4").tobytes()
        session.add(face)
        session.commit()
    return original


def test_stale_faces_are_reembedded_from_the_stored_image(state: AppState) -> None:
    fresh = _enrol(state, "Fresh", (200, 40, 40))
    old = _enrol(state, "Old", (40, 200, 40))
    original = _age(state, old)
    with Session(state.db, expire_on_commit=False) as session:
        assert stale_faces(session=session, model=state.runtime.model) == {OLD: 1}
        before = current_generation(session)
        report = reembed_faces(session=session, store=state.store, runtime=state.runtime)
        assert (report.updated, report.failed) == (1, [])
        assert stale_faces(session=session, model=state.runtime.model) == {}
        assert current_generation(session) > before  # running workers replay the change
        row = session.get(Face, old)
        assert row is not None and row.model == state.runtime.model
        np.testing.assert_allclose(
            np.frombuffer(row.embedding, "<f4"), np.frombuffer(original, "<f4"), atol=1e-6
        )
        untouched = session.get(Face, fresh)
        assert untouched is not None and untouched.model == state.runtime.model
        state.index.catch_up(session)
    assert state.index.index.count() == 2


def test_a_missing_image_is_reported_and_the_rest_proceed(state: AppState) -> None:
    lost = _enrol(state, "Lost", (200, 200, 40))
    kept = _enrol(state, "Kept", (40, 40, 200))
    for face_id in (lost, kept):
        _age(state, face_id)
    with Session(state.db, expire_on_commit=False) as session:
        face = session.get(Face, lost)
        assert face is not None
        image = session.get(Image, face.image_id)
        assert image is not None
        (state.settings.images_dir / image.path).unlink()
        report = reembed_faces(session=session, store=state.store, runtime=state.runtime, batch=1)
        assert report.updated == 1
        assert [face_id for face_id, _ in report.failed] == [lost]
        assert stale_faces(session=session, model=state.runtime.model) == {OLD: 1}
