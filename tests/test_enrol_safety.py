"""Concurrent writers and failures mid-enrolment lose nothing and duplicate nothing."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from facerec.app import build_state, close_state
from facerec.auth.principal import SYSTEM
from facerec.config import EnrolSettings, Settings
from facerec.faces.models import Face, Image
from facerec.faces.service import enrol_face
from facerec.faces.storage import ImageStore
from facerec.index.models import FaceChange
from facerec.people.models import PersonCreate
from facerec.people.service import create_person
from facerec.state import AppState
from tests.fakes import FakeEngine, picture


@pytest.fixture
def state(settings: Settings) -> Iterator[AppState]:
    app_state = build_state(settings, engine=FakeEngine())
    yield app_state
    close_state(app_state)


def _count(state: AppState, model: type) -> int:
    with Session(state.db) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _enrol(state: AppState, person_id: int, data: bytes, store: ImageStore | None = None) -> bool:
    analyzed = state.runtime.analyze(data)
    with Session(state.db, expire_on_commit=False) as session:
        _, duplicate = enrol_face(
            session=session,
            store=store or state.store,
            person_id=person_id,
            data=data,
            analyzed=analyzed,
            gates=EnrolSettings(),
            force=True,
            actor=SYSTEM,
        )
    return duplicate


def _new_person(state: AppState, name: str = "P") -> int:
    with Session(state.db, expire_on_commit=False) as session:
        return create_person(session=session, person_in=PersonCreate(name=name), actor=SYSTEM).id


def test_parallel_identical_uploads_store_one_face(state: AppState) -> None:
    pid = _new_person(state)
    data = picture([((200, 50, 50), 80)])
    with ThreadPoolExecutor(max_workers=8) as pool:
        duplicates = list(pool.map(lambda _: _enrol(state, pid, data), range(16)))
    assert duplicates.count(False) == 1
    assert _count(state, Face) == 1
    assert _count(state, Image) == 1


def test_parallel_different_uploads_all_land_in_order(state: AppState) -> None:
    people = [_new_person(state, f"P{i}") for i in range(4)]
    jobs = [(people[i % 4], picture([((10 * i + 40, 200, 90), 60 + i)])) for i in range(20)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda job: _enrol(state, *job), jobs))
    assert _count(state, Face) == 20
    with Session(state.db) as session:
        generations = session.exec(select(FaceChange.generation)).all()
        assert sorted(generations) == list(range(1, 21))  # one per write, none lost
        state.index.catch_up(session)
        assert state.index.status(session).in_step


class CrashingStore(ImageStore):
    """Writes the file, then fails, like a disk filling up mid-way."""

    def put(self, data: bytes, relative: str) -> None:
        super().put(data, relative)
        raise OSError(28, "No space left on device")


def test_failure_mid_enrolment_leaves_no_trace(state: AppState, tmp_path: Path) -> None:
    pid = _new_person(state)
    _enrol(state, pid, picture([((200, 50, 50), 80)]))
    before = sorted(p for p in state.store.root.rglob("*") if p.is_file())
    with pytest.raises(OSError, match="No space"):
        _enrol(state, pid, picture([((50, 200, 50), 80)]), store=CrashingStore(state.store.root))
    assert _count(state, Face) == 1
    assert _count(state, Image) == 1
    assert _count(state, FaceChange) == 1
    assert sorted(p for p in state.store.root.rglob("*") if p.is_file()) == before


def test_enrolling_for_a_deleted_person_is_not_found(state: AppState) -> None:
    from facerec.errors import NotFound

    with pytest.raises(NotFound):
        _enrol(state, 12345, picture([((200, 50, 50), 80)]))
    assert _count(state, Image) == 0
