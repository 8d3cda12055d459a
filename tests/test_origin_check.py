"""A write authenticated by the session cookie must come from our own origin: another
site's page cannot use a logged-in browser. Reads are not checked; a key sent in a header
is no ambient credential, so it is not checked either."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from tests import credentials
from tests.fakes import FakeEngine

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
OURS = "http://testserver"
PUBLIC_URL = "https://faces.example.org"


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    auth = settings.auth.model_copy(update={"enabled": True, "public_url": PUBLIC_URL})
    on = settings.model_copy(update={"auth": auth})
    with TestClient(create_app(on, engine=FakeEngine(), clock=lambda: NOW)) as client:
        yield client


@pytest.fixture
def cookie(app_client: TestClient) -> dict[str, str]:
    db = app_client.app.state.facerec.db  # type: ignore[attr-defined]
    secret = credentials.session_cookie(db, username="mia", role="manager", now=NOW)
    return {"Cookie": f"facerec_session={secret}"}


def _create(client: TestClient, headers: dict[str, str]) -> Any:
    return client.post("/api/v1/people", json={"name": "Ada"}, headers=headers)


def _people(client: TestClient, headers: dict[str, str]) -> int:
    response = client.get("/api/v1/people", headers=headers)
    assert response.status_code == 200
    total: int = response.json()["total"]
    return total


@pytest.mark.parametrize(
    "claimed",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page?x=http://testserver"},
    ],
    ids=["none", "foreign", "look-alike", "null", "foreign-referer"],
)
def test_cookie_write_from_elsewhere_is_refused(
    app_client: TestClient, cookie: dict[str, str], claimed: dict[str, str]
) -> None:
    response = _create(app_client, cookie | claimed)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert _people(app_client, cookie) == 0  # nothing was written


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_every_write_method_is_checked(
    app_client: TestClient, cookie: dict[str, str], method: str
) -> None:
    paths = {
        "PUT": "/api/v1/attendance/holidays/2026-03-10",
        "PATCH": "/api/v1/people/1",
        "DELETE": "/api/v1/people/1",
    }
    foreign = app_client.request(
        method, paths[method], headers=cookie | {"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    ours = app_client.request(method, paths[method], headers=cookie | {"Origin": OURS})
    assert ours.status_code not in (401, 403)


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/password", "/api/v1/auth/logout"], ids=["password", "logout"]
)
def test_account_writes_are_checked_too(
    app_client: TestClient, cookie: dict[str, str], path: str
) -> None:
    """Declared public (they check the caller themselves), yet cookie writes all the same."""
    body = {"current_password": "x", "new_password": "a much longer new password"}
    foreign = cookie | {"Origin": "https://evil.example"}
    assert app_client.post(path, json=body, headers=foreign).status_code == 403
    assert app_client.get("/api/v1/people", headers=cookie).status_code == 200  # still in


@pytest.mark.parametrize(
    "claimed",
    [{"Origin": OURS}, {"Origin": PUBLIC_URL}, {"Referer": f"{OURS}/people"}],
    ids=["origin", "public-url", "referer"],
)
def test_cookie_write_from_our_origin_passes(
    app_client: TestClient, cookie: dict[str, str], claimed: dict[str, str]
) -> None:
    response = _create(app_client, cookie | claimed)
    assert response.status_code == 201
    assert _people(app_client, cookie) == 1


def test_reads_are_not_checked(app_client: TestClient, cookie: dict[str, str]) -> None:
    headers = cookie | {"Origin": "https://evil.example"}
    assert app_client.get("/api/v1/people", headers=headers).status_code == 200


def test_a_key_in_a_header_is_not_checked(app_client: TestClient) -> None:
    db = app_client.app.state.facerec.db  # type: ignore[attr-defined]
    key = credentials.api_key(db, name="payroll", role="manager", now=NOW)
    bearer = {"Authorization": f"Bearer {key}", "Origin": "https://evil.example"}
    assert _create(app_client, bearer).status_code == 201
    header = {"X-API-Key": key}  # no Origin at all
    assert app_client.post("/api/v1/people", json={"name": "Bo"}, headers=header).is_success
    assert _people(app_client, {"X-API-Key": key}) == 2
