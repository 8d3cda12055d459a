"""``facerec db copy``: a populated SQLite installation copied into a new database answers
exactly as before, keeps every id, never hands out an id the source had used, refuses a
target that holds data, and is audited. The target is PostgreSQL under
``make test-postgres`` (a new, empty database, migrated by the copy) and a new SQLite file
otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from facerec.app import create_app
from facerec.audit import cli_actor
from facerec.cli import app as cli
from facerec.config import Settings, get_settings
from facerec.db.copy import copy_database
from facerec.errors import CopyTargetNotEmpty
from tests import postgres
from tests.fakes import FakeEngine, picture

RED, GREEN, BLUE = (200, 9, 9), (9, 200, 9), (9, 9, 200)


@pytest.fixture
def source(settings: Settings) -> Settings:
    """The installation to move: SQLite in its data dir, whatever the suite runs on."""
    url = f"sqlite:///{(settings.data_dir / 'facerec.db').resolve()}"
    return settings.model_copy(update={"database_url": url})


@pytest.fixture
def target_url(tmp_path: Path) -> Iterator[str]:
    if not postgres.enabled():
        yield f"sqlite:///{tmp_path / 'target.db'}"
        return
    url = postgres.create_database(empty=True)
    yield url
    postgres.drop_database(url)


def _populate(client: TestClient) -> dict[str, Any]:
    """People, faces, a removed person, a deleted last face, a schedule, check-ins."""
    api = "/api/v1"
    ada = client.post(f"{api}/people", json={"name": "Ada", "external_id": "e-1"}).json()["id"]
    bob = client.post(f"{api}/people", json={"name": "鲍勃"}).json()["id"]
    gone = client.post(f"{api}/people", json={"name": "Gone"}).json()["id"]
    for pid, colour in ((ada, RED), (bob, GREEN), (gone, BLUE)):
        files = {"file": ("a.png", picture([(colour, 80)]))}
        assert client.post(f"{api}/people/{pid}/faces", files=files).status_code == 201
    extra = {"file": ("b.png", picture([((20, 200, 9), 80)]))}
    last = client.post(f"{api}/people/{bob}/faces", files=extra).json()["faces"][0]["id"]
    assert client.delete(f"{api}/faces/{last}").status_code == 204
    assert client.delete(f"{api}/people/{gone}").status_code == 204
    schedule = {"name": "Late", "start_time": "10:00", "end_time": "19:00", "grace_minutes": 0}
    assert client.post(f"{api}/attendance/schedules", json=schedule).status_code == 201
    check_in = {"file": ("c.png", picture([(RED, 80)]))}
    assert client.post(f"{api}/attendance/check-in", files=check_in).status_code == 200
    return {"last_face": last, "gone": gone}


def _answers(client: TestClient) -> dict[str, Any]:
    api = "/api/v1"
    recognized = client.post(
        f"{api}/recognize", files={"file": ("r.png", picture([(GREEN, 80), (RED, 80)]))}
    )
    return {
        "people": client.get(f"{api}/people").json(),
        "faces": [
            client.get(f"{api}/people/{p['id']}/faces").json()
            for p in client.get(f"{api}/people").json()["items"]
        ],
        "recognize": recognized.json()["faces"],
        "events": client.get(f"{api}/attendance/events").json(),
        "schedules": client.get(f"{api}/attendance/schedules").json(),
        "audit": client.get(f"{api}/audit", params={"limit": 200}).json()["items"],
    }


def test_a_copied_installation_answers_the_same_and_never_reuses_an_id(
    source: Settings, target_url: str, fake_engine: FakeEngine
) -> None:
    with TestClient(create_app(source, engine=fake_engine)) as client:
        made = _populate(client)
        before = _answers(client)

    report = copy_database(source.db_url, target_url, actor=cli_actor(), batch=2)
    assert report.rows["people"] == 3 and report.rows["faces"] == 2
    assert report.rows["attendance_events"] == 1

    moved = source.model_copy(update={"database_url": target_url})
    with TestClient(create_app(moved, engine=fake_engine)) as client:
        after = _answers(client)
        copied = after["audit"][0]
        assert (copied["action"], copied["entity"]) == ("copy", "database")
        assert copied["details"]["rows"] == report.rows
        assert after["audit"][1:] == before["audit"]
        after["audit"] = after["audit"][1:]
        assert after == before
        # The ids the source had handed out (the last face, the last person) stay used.
        person = client.post("/api/v1/people", json={"name": "New"}).json()["id"]
        assert person > made["gone"]
        files = {"file": ("d.png", picture([((120, 120, 9), 80)]))}
        face = client.post(f"/api/v1/people/{person}/faces", files=files).json()
        assert face["faces"][0]["id"] > made["last_face"]

    with pytest.raises(CopyTargetNotEmpty):
        copy_database(source.db_url, target_url, actor=cli_actor())


def test_the_command_copies_the_configured_database_and_refuses_a_used_target(
    source: Settings,
    target_url: str,
    fake_engine: FakeEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with TestClient(create_app(source, engine=fake_engine)) as client:
        assert client.post("/api/v1/people", json={"name": "Ada"}).status_code == 201
    monkeypatch.setenv("FACEREC_DATA_DIR", str(source.data_dir))
    monkeypatch.delenv("FACEREC_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(cli, ["db", "copy", "--to", target_url])
        assert first.exit_code == 0, first.output
        assert "people: 1" in first.output and "counts verified" in first.output
        again = CliRunner().invoke(cli, ["db", "copy", "--to", target_url])
        assert again.exit_code == 1
        assert "copy_target_not_empty" in again.output
    finally:
        get_settings.cache_clear()
