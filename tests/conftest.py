"""Shared fixtures: settings in a temporary data dir, apps with fakes or real models,
and access to ``../shared/data`` (tests that need it skip when it is absent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from facerec.inference.engines import build_engine
from facerec.inference.types import FaceEngine
from tests import postgres
from tests.fakes import FakeEngine

SHARED = Path(
    os.environ.get(
        "FACEREC_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
).resolve()


TEST_ZONE = "Asia/Shanghai"
"""The fast tests' attendance zone (UTC+8 all year), not the machine's."""


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a clear message."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (see shared/data/README.md)")
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On PostgreSQL (``make test-postgres``), tests about SQLite itself skip with their reason."""
    if not postgres.enabled():
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "about SQLite itself"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture(scope="session")
def _postgres_template() -> None:
    postgres.create_template()


@pytest.fixture(autouse=True)
def database_url(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | None]:
    """On PostgreSQL, each test's own database (``FACEREC_DATABASE_URL``, which every
    ``Settings()`` and every server the test starts reads); on SQLite, None (each data dir
    has its own file)."""
    if not postgres.enabled():
        yield None
        return
    request.getfixturevalue("_postgres_template")
    url = postgres.create_database()
    monkeypatch.setenv("FACEREC_DATABASE_URL", url)
    yield url
    postgres.drop_database(url)


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file in the data dir's place (one
    database shared by both data dirs of a test needs the same file), or on PostgreSQL a
    new empty database, dropped after."""
    if not postgres.enabled():
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = postgres.create_database(empty=True)
    yield url
    postgres.drop_database(url)


@pytest.fixture
def other_database_url() -> Iterator[str | None]:
    """The database of a second installation in the same test (restored backup, imported
    gallery): None on SQLite (each data dir has its own file), on PostgreSQL a new empty
    database (the test's own one is the first installation's), dropped after."""
    if not postgres.enabled():
        yield None
        return
    url = postgres.create_database(empty=True)
    yield url
    postgres.drop_database(url)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fake faces are flat squares of any size: size and sharpness gates are off here
    (tests/test_quality_gates.py turns them on). The attendance zone is Asia/Shanghai
    whatever the machine's, unless ``FACEREC_ATTENDANCE__TIMEZONE`` says (``make dst``)."""
    return Settings(
        data_dir=tmp_path / "data",
        match_threshold=0.8,
        enrol={"min_face_px": 0, "min_sharpness": 0},
        attendance={"timezone": os.environ.get("FACEREC_ATTENDANCE__TIMEZONE", TEST_ZONE)},
        auth={"enabled": False},  # access control has its own tests (test_permissions...)
    )


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(settings: Settings, fake_engine: FakeEngine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=fake_engine)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceEngine]:
    """The default engine with the real models (converted once for the session)."""
    engine = build_engine(Settings(data_dir=tmp_path_factory.mktemp("engine")))
    engine.load()
    yield engine
    closer = getattr(engine, "close", None)
    if callable(closer):
        closer()


@pytest.fixture
def real_client(settings: Settings, real_engine: FaceEngine) -> Iterator[TestClient]:
    """The whole stack with the real models and a real SQLite file; default threshold."""
    real = settings.model_copy(update={"match_threshold": Settings().match_threshold})
    with TestClient(create_app(real, engine=real_engine)) as test_client:
        yield test_client


def hopper_bytes() -> bytes:
    """Grace Hopper's portrait, shipped with matplotlib."""
    from matplotlib import cbook

    path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return path.read_bytes()
