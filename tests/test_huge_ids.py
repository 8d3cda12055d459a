"""Ids a database cannot hold are a 422 (or, in range but absent, a 404), never a 500.

SQLite's integers end at 2**63 - 1, PostgreSQL's INTEGER ids at 2**31 - 1; an id past that
used to reach the database and fail there (OverflowError or NumericValueOutOfRange -> 500).
The whole module runs on both databases (make test-postgres)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.fakes import picture

HUGE = 2**31  # one past PostgreSQL's INTEGER
HUGER = 2**64  # past SQLite's too
ABSENT = 2**31 - 1  # within range, and no such row

FILE = {"file": ("a.png", picture([((200, 40, 40), 80)]))}


def _paths(id_: int) -> list[tuple[str, str, dict[str, object]]]:
    """(method, path, keyword arguments) of every route that takes an id."""
    return [
        ("GET", f"/api/v1/people/{id_}", {}),
        ("PATCH", f"/api/v1/people/{id_}", {"json": {"note": "x"}}),
        ("DELETE", f"/api/v1/people/{id_}", {}),
        ("GET", f"/api/v1/people/{id_}/faces", {}),
        ("GET", f"/api/v1/faces/{id_}/thumbnail", {}),
        ("DELETE", f"/api/v1/faces/{id_}", {}),
        ("GET", f"/api/v1/attendance/events/{id_}/crop", {}),
        ("DELETE", f"/api/v1/attendance/events/{id_}", {"params": {"reason": "x"}}),
        ("GET", f"/api/v1/attendance/unknown/faces/{id_}/crop", {}),
        ("POST", f"/api/v1/attendance/unknown/{id_}/dismiss", {}),
        ("POST", f"/api/v1/attendance/unknown/{id_}/assign", {"json": {"person_id": 1}}),
        ("POST", f"/api/v1/attendance/unknown/{id_}/enrol", {"json": {"name": "x"}}),
        ("PUT", f"/api/v1/attendance/schedules/{id_}", {"json": _schedule()}),
        ("DELETE", f"/api/v1/attendance/schedules/{id_}", {}),
        ("GET", f"/api/v1/attendance/people/{id_}/schedule", {}),
        ("PUT", f"/api/v1/attendance/people/{id_}/schedule", {"json": {"schedule_id": None}}),
    ]


def _schedule() -> dict[str, object]:
    return {"name": "S", "start_time": "09:00", "end_time": "17:00"}


@pytest.mark.parametrize(("method", "path", "kwargs"), _paths(HUGE) + _paths(HUGER))
def test_a_huge_path_id_is_422(
    client: TestClient, method: str, path: str, kwargs: dict[str, object]
) -> None:
    answer = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 422, (path, answer.text)
    assert answer.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(("method", "path", "kwargs"), _paths(ABSENT))
def test_an_absent_id_in_range_is_404(
    client: TestClient, method: str, path: str, kwargs: dict[str, object]
) -> None:
    answer = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 404, (path, answer.text)
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/people", {"params": {"offset": HUGE}}),
        ("GET", "/api/v1/attendance/events", {"params": {"person_id": HUGE}}),
        ("GET", "/api/v1/attendance/events", {"params": {"offset": HUGE}}),
        ("GET", "/api/v1/attendance/unknown", {"params": {"offset": HUGE}}),
        ("GET", "/api/v1/attendance/report", {"params": {"person_id": HUGE}}),
        (
            "POST",
            "/api/v1/attendance/events",
            {"json": {"person_id": HUGE, "time": "2026-11-23T09:00:00", "reason": "x"}},
        ),
        ("POST", "/api/v1/verify", {"params": {"person_id": HUGE}, "files": FILE}),
        ("POST", "/api/v1/verify", {"data": {"person_id": str(HUGE)}, "files": FILE}),
        ("GET", "/api/v1/people", {"params": {"offset": HUGER}}),
        ("POST", "/api/v1/verify", {"params": {"person_id": HUGER}, "files": FILE}),
    ],
)
def test_huge_ids_in_queries_and_bodies_are_422(
    client: TestClient, method: str, path: str, kwargs: dict[str, object]
) -> None:
    answer = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 422, (path, kwargs, answer.text)
    assert answer.json()["error"]["code"] == "validation_error"


def test_a_huge_offset_that_fits_is_an_empty_page(client: TestClient) -> None:
    page = client.get("/api/v1/people", params={"offset": ABSENT})
    assert page.status_code == 200
    assert page.json()["items"] == []
