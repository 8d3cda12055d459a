"""Attendance with the real models on LFW-dev photos (skipped without ../shared/data):
a known person checks in, a stranger lands in the queue, is enrolled from it, and then
checks in as that person."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from facerec.inference.types import FaceEngine
from tests.conftest import shared_path

pytestmark = [pytest.mark.models, pytest.mark.shared_data]
API = "/api/v1"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, real_engine: FaceEngine, clock: Clock) -> Iterator[TestClient]:
    real = settings.model_copy(update={"match_threshold": Settings().match_threshold})
    with TestClient(create_app(real, engine=real_engine, clock=clock)) as test_client:
        yield test_client


def _photo(name: str, number: int) -> tuple[str, bytes]:
    path: Path = shared_path("lfw-dev", name, f"{name}_{number:04d}.jpg")
    return path.name, path.read_bytes()


def test_check_in_and_enrol_a_stranger_from_the_queue(client: TestClient, clock: Clock) -> None:
    pid = client.post(f"{API}/people", json={"name": "Colin Powell"}).json()["id"]
    enrolled = client.post(f"{API}/people/{pid}/faces", files={"file": _photo("Colin_Powell", 1)})
    assert enrolled.status_code == 201, enrolled.text

    known = client.post(
        f"{API}/attendance/check-in", files={"file": _photo("Colin_Powell", 2)}
    ).json()
    assert [(e["name"], e["status"]) for e in known["events"]] == [("Colin Powell", "checked_in")]

    stranger = client.post(
        f"{API}/attendance/check-in",
        files={"file": _photo("Tony_Blair", 1)},
        data={"device": "gate"},
    ).json()
    assert stranger["events"] == []
    assert stranger["unknown_faces"] == 1
    (group,) = client.get(f"{API}/attendance/unknown").json()["items"]
    assert group["devices"] == ["gate"]
    made = client.post(
        f"{API}/attendance/unknown/{group['group_id']}/enrol", json={"name": "Tony Blair"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["faces_added"] == 1

    clock.now += timedelta(minutes=30)
    again = client.post(
        f"{API}/attendance/check-in", files={"file": _photo("Tony_Blair", 2)}
    ).json()
    assert [(e["name"], e["status"]) for e in again["events"]] == [("Tony Blair", "checked_in")]
    duplicate = client.post(
        f"{API}/attendance/check-in", files={"file": _photo("Colin_Powell", 3)}
    ).json()
    assert duplicate["events"][0]["status"] == "checked_in"  # 30 minutes later: a new event
