"""User accounts, managed by administrators: create, list, role, disable, reset password;
other roles are refused; ``facerec users`` does the same from the shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from facerec.audit.models import AuditEntry
from facerec.auth.models import User
from facerec.cli import CliContext, app
from facerec.config import Settings, get_settings
from facerec.db.engine import make_engine
from tests.auth_helpers import Clock, audit_rows, auth_client, db_of
from tests.users_helpers import ORIGIN, insert_user, logged_in, login, sessions_of, user_row

USERS = "/api/v1/users"
PASSWORD = "correct horse battery"


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with auth_client(settings, clock) as c:
        yield c


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    """A client logged in as the administrator ``root``."""
    insert_user(db_of(client), "root", PASSWORD, role="admin")
    return logged_in(client, "root", PASSWORD)


def _create(admin: TestClient, name: str, role: str = "viewer") -> int:
    body = {"username": name, "password": f"{name} password 123", "role": role}
    answer = admin.post(USERS, json=body, headers=ORIGIN)
    assert answer.status_code == 201, answer.text
    user_id: int = answer.json()["id"]
    return user_id


def test_an_admin_creates_and_lists_users(
    admin: TestClient, client: TestClient, clock: Clock
) -> None:
    bob = _create(admin, "bob", "manager")
    listed = admin.get(USERS).json()
    assert listed["total"] == 2
    assert listed["items"][1] == {
        "id": bob, "username": "bob", "role": "manager", "disabled": False,
        "created_at": clock.now.isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    stored = user_row(db_of(client), bob)
    assert PasswordHasher().verify(stored.password_hash, "bob password 123")
    assert "bob password 123" not in stored.password_hash
    assert login(client, "bob", "bob password 123").json()["role"] == "manager"
    [entry] = [e for e in audit_rows(db_of(client)) if e.action == "user_create"]
    assert (entry.actor, entry.entity_id) == ("user:root", bob)
    assert entry.details == {"username": "bob", "role": "manager"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "Root", "password": "long enough 123", "role": "viewer"}, 409),
        ({"username": "carol", "password": "123456789", "role": "viewer"}, 422),
        ({"username": "carolcarol", "password": "carolcarol", "role": "viewer"}, 422),
        ({"username": "carol", "password": "x" * 1025, "role": "viewer"}, 422),
        ({"username": "carol", "password": "long enough 123", "role": "owner"}, 422),
        ({"username": "ca rol", "password": "long enough 123", "role": "viewer"}, 422),
    ],
)
def test_bad_users_are_refused(admin: TestClient, body: dict[str, str], status: int) -> None:
    answer = admin.post(USERS, json=body, headers=ORIGIN)
    assert answer.status_code == status, answer.text
    assert admin.get(USERS).json()["total"] == 1


def test_a_reset_password_ends_all_their_sessions(admin: TestClient, client: TestClient) -> None:
    bob = _create(admin, "bob")
    bobs = logged_in(client, "bob", "bob password 123")
    path = f"{USERS}/{bob}/password"
    answer = admin.post(path, json={"new_password": "reset by root 1"}, headers=ORIGIN)
    assert answer.status_code == 204, answer.text
    assert bobs.get("/api/v1/auth/me").status_code == 401
    assert sessions_of(db_of(client), bob) == []
    assert login(client, "bob", "bob password 123").status_code == 401
    assert login(client, "bob", "reset by root 1").status_code == 200
    [entry] = [e for e in audit_rows(db_of(client)) if e.action == "password_reset"]
    assert (entry.actor, entry.entity_id, entry.details) == ("user:root", bob, {"username": "bob"})


def test_disabling_ends_their_sessions_and_refuses_logins(
    admin: TestClient, client: TestClient
) -> None:
    bob = _create(admin, "bob")
    bobs = logged_in(client, "bob", "bob password 123")
    answer = admin.patch(f"{USERS}/{bob}", json={"disabled": True}, headers=ORIGIN)
    assert answer.status_code == 200, answer.text
    assert answer.json()["disabled"] is True
    assert bobs.get("/api/v1/auth/me").status_code == 401
    assert login(client, "bob", "bob password 123").status_code == 401
    [entry] = [e for e in audit_rows(db_of(client)) if e.action == "user_disable"]
    assert entry.details["after"] == {"role": "viewer", "disabled": True}
    admin.patch(f"{USERS}/{bob}", json={"disabled": False, "role": "manager"}, headers=ORIGIN)
    assert login(client, "bob", "bob password 123").json()["role"] == "manager"


def test_the_last_enabled_admin_stays(admin: TestClient) -> None:
    root = admin.get("/api/v1/auth/me").json()["id"]
    for change in ({"disabled": True}, {"role": "viewer"}):
        answer = admin.patch(f"{USERS}/{root}", json=change, headers=ORIGIN)
        assert answer.status_code == 409, answer.text
    _create(admin, "second", "admin")
    assert (
        admin.patch(f"{USERS}/{root}", json={"role": "viewer"}, headers=ORIGIN).status_code == 200
    )


@pytest.mark.parametrize("role", ["viewer", "manager"])
def test_other_roles_cannot_manage_users(admin: TestClient, client: TestClient, role: str) -> None:
    target = _create(admin, "target")
    _create(admin, "someone", role)
    other = logged_in(client, "someone", "someone password 123")
    body = {"username": "mallory", "password": "long enough 123", "role": "admin"}
    attempts = [
        other.get(USERS),
        other.post(USERS, json=body, headers=ORIGIN),
        other.patch(f"{USERS}/{target}", json={"role": "admin"}, headers=ORIGIN),
        other.post(f"{USERS}/{target}/password", json={"new_password": "x" * 12}, headers=ORIGIN),
    ]
    assert [a.status_code for a in attempts] == [403] * 4
    assert user_row(db_of(client), target).role == "viewer"
    anonymous = TestClient(client.app)
    assert anonymous.get(USERS).status_code == 401


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _cli_users() -> list[User]:
    db = make_engine(get_settings().db_url)
    try:
        with Session(db) as session:
            return list(session.exec(select(User)).all())
    finally:
        db.dispose()


def test_the_cli_creates_lists_resets_and_disables(runner: CliRunner, clock: Clock) -> None:
    obj = CliContext(clock=clock)
    create = ["users", "create", "boss", "--role", "admin", "--password-stdin"]
    done = runner.invoke(app, create, input="stdin password 1\n", obj=obj)
    assert done.exit_code == 0, done.output
    assert "stdin password 1" not in done.output
    [boss] = _cli_users()
    assert (boss.username, boss.role, boss.created_at) == ("boss", "admin", clock.now)
    assert PasswordHasher().verify(boss.password_hash, "stdin password 1")
    assert "boss" in runner.invoke(app, ["users", "list"]).output
    short = runner.invoke(app, [*create[:2], "other", "--password-stdin"], input="short\n")
    assert short.exit_code == 1
    reset = ["users", "reset-password", "boss", "--password-stdin"]
    assert runner.invoke(app, reset, input="another password\n", obj=obj).exit_code == 0
    [boss] = _cli_users()
    assert PasswordHasher().verify(boss.password_hash, "another password")
    runner.invoke(app, [*create[:2], "temp", "--password-stdin"], input="temp password 1\n")
    assert runner.invoke(app, ["users", "disable", "temp"]).exit_code == 0
    assert {u.username: u.disabled for u in _cli_users()} == {"boss": False, "temp": True}
    db = make_engine(get_settings().db_url)
    with Session(db) as session:
        entries = list(session.exec(select(AuditEntry)).all())
    db.dispose()
    actions = ["user_create", "password_reset", "user_create", "user_disable"]
    assert [e.action for e in entries] == actions
    assert all(e.actor.startswith("system:cli") for e in entries)
