"""Logins: the session cookie, wrong passwords, lockout per account and per address,
rehashing, idle and absolute expiry, logout, changing one's password."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from facerec.config import Settings
from tests.auth_helpers import Clock, audit_rows, auth_client, db_of, sha256
from tests.servers import from_every_worker, running_server, send
from tests.users_helpers import (
    ORIGIN,
    VIEWER_PERMISSIONS,
    insert_user,
    logged_in,
    login,
    sessions_of,
    user_row,
)

ME = "/api/v1/auth/me"
PASSWORD = "correct horse battery"


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with auth_client(settings, clock, login_max_failures=3, login_lock_minutes=15) as c:
        yield c


@pytest.fixture
def alice(client: TestClient) -> int:
    return insert_user(db_of(client), "alice", PASSWORD)


def test_login_sets_a_strict_httponly_cookie_whose_digest_is_stored(
    client: TestClient, alice: int, clock: Clock
) -> None:
    answer = login(client, "alice", PASSWORD)
    assert answer.status_code == 200, answer.text
    expected = {
        "kind": "user", "id": alice, "name": "alice", "role": "viewer",
        "permissions": VIEWER_PERMISSIONS,
    }  # fmt: skip
    assert answer.json() == expected
    cookie = answer.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=43200"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain HTTP, cookie_secure=auto
    secret = client.cookies["facerec_session"]
    assert secret.startswith("frs_")
    [row] = sessions_of(db_of(client), alice)
    assert row.token_hash == sha256(secret)
    assert row.expires_at == clock.now + timedelta(hours=12)
    assert client.get(ME).json() == expected
    [entry] = [e for e in audit_rows(db_of(client)) if e.action == "login"]
    assert (entry.actor, entry.actor_kind, entry.entity_id) == ("user:alice", "user", alice)


@pytest.mark.parametrize(
    ("mode", "headers", "secure"),
    [
        ("always", {}, True),
        ("auto", {"X-Forwarded-Proto": "https"}, True),
        ("never", {"X-Forwarded-Proto": "https"}, False),
    ],
)
def test_the_cookie_is_secure_per_setting_and_https(
    settings: Settings, clock: Clock, mode: str, headers: dict[str, str], secure: bool
) -> None:
    with auth_client(settings, clock, cookie_secure=mode) as client:
        insert_user(db_of(client), "alice", PASSWORD)
        answer = login(client, "alice", PASSWORD, **headers)
    assert answer.status_code == 200
    assert ("secure" in answer.headers["set-cookie"].lower()) is secure


def test_wrong_passwords_and_unknown_names_are_401_and_audited(
    client: TestClient, alice: int
) -> None:
    for name, password in (("alice", "not the password"), ("nobody", PASSWORD)):
        answer = login(client, name, password)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthenticated"
        assert "facerec_session" not in client.cookies
    assert client.get(ME).status_code == 401
    failed = [e for e in audit_rows(db_of(client)) if e.action == "login_failed"]
    assert [(e.actor, e.details) for e in failed] == [
        ("anonymous:anonymous", {"username": "alice", "address": "testclient"}),
        ("anonymous:anonymous", {"username": "nobody", "address": "testclient"}),
    ]
    assert all(e.address == "testclient" for e in failed)
    assert "not the password" not in str([e.details for e in audit_rows(db_of(client))])


def test_each_failure_waits_longer(client: TestClient, alice: int) -> None:
    started = time.monotonic()
    login(client, "alice", "wrong password 1")
    first = time.monotonic() - started
    started = time.monotonic()
    login(client, "alice", "wrong password 2")
    second = time.monotonic() - started
    assert first >= 0.25  # 0.25 s per failure so far (a lower bound: sleep is never shorter)
    assert second >= 0.5


def test_the_account_locks_after_the_limit_even_with_the_right_password(
    client: TestClient, alice: int, clock: Clock
) -> None:
    for _ in range(3):  # login_max_failures
        assert login(client, "alice", "wrong password").status_code == 401
    locked = login(client, "alice", PASSWORD)
    assert locked.status_code == 429, locked.text
    assert locked.json()["error"]["code"] == "rate_limited"
    assert locked.headers["retry-after"] == str(15 * 60)
    clock.advance(minutes=14, seconds=59)
    assert login(client, "alice", PASSWORD).status_code == 429
    clock.advance(seconds=1)
    assert login(client, "alice", PASSWORD).status_code == 200


def test_a_success_resets_the_account_count(client: TestClient, alice: int) -> None:
    for _ in range(2):
        assert login(client, "alice", "wrong password").status_code == 401
    assert login(client, "alice", PASSWORD).status_code == 200
    for _ in range(2):
        assert login(client, "alice", "wrong password").status_code == 401
    assert login(client, "alice", PASSWORD).status_code == 200  # 4 failures, never 3 in a row


def test_the_address_locks_after_four_times_the_limit(settings: Settings, clock: Clock) -> None:
    with auth_client(settings, clock, login_max_failures=1, login_lock_minutes=15) as client:
        insert_user(db_of(client), "alice", PASSWORD)
        for i in range(4):  # one failure per name: no account is locked, the address is
            assert login(client, f"guess{i}", "wrong password").status_code == 401
        locked = login(client, "alice", PASSWORD)
        assert locked.status_code == 429, locked.text
        clock.advance(minutes=15)
        assert login(client, "alice", PASSWORD).status_code == 200


def test_an_outdated_hash_is_replaced_on_login(client: TestClient) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    user_id = insert_user(db_of(client), "alice", PASSWORD, hasher=weak)
    before = user_row(db_of(client), user_id).password_hash
    assert login(client, "alice", PASSWORD).status_code == 200
    after = user_row(db_of(client), user_id).password_hash
    assert after != before
    assert PasswordHasher().verify(after, PASSWORD)
    assert not PasswordHasher().check_needs_rehash(after)


def test_a_session_ends_after_the_idle_time(client: TestClient, alice: int, clock: Clock) -> None:
    assert login(client, "alice", PASSWORD).status_code == 200
    for _ in range(3):  # each request within 30 minutes keeps it alive
        clock.advance(minutes=29)
        assert client.get(ME).status_code == 200
    clock.advance(minutes=30)
    assert client.get(ME).status_code == 401
    assert sessions_of(db_of(client), alice) == []


def test_a_session_ends_at_its_absolute_expiry(settings: Settings, clock: Clock) -> None:
    with auth_client(settings, clock, session_absolute_hours=1) as client:
        insert_user(db_of(client), "alice", PASSWORD)
        assert login(client, "alice", PASSWORD).status_code == 200
        for _ in range(2):
            clock.advance(minutes=29, seconds=59)
            assert client.get(ME).status_code == 200
        clock.advance(seconds=2)  # 1 h after login, 2 s after the last request
        assert client.get(ME).status_code == 401


def test_logout_ends_the_session_and_clears_the_cookie(client: TestClient, alice: int) -> None:
    assert login(client, "alice", PASSWORD).status_code == 200
    secret = client.cookies["facerec_session"]
    assert client.post("/api/v1/auth/logout").status_code == 403  # no Origin: refused
    answer = client.post("/api/v1/auth/logout", headers=ORIGIN)
    assert answer.status_code == 204
    assert 'facerec_session=""' in answer.headers["set-cookie"]
    assert sessions_of(db_of(client), alice) == []
    client.cookies.set("facerec_session", secret)  # a copy kept by an attacker
    assert client.get(ME).status_code == 401
    assert [e.action for e in audit_rows(db_of(client))] == ["login", "logout"]


def test_changing_ones_password_ends_the_other_sessions(client: TestClient, alice: int) -> None:
    here = logged_in(client, "alice", PASSWORD)
    there = logged_in(client, "alice", PASSWORD)
    path = "/api/v1/auth/password"
    wrong = {"current_password": "not it at all", "new_password": "a brand new secret"}
    assert here.post(path, json=wrong, headers=ORIGIN).status_code == 403
    short = {"current_password": PASSWORD, "new_password": "short"}
    assert here.post(path, json=short, headers=ORIGIN).status_code == 422
    body = {"current_password": PASSWORD, "new_password": "a brand new secret"}
    assert here.post(path, json=body, headers=ORIGIN).status_code == 204
    assert here.get(ME).status_code == 200
    assert there.get(ME).status_code == 401
    assert login(client, "alice", PASSWORD).status_code == 401
    assert login(client, "alice", "a brand new secret").status_code == 200
    [entry] = [e for e in audit_rows(db_of(client)) if e.action == "password_change"]
    assert entry.actor == "user:alice"
    assert "brand new" not in str(entry.details)


def _cli_user(data: Path, name: str, password: str) -> None:
    """``facerec users create NAME --password-stdin`` in its own process."""
    facerec = Path(sys.executable).with_name("facerec")
    subprocess.run(
        [str(facerec), "users", "create", name, "--role", "viewer", "--password-stdin"],
        input=password + "\n",
        env={
            "FACEREC_DATA_DIR": str(data),
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in os.environ.items() if k == "FACEREC_DATABASE_URL"},
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.models
@pytest.mark.slow
def test_the_lockout_holds_across_two_workers(tmp_path: Path) -> None:
    """Per-worker counts would leave a worker unlocked (all failures on the other) or
    neither (failures split): every worker must refuse the right password."""
    data = tmp_path / "data"
    _cli_user(data, "alice", PASSWORD)
    env = {"FACEREC_AUTH__ENABLED": "true", "FACEREC_AUTH__LOGIN_MAX_FAILURES": "3"}
    with running_server(data, workers=2, env=env) as root:
        api = root + "/api/v1"
        wrong = {"username": "alice", "password": "wrong password"}
        for _ in range(3):
            assert send(api, "POST", "/auth/login", wrong).status == 401
        right = {"username": "alice", "password": PASSWORD}
        replies = from_every_worker(api, "POST", "/auth/login", right, workers=2)
        for answers in replies.values():
            assert {r.status for r in answers} == {429}
