"""Attendance days in a zone with daylight saving (America/New_York, 2026).

Clocks change on Sunday 8 March (02:00 EST -> 03:00 EDT: a 23-hour day) and Sunday
1 November (02:00 EDT -> 01:00 EST: a 25-hour day). Expected instants are written out
by hand from those offsets (EST = UTC-5, EDT = UTC-4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine, picture

API = "/api/v1/attendance"
RED, GREEN = (220, 40, 40), (40, 220, 40)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    zoned = settings.model_copy(
        update={
            "attendance": settings.attendance.model_copy(update={"timezone": "America/New_York"})
        }
    )
    with TestClient(create_app(zoned, engine=FakeEngine(), clock=clock)) as test_client:
        schedule = {
            "name": "Office",
            "start_time": "09:00",
            "end_time": "17:00",
            "weekdays": [1, 2, 3, 4, 5],
            "grace_minutes": 5,
            "is_default": True,
        }
        assert test_client.post(f"{API}/schedules", json=schedule).status_code == 201
        yield test_client


def _person(client: TestClient, name: str, colour: tuple[int, int, int]) -> int:
    pid = int(client.post("/api/v1/people", json={"name": name}).json()["id"])
    files = {"file": ("a.png", picture([(colour, 80)]))}
    assert client.post(f"/api/v1/people/{pid}/faces", files=files).status_code == 201
    return pid


def _check_in_at(
    client: TestClient, clock: Clock, utc: datetime, colour: tuple[int, int, int]
) -> None:
    clock.now = utc
    frame = {"file": ("f.png", picture([(colour, 70)]))}
    answer = client.post(f"{API}/check-in", files=frame).json()
    assert answer["events"][0]["status"] == "checked_in", answer


def _report(client: TestClient, start: str, end: str) -> dict[tuple[int, str], dict[str, Any]]:
    body = client.get(f"{API}/report", params={"from": start, "to": end}).json()
    return {(row["person_id"], row["day"]): row for row in body["rows"]}


def test_the_short_day_in_march(client: TestClient, clock: Clock) -> None:
    a = _person(client, "A", RED)
    b = _person(client, "B", GREEN)
    _check_in_at(client, clock, datetime(2026, 3, 8, 5, 30, tzinfo=UTC), RED)  # 00:30 EST
    _check_in_at(client, clock, datetime(2026, 3, 9, 3, 30, tzinfo=UTC), RED)  # 23:30 EDT, 8th
    _check_in_at(client, clock, datetime(2026, 3, 9, 13, 30, tzinfo=UTC), GREEN)  # 09:30 EDT
    _check_in_at(client, clock, datetime(2026, 3, 9, 21, 10, tzinfo=UTC), GREEN)  # 17:10 EDT
    clock.now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # Monday 22:00 EDT
    rows = _report(client, "2026-03-07", "2026-03-09")

    sunday = rows[(a, "2026-03-08")]
    assert (sunday["status"], sunday["events"]) == ("off", 2)
    assert sunday["first_in"] == "2026-03-08T00:30:00-05:00"
    assert sunday["last_out"] == "2026-03-08T23:30:00-04:00"
    assert rows[(a, "2026-03-09")]["status"] == "absent"  # the 23:30 check-in was Sunday's
    monday = rows[(b, "2026-03-09")]
    assert (monday["status"], monday["minutes_late"]) == ("late", 30)  # 09:30 EDT, not 08:30
    assert monday["first_in"] == "2026-03-09T09:30:00-04:00"
    assert monday["minutes_early"] == 0  # 17:10 is after the 17:00 end


def test_the_long_day_in_november(client: TestClient, clock: Clock) -> None:
    a = _person(client, "A", RED)
    _check_in_at(client, clock, datetime(2026, 11, 1, 4, 30, tzinfo=UTC), RED)  # 00:30 EDT
    _check_in_at(client, clock, datetime(2026, 11, 2, 4, 30, tzinfo=UTC), RED)  # 23:30 EST, 1st
    _check_in_at(client, clock, datetime(2026, 11, 2, 13, 50, tzinfo=UTC), RED)  # 08:50 EST
    clock.now = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 EST
    rows = _report(client, "2026-11-01", "2026-11-02")

    sunday = rows[(a, "2026-11-01")]
    assert sunday["events"] == 2
    assert sunday["first_in"] == "2026-11-01T00:30:00-04:00"
    assert sunday["last_out"] == "2026-11-01T23:30:00-05:00"
    monday = rows[(a, "2026-11-02")]
    assert (monday["status"], monday["events"], monday["minutes_late"]) == ("present", 1, 0)
    assert monday["first_in"] == "2026-11-02T08:50:00-05:00"
