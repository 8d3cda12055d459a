"""First run: while no administrator exists, ``facerec serve`` prints a one-time set-up
link; it creates the first admin (logged in at once) and never works again."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from facerec.auth.models import User
from facerec.calibration.models import AppSetting
from facerec.config import Settings
from tests.auth_helpers import Clock, audit_rows, auth_client, db_of, sha256
from tests.servers import ServerProcess, call, from_every_worker
from tests.users_helpers import insert_user

SETUP = "/api/v1/auth/setup"
TOKEN = "fru_" + "t" * 43
BODY = {"token": TOKEN, "username": "root", "password": "correct horse battery"}
LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/setup\?token=(fru_[A-Za-z0-9_-]{43})")


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with auth_client(settings, clock) as c:
        yield c


def _store_token(client: TestClient, clock: Clock, *, valid_for: timedelta) -> None:
    """The row ``facerec serve`` would write, made by hand: the token's SHA-256, expiry."""
    expires = (clock.now + valid_for).isoformat()
    with Session(db_of(client)) as session:
        session.add(
            AppSetting(key="setup_token", value={"digest": sha256(TOKEN), "expires": expires})
        )
        session.commit()


def test_the_token_creates_the_first_admin_once(client: TestClient, clock: Clock) -> None:
    assert client.get(SETUP).json() == {"needed": True}
    _store_token(client, clock, valid_for=timedelta(hours=1))
    wrong = client.post(SETUP, json={**BODY, "token": "fru_" + "x" * 43})
    assert wrong.status_code == 403, wrong.text
    weak = client.post(SETUP, json={**BODY, "password": "short"})
    assert weak.status_code == 422, weak.text
    answer = client.post(SETUP, json=BODY)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["name"], answer.json()["role"]) == ("root", "admin")
    assert "httponly" in answer.headers["set-cookie"].lower()
    assert client.get("/api/v1/auth/me").json()["role"] == "admin"  # logged in by the cookie
    assert client.get(SETUP).json() == {"needed": False}
    again = client.post(SETUP, json={**BODY, "username": "second"})
    assert again.status_code == 409, again.text
    with Session(db_of(client)) as session:
        assert session.get(AppSetting, "setup_token") is None
        assert session.get(User, answer.json()["id"]) is not None
    actions = [(e.action, e.details.get("username")) for e in audit_rows(db_of(client))]
    assert actions == [("setup", "root"), ("login", None)]


def test_an_expired_token_is_refused(client: TestClient, clock: Clock) -> None:
    _store_token(client, clock, valid_for=timedelta(hours=1))
    clock.advance(hours=1)
    assert client.post(SETUP, json=BODY).status_code == 403


def test_set_up_is_refused_once_any_admin_exists(client: TestClient, clock: Clock) -> None:
    _store_token(client, clock, valid_for=timedelta(hours=1))
    insert_user(db_of(client), "made-by-cli", "whatever password", role="admin")
    assert client.get(SETUP).json() == {"needed": False}
    assert client.post(SETUP, json=BODY).status_code == 409


def _links(server: ServerProcess) -> list[tuple[str, str]]:
    return LINK.findall(server.log.read_text())


def _post_setup(root: str, token: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    body = json.dumps({**BODY, "token": token}).encode()
    request = urllib.request.Request(
        root + SETUP, data=body, method="POST", headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read()), response.headers["set-cookie"]


@pytest.mark.models
@pytest.mark.slow
def test_serve_prints_one_link_that_works_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"FACEREC_AUTH__ENABLED": "true"}
    first = ServerProcess(data, workers=2, env=env)
    try:
        first.start()
    finally:
        first.stop()
    [(_, stale)] = _links(first)
    server = ServerProcess(data, workers=2, env=env)  # a new start: a new link
    try:
        root = server.start()
        [(base, token)] = _links(server)  # one link for two workers
        assert base == root and token != stale
        needed = from_every_worker(root + "/api/v1", "GET", "/auth/setup", workers=2, each=1)
        assert {r.body["needed"] for replies in needed.values() for r in replies} == {True}
        status, _ = call(root, "POST", SETUP, {**BODY, "token": stale})
        assert status == 403  # the previous start's link stopped
        status, principal, cookie = _post_setup(root, token)
        assert (status, principal["name"], principal["role"]) == (201, "root", "admin")
        assert cookie.startswith("facerec_session=frs_")
        done = from_every_worker(root + "/api/v1", "GET", "/auth/setup", workers=2, each=1)
        assert {r.body["needed"] for replies in done.values() for r in replies} == {False}
        status, _ = call(root, "POST", SETUP, {**BODY, "token": token, "username": "two"})
        assert status == 409
    finally:
        server.stop()
    restarted = ServerProcess(data, workers=1, env=env)
    try:
        restarted.start()
    finally:
        restarted.stop()
    assert _links(restarted) == []  # an admin exists: no link any more
