"""API keys: created by an admin (API and CLI), shown once, stored as a digest, scoped,
expiring, revocable; a revoked key is refused by every worker at once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from facerec.audit import cli_actor
from facerec.auth.models import ApiKey
from facerec.cli import CliContext, app
from facerec.config import Settings, get_settings
from facerec.db.engine import make_engine
from tests.auth_helpers import (
    Clock,
    audit_rows,
    auth_client,
    bearer,
    cli_key,
    db_of,
    insert_key,
    sha256,
)
from tests.servers import call, from_every_worker, running_server

KEYS = "/api/v1/keys"


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with auth_client(settings, clock) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> str:
    return insert_key(db_of(client), role="admin", name="root")


def _create(client: TestClient, admin: str, **body: object) -> dict[str, Any]:
    answer = client.post(
        KEYS, json={"name": "payroll", "role": "viewer", **body}, headers=bearer(admin)
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_a_key_is_shown_once_and_stored_as_its_digest(
    client: TestClient, admin: str, clock: Clock
) -> None:
    created = _create(client, admin)
    secret = created["secret"]
    assert re.fullmatch(r"frk_[A-Za-z0-9_-]{43}", secret)
    key = created["key"]
    assert key["prefix"] == secret[:12]
    assert (key["name"], key["role"], key["scopes"]) == ("payroll", "viewer", [])
    assert key["created_by"] == "key:root"
    assert datetime.fromisoformat(key["created_at"]) == clock.now
    listed = client.get(KEYS, headers=bearer(admin)).json()
    assert listed["total"] == 2
    assert secret not in json.dumps(listed)
    assert [k["prefix"] for k in listed["items"]][1] == secret[:12]
    with Session(db_of(client)) as session:
        row = session.exec(select(ApiKey).where(ApiKey.name == "payroll")).one()
    assert row.secret_hash == sha256(secret)
    assert secret not in row.model_dump_json()
    entries = [e for e in audit_rows(db_of(client)) if e.action == "key.create"]
    assert [(e.actor, e.entity_id) for e in entries] == [("key:root", key["id"])]
    assert secret not in json.dumps(entries[0].details) and "frk_" + secret[4:] != ""


def test_the_key_holds_its_role_narrowed_by_scopes(client: TestClient, admin: str) -> None:
    viewer = _create(client, admin)["secret"]
    assert client.get("/api/v1/people", headers=bearer(viewer)).status_code == 200
    assert (
        client.post("/api/v1/people", json={"name": "x"}, headers=bearer(viewer)).status_code == 403
    )
    narrow = _create(client, admin, name="door", role="manager", scopes=["recognize"])["secret"]
    assert client.get("/api/v1/people", headers=bearer(narrow)).status_code == 403
    assert client.get(KEYS, headers=bearer(narrow)).status_code == 403
    assert client.get(KEYS, headers=bearer(viewer)).status_code == 403
    assert client.get(KEYS).status_code == 401
    sent_as_header = client.get("/api/v1/people", headers={"X-API-Key": viewer})
    assert sent_as_header.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"role": "owner"},
        {"role": "manager", "scopes": ["settings"]},
        {"role": "viewer", "scopes": ["recognize", "bogus"]},
        {"name": ""},
    ],
)
def test_bad_roles_and_scopes_are_refused(
    client: TestClient, admin: str, body: dict[str, Any]
) -> None:
    answer = client.post(KEYS, json={"name": "k", "role": "viewer", **body}, headers=bearer(admin))
    assert answer.status_code == 422, answer.text
    assert client.get(KEYS, headers=bearer(admin)).json()["total"] == 1


def test_expiry_must_be_future_and_ends_the_key(
    client: TestClient, admin: str, clock: Clock
) -> None:
    past = (clock.now - timedelta(seconds=1)).isoformat()
    refused = client.post(
        KEYS, json={"name": "k", "role": "viewer", "expires_at": past}, headers=bearer(admin)
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "expires_at"
    naive = client.post(
        KEYS,
        json={"name": "k", "role": "viewer", "expires_at": "2030-01-01T00:00:00"},
        headers=bearer(admin),
    )
    assert naive.status_code == 422
    soon = (clock.now + timedelta(hours=1)).isoformat()
    secret = _create(client, admin, expires_at=soon)["secret"]
    assert client.get("/api/v1/people", headers=bearer(secret)).status_code == 200
    clock.advance(minutes=59, seconds=59)
    assert client.get("/api/v1/people", headers=bearer(secret)).status_code == 200
    clock.advance(seconds=1)
    expired = client.get("/api/v1/people", headers=bearer(secret))
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "unauthenticated"


def test_revoking_refuses_the_key_and_twice_is_fine(
    client: TestClient, admin: str, clock: Clock
) -> None:
    created = _create(client, admin)
    secret, key_id = created["secret"], created["key"]["id"]
    assert client.get("/api/v1/people", headers=bearer(secret)).status_code == 200
    first = clock.now
    assert client.delete(f"{KEYS}/{key_id}", headers=bearer(admin)).status_code == 204
    refused = client.get("/api/v1/people", headers=bearer(secret))
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthenticated")
    clock.advance(minutes=5)
    assert client.delete(f"{KEYS}/{key_id}", headers=bearer(admin)).status_code == 204
    listed = {k["id"]: k for k in client.get(KEYS, headers=bearer(admin)).json()["items"]}
    assert datetime.fromisoformat(listed[key_id]["revoked_at"]) == first
    assert client.delete(f"{KEYS}/999", headers=bearer(admin)).status_code == 404
    revokes = [e for e in audit_rows(db_of(client)) if e.action == "key.revoke"]
    assert [(e.actor, e.entity_id) for e in revokes] == [("key:root", key_id)]


def test_last_used_is_written_at_most_once_a_minute(
    client: TestClient, admin: str, clock: Clock
) -> None:
    created = _create(client, admin)
    secret, key_id = created["secret"], created["key"]["id"]

    def last_used() -> str | None:
        listed = client.get(KEYS, headers=bearer(admin)).json()["items"]
        value: str | None = next(k["last_used_at"] for k in listed if k["id"] == key_id)
        return value

    assert last_used() is None
    start = clock.now
    client.get("/api/v1/people", headers=bearer(secret))
    assert datetime.fromisoformat(last_used() or "") == start
    clock.advance(seconds=59)
    client.get("/api/v1/people", headers=bearer(secret))
    assert datetime.fromisoformat(last_used() or "") == start
    clock.advance(seconds=1)
    client.get("/api/v1/people", headers=bearer(secret))
    assert datetime.fromisoformat(last_used() or "") == start + timedelta(seconds=60)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_create_prints_only_the_secret(runner: CliRunner, clock: Clock) -> None:
    obj = CliContext(clock=clock)
    args = ["keys", "create", "--name", "payroll", "--role", "manager", "--scope", "recognize",
            "--scope", "people:read", "--expires", "2027-01-31"]  # fmt: skip
    done = runner.invoke(app, args, obj=obj)
    assert done.exit_code == 0, done.output
    assert re.fullmatch(r"frk_[A-Za-z0-9_-]{43}\n", done.stdout)
    secret = done.stdout.strip()
    db = make_engine(get_settings().db_url)
    with Session(db) as session:
        row = session.exec(select(ApiKey)).one()
    db.dispose()
    assert row.secret_hash == sha256(secret)
    assert (row.role, row.scopes, row.created_by) == (
        "manager",
        ["people:read", "recognize"],
        cli_actor().label,
    )
    assert row.expires_at == datetime(2027, 2, 1, tzinfo=UTC)  # through the 31st
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and secret[:12] in listed.stdout and secret not in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", str(row.id)], obj=obj).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "99"], obj=obj).exit_code == 1
    bad = runner.invoke(
        app, ["keys", "create", "--name", "x", "--role", "viewer", "--scope", "admin"]
    )
    assert bad.exit_code == 1 and bad.stdout == ""


@pytest.mark.models
@pytest.mark.slow
def test_a_revoked_key_is_refused_by_every_worker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin = cli_key(data, "--name", "root", "--role", "admin").strip()
    env = {"FACEREC_AUTH__ENABLED": "true"}
    with running_server(data, workers=2, env=env) as root:
        api = root + "/api/v1"
        status, created = call(
            api, "POST", "/keys", {"name": "k", "role": "viewer"}, headers=bearer(admin)
        )
        assert status == 201
        key = bearer(created["secret"])
        before = from_every_worker(api, "GET", "/people", workers=2, headers=key)
        assert {r.status for replies in before.values() for r in replies} == {200}
        status, _ = call(api, "DELETE", f"/keys/{created['key']['id']}", headers=bearer(admin))
        assert status == 204
        after = from_every_worker(api, "GET", "/people", workers=2, headers=key)
        for replies in after.values():
            assert {r.status for r in replies} == {401}
            assert {r.body["error"]["code"] for r in replies} == {"unauthenticated"}
