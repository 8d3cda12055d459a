"""Request rates per API key and per kiosk device: fixed one-minute windows from the
injected clock, counted in the database so every worker shares one limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from facerec.auth.models import LoginSession, User
from facerec.config import Settings
from tests.auth_helpers import Clock, auth_client, bearer, cli_key, db_of, insert_key, sha256
from tests.servers import from_every_worker, running_server, send

PEOPLE = "/api/v1/people"


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)  # 10 s into a minute


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    limits = {"key_requests_per_minute": 3, "device_requests_per_minute": 2}
    with auth_client(settings, clock, **limits) as test_client:
        yield test_client


def _device_token(client: TestClient) -> str:
    admin = insert_key(db_of(client), role="admin")
    made = client.post("/api/v1/devices", json={"name": "door"}, headers=bearer(admin)).json()
    code = made["pairing_url"].split("pair=")[1]
    return str(client.post("/api/v1/devices/pair", json={"code": code}).json()["token"])


def test_a_key_past_its_limit_waits_for_the_next_window(client: TestClient, clock: Clock) -> None:
    key = bearer(insert_key(db_of(client), role="viewer"))
    assert [client.get(PEOPLE, headers=key).status_code for _ in range(3)] == [200] * 3
    refused = client.get(PEOPLE, headers=key)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "50"  # 12:00:10 -> the window ends at 12:01:00
    clock.advance(seconds=40)
    assert client.get(PEOPLE, headers=key).headers["Retry-After"] == "10"
    clock.advance(milliseconds=500)
    assert client.get(PEOPLE, headers=key).headers["Retry-After"] == "10"  # 9.5 s, rounded up
    clock.advance(seconds=9, milliseconds=499)
    assert client.get(PEOPLE, headers=key).headers["Retry-After"] == "1"  # never 0
    clock.advance(milliseconds=1)  # 12:01:00: a new window
    assert [client.get(PEOPLE, headers=key).status_code for _ in range(4)] == [200] * 3 + [429]


def test_each_key_and_device_has_its_own_count(client: TestClient) -> None:
    first = bearer(insert_key(db_of(client), role="manager"))
    second = bearer(insert_key(db_of(client), role="manager"))
    for _ in range(3):
        assert client.get(PEOPLE, headers=first).status_code == 200
    assert client.get(PEOPLE, headers=first).status_code == 429
    assert client.get(PEOPLE, headers=second).status_code == 200
    device = bearer(_device_token(client))
    status = client.get("/api/v1/devices", headers=device).status_code  # 403 still counts
    assert status == 403
    assert client.get("/api/v1/devices", headers=device).status_code == 403
    assert client.get("/api/v1/devices", headers=device).status_code == 429  # device limit: 2


def test_a_browser_session_is_not_rate_limited(client: TestClient, clock: Clock) -> None:
    secret = "frs_" + "s" * 43
    with Session(db_of(client)) as session:
        user = User(username="ann", password_hash="-", role="viewer")
        session.add(user)
        session.flush()
        assert user.id is not None
        session.add(
            LoginSession(
                token_hash=sha256(secret),
                user_id=user.id,
                created_at=clock.now,
                last_seen_at=clock.now,
                expires_at=clock.now + timedelta(hours=1),
            )
        )
        session.commit()
    client.cookies.set("facerec_session", secret)
    assert {client.get(PEOPLE).status_code for _ in range(6)} == {200}


def _wait_for_a_fresh_minute() -> None:
    """The server's window follows the real clock: start early in a minute, so that the
    whole exchange (a few seconds) falls inside one window."""
    into = time.time() % 60
    if into > 20:
        time.sleep(60 - into + 0.5)


@pytest.mark.models
@pytest.mark.slow
def test_two_workers_share_one_limit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = bearer(cli_key(data, "--name", "k", "--role", "viewer").strip())
    env = {"FACEREC_AUTH__ENABLED": "true", "FACEREC_AUTH__KEY_REQUESTS_PER_MINUTE": "10"}
    with running_server(data, workers=2, env=env) as root:
        _wait_for_a_fresh_minute()
        replies = [send(root, "GET", PEOPLE, headers=key) for _ in range(10)]
        assert [r.status for r in replies] == [200] * 10
        # every worker refuses now, even one that answered fewer than 10 of them
        after = from_every_worker(root, "GET", PEOPLE, workers=2, each=2, headers=key)
        for worker, answers in after.items():
            assert {r.status for r in answers} == {429}, worker
            assert {r.body["error"]["code"] for r in answers} == {"rate_limited"}
