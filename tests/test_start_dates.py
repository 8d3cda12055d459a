"""Reports know when someone started and ended (#11 item 8): days outside a person's
dates are ``inactive``, not absent; the default start is the local day of creation; the
attendance zone defaults to the machine's. Fixed clock in the attendance zone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine, picture
from tests.test_attendance_api import Clock

API = "/api/v1"
RED = (220, 40, 40)


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)


@pytest.fixture
def app_client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=FakeEngine(), clock=clock)) as client:
        yield client


def test_days_outside_the_dates_are_inactive_not_absent(
    app_client: TestClient, clock: Clock
) -> None:
    # Working days Monday 23 to Friday 27 November 2026; employed Tuesday to Thursday.
    body = {"name": "Mei", "start_date": "2026-11-24", "end_date": "2026-11-26"}
    pid = app_client.post(f"{API}/people", json=body).json()["id"]
    face = picture([(RED, 80)])
    assert app_client.post(f"{API}/people/{pid}/faces", files={"file": ("a.png", face)}).is_success
    clock.local("2026-11-25", "08:55")
    app_client.post(f"{API}/attendance/check-in", files={"file": ("f.png", picture([(RED, 70)]))})
    clock.local("2026-11-25", "18:05")
    app_client.post(f"{API}/attendance/check-in", files={"file": ("f.png", picture([(RED, 66)]))})
    clock.local("2026-11-28", "12:00")  # Saturday: the whole week is over
    report = app_client.get(f"{API}/attendance/report?from=2026-11-23&to=2026-11-27").json()
    statuses = [(r["day"], r["status"]) for r in report["rows"]]
    assert statuses == [
        ("2026-11-23", "inactive"),  # before the start: not absent
        ("2026-11-24", "absent"),  # the start day without a check-in is absent
        ("2026-11-25", "present"),
        ("2026-11-26", "absent"),  # the end day still counts
        ("2026-11-27", "inactive"),  # after the end
    ]
    (totals,) = report["totals"]
    assert (totals["working_days"], totals["present"], totals["absent"]) == (3, 1, 2)
    csv = app_client.get(f"{API}/attendance/report?from=2026-11-23&to=2026-11-27&format=csv")
    assert csv.text.count(",inactive,") == 2
    before = app_client.get(f"{API}/attendance/report?from=2026-11-16&to=2026-11-20").json()
    assert before["rows"] == [] and before["totals"] == []  # not employed that week at all


def test_the_default_start_is_the_local_day_of_creation(
    app_client: TestClient, clock: Clock
) -> None:
    # A moment whose local day differs from its UTC day, whatever the zone's offset.
    east = clock.wall("2026-11-23", "12:00").utcoffset() > timedelta(0)  # type: ignore[operator]
    clock.local("2026-11-23", "01:00" if east else "23:00")
    assert clock.now.astimezone(UTC).date().isoformat() != "2026-11-23"
    person = app_client.post(f"{API}/people", json={"name": "Li"}).json()
    assert (person["start_date"], person["end_date"]) == ("2026-11-23", None)


def test_dates_are_checked_and_can_be_changed(app_client: TestClient) -> None:
    people = f"{API}/people"
    wrong = app_client.post(
        people, json={"name": "A", "start_date": "2026-11-24", "end_date": "2026-11-23"}
    )
    assert wrong.status_code == 422
    pid = app_client.post(people, json={"name": "A", "start_date": "2026-11-20"}).json()["id"]
    assert app_client.patch(f"{people}/{pid}", json={"end_date": "2026-11-19"}).status_code == 422
    assert app_client.get(f"{people}/{pid}").json()["end_date"] is None
    changed = app_client.patch(f"{people}/{pid}", json={"end_date": "2026-12-31"}).json()
    assert (changed["start_date"], changed["end_date"]) == ("2026-11-20", "2026-12-31")
    cleared = app_client.patch(f"{people}/{pid}", json={"end_date": None, "start_date": None})
    assert (cleared.json()["start_date"], cleared.json()["end_date"]) == ("2026-11-20", None)


def _zone_in_a_fresh_process(**env: str) -> str:
    """``attendance.timezone`` as a new process with ``env`` sees it (the machine's zone is
    read once per process)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("TZ", "FACEREC_ATTENDANCE__TIMEZONE")}
    code = "from facerec.config import Settings; print(Settings().attendance.timezone)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_zone_defaults_to_the_machines() -> None:
    assert _zone_in_a_fresh_process(TZ="Europe/Paris") == "Europe/Paris"
    assert _zone_in_a_fresh_process(TZ=":Asia/Tokyo") == "Asia/Tokyo"
    assert _zone_in_a_fresh_process(TZ="America/Chicago") == "America/Chicago"


def test_the_setting_overrides_the_machines_zone() -> None:
    zone = _zone_in_a_fresh_process(TZ="Europe/Paris", FACEREC_ATTENDANCE__TIMEZONE="Asia/Shanghai")
    assert zone == "Asia/Shanghai"
