"""The model registry through the admin API and ``facerec models``; the shared fixtures
(YuNet, MobileFaceNet in ../shared/models) pulled from a server on 127.0.0.1 and
imported, skipped where absent."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from facerec.audit.models import AuditEntry
from facerec.cli import CliContext, app
from facerec.config import Settings, get_settings
from facerec.db.engine import make_engine
from tests.auth_helpers import Clock, auth_client, bearer, db_of, insert_key
from tests.conftest import TEST_ZONE
from tests.model_files import (
    MOBILEFACENET_FILE,
    YUNET_FILE,
    Served,
    file_server,
    recogniser,
    shared_model,
)

API = "/api/v1/models"


@pytest.fixture
def admin(settings: Settings) -> Iterator[tuple[TestClient, str]]:
    with auth_client(settings, Clock(TEST_ZONE)) as client:
        yield client, insert_key(db_of(client), role="admin", name="ops")


def test_the_api_imports_lists_and_removes(admin: tuple[TestClient, str], tmp_path: Path) -> None:
    client, key = admin
    body = recogniser(tmp_path / "net.onnx", dim=48).read_bytes()
    query: dict[str, str | int] = {
        "filename": "net.onnx",
        "kind": "arcface",
        "name": "net",
        "std": 128,
    }
    made = client.post(f"{API}/import", params=query, content=body, headers=bearer(key))
    assert made.status_code == 201, made.text
    assert made.json()["installed"] == ["net"]
    [model] = made.json()["models"]
    assert (model["kind"], model["contract"]["embedding_size"]) == ("recogniser", 48)
    assert model["sha256"] == hashlib.sha256(body).hexdigest()
    bad = client.post(f"{API}/import", params={"kind": "arcface", "size": 96}, content=body,
                      headers=bearer(key))  # fmt: skip
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_model")
    listing = client.get(API, headers=bearer(key)).json()
    assert [m["name"] for m in listing["models"]] == ["net"]
    assert {b["name"] for b in listing["builtin"]} == {"dlib-hog", "dlib-cnn", "dlib-resnet"}
    assert {p["name"] for p in listing["packs"]} >= {"yunet-2023mar", "buffalo_l"}
    assert client.delete(f"{API}/dlib-resnet", headers=bearer(key)).status_code == 422
    assert client.delete(f"{API}/net", headers=bearer(key)).status_code == 204
    assert client.delete(f"{API}/net", headers=bearer(key)).status_code == 404
    with Session(db_of(client)) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.entity == "model")).all()
    assert [(r.action, r.actor_kind, r.actor) for r in rows] == [
        ("import", "key", "key:ops"),
        ("remove", "key", "key:ops"),
    ]


def test_the_api_refuses_a_non_commercial_pack_without_acceptance(
    admin: tuple[TestClient, str],
) -> None:
    client, key = admin
    answer = client.post(f"{API}/pull", json={"pack": "buffalo_l"}, headers=bearer(key))
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "licence_not_accepted")
    assert "non-commercial" in answer.json()["error"]["message"]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "cli-data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.models
def test_cli_pulls_yunet_from_a_mirror_and_reports_a_bad_download(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = shared_model(*YUNET_FILE).read_bytes()
    served = Served(files={"face_detection_yunet_2023mar.onnx": body[:-1] + b"\0"})
    with file_server(served) as base:
        monkeypatch.setenv("FACEREC_MODELS__MIRROR_URL", base)
        get_settings.cache_clear()
        bad = runner.invoke(app, ["models", "pull", "yunet-2023mar"], obj=CliContext())
        assert bad.exit_code == 1 and "[download_failed]" in bad.stderr
        served.files["face_detection_yunet_2023mar.onnx"] = body
        done = runner.invoke(app, ["models", "pull", "yunet-2023mar"], obj=CliContext())
    assert done.exit_code == 0, done.output
    assert "installed: yunet-2023mar (detector, yunet" in done.stdout
    listed = runner.invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert "yunet-2023mar" in listed.stdout and "MIT" in listed.stdout
    assert runner.invoke(app, ["models", "remove", "yunet-2023mar"]).exit_code == 0
    assert runner.invoke(app, ["models", "remove", "yunet-2023mar"]).exit_code == 1  # gone
    engine = make_engine(get_settings().db_url)
    try:
        with Session(engine) as session:
            actions = session.exec(select(AuditEntry.action, AuditEntry.actor)).all()
    finally:
        engine.dispose()
    assert [a for a, _ in actions] == ["pull", "remove"]
    assert all(actor.startswith("system:cli:") for _, actor in actions)


@pytest.mark.models
def test_cli_imports_the_fixtures_offline(runner: CliRunner) -> None:
    yunet = shared_model(*YUNET_FILE)
    mobilefacenet = shared_model(*MOBILEFACENET_FILE)
    known = runner.invoke(app, ["models", "import", str(yunet)])
    assert known.exit_code == 0, known.output
    assert "installed: yunet-2023mar (detector" in known.stdout  # recognised by hash
    plain = runner.invoke(app, ["models", "import", str(mobilefacenet)])
    assert plain.exit_code == 1 and "--kind" in plain.stderr
    args = ["models", "import", str(mobilefacenet), "--kind", "arcface", "--size", "112",
            "--mean", "127.5", "--std", "128", "--licence", "test use only"]  # fmt: skip
    imported = runner.invoke(app, args)
    assert imported.exit_code == 0, imported.output
    assert "installed: mobilefacenet (recogniser, arcface, 128-d" in imported.stdout
    wrong = runner.invoke(app, [*args[:3], "--kind", "arcface", "--name", "mfn", "--size", "96"])
    assert wrong.exit_code == 1 and "[invalid_model]" in wrong.stderr
