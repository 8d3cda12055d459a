"""Attendance schedules through the app with a fixed clock: update, delete, switching
the default, and a person's own schedule, judged by the day report they produce.

The database starts with one default schedule, "Office hours": 09:00-18:00, Monday to
Friday, 5 minutes' grace. The clock stands at Monday 2026-11-23, 12:00 in the attendance
zone (Asia/Shanghai, or the daylight-saving zone of `make dst`), and
the person under test came in at 09:30 that morning: late by 30 minutes under a 09:00
start, present under a 10:00 one (the day has not ended, so nobody has left early).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine

API = "/api/v1/attendance"
DAY = "2026-11-23"  # a Monday
TEN_TO_SEVEN: dict[str, Any] = {
    "name": "Late shift",
    "start_time": "10:00:00",
    "end_time": "19:00:00",
    "weekdays": [1, 2, 3, 4, 5],
    "grace_minutes": 0,
}


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo(settings.attendance.timezone))
    with TestClient(create_app(settings, engine=FakeEngine(), clock=lambda: noon)) as client:
        yield client


def _came_in_at_half_past_nine(client: TestClient, name: str = "Wen") -> int:
    pid = int(client.post("/api/v1/people", json={"name": name}).json()["id"])
    event = client.post(
        f"{API}/events",
        json={"person_id": pid, "time": f"{DAY}T09:30:00", "reason": "door camera offline"},
    )
    assert event.status_code == 201, event.text
    return pid


def _day(client: TestClient, pid: int) -> tuple[str, int]:
    """(status, minutes late) of the person's day."""
    response = client.get(f"{API}/report", params={"from": DAY, "to": DAY, "person_id": pid})
    assert response.status_code == 200, response.text
    (row,) = response.json()["rows"]
    return row["status"], row["minutes_late"]


def _schedules(client: TestClient) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in client.get(f"{API}/schedules").json()}


def _office(client: TestClient) -> dict[str, Any]:
    office = _schedules(client)["Office hours"]
    assert (office["start_time"], office["is_default"]) == ("09:00:00", True)
    return office


def test_updating_the_default_schedule_changes_the_day_status(api: TestClient) -> None:
    pid = _came_in_at_half_past_nine(api)
    office = _office(api)
    assert _day(api, pid) == ("late", 30)  # 09:30 against 09:00
    body = {**TEN_TO_SEVEN, "name": "Office hours", "is_default": True}
    updated = api.put(f"{API}/schedules/{office['id']}", json=body)
    assert updated.status_code == 200, updated.text
    assert updated.json() == {**body, "id": office["id"]}
    assert _schedules(api) == {"Office hours": {**body, "id": office["id"]}}
    assert _day(api, pid) == ("present", 0)  # 09:30 against 10:00
    # a 09:20 start with 15 minutes' grace: 09:30 is within it, not late
    graced = {**body, "start_time": "09:20:00", "grace_minutes": 15}
    assert api.put(f"{API}/schedules/{office['id']}", json=graced).status_code == 200
    assert _day(api, pid) == ("present", 0)
    graced["grace_minutes"] = 5  # 09:25 is the last on-time minute: 10 minutes late
    assert api.put(f"{API}/schedules/{office['id']}", json=graced).status_code == 200
    assert _day(api, pid) == ("late", 10)
    # a schedule whose working days leave Monday out: the day is off
    weekend = {**graced, "weekdays": [6, 7]}
    assert api.put(f"{API}/schedules/{office['id']}", json=weekend).status_code == 200
    assert _day(api, pid) == ("off", 0)


def test_updating_errors(api: TestClient) -> None:
    office = _office(api)
    missing = api.put(f"{API}/schedules/999", json=TEN_TO_SEVEN)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    backwards = {**TEN_TO_SEVEN, "start_time": "19:00:00", "end_time": "10:00:00"}
    refused = api.put(f"{API}/schedules/{office['id']}", json=backwards)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "validation_error"
    assert _office(api)["end_time"] == "18:00:00"  # unchanged
    assert api.get(f"{API}/schedules").json() == [office]


def test_a_new_default_schedule_replaces_the_old_one(api: TestClient) -> None:
    pid = _came_in_at_half_past_nine(api)
    office = _office(api)
    created = api.post(f"{API}/schedules", json={**TEN_TO_SEVEN, "is_default": True})
    assert created.status_code == 201, created.text
    late_shift = created.json()
    defaults = {name: s["is_default"] for name, s in _schedules(api).items()}
    assert defaults == {"Office hours": False, "Late shift": True}
    assert _day(api, pid) == ("present", 0)  # the 10:00 start applies now
    # and back: saving the office hours as the default takes the flag from the late shift
    body = {key: value for key, value in office.items() if key != "id"}
    again = api.put(f"{API}/schedules/{office['id']}", json={**body, "is_default": True})
    assert again.status_code == 200, again.text
    defaults = {name: s["is_default"] for name, s in _schedules(api).items()}
    assert defaults == {"Office hours": True, "Late shift": False}
    assert _day(api, pid) == ("late", 30)
    assert late_shift["id"] != office["id"]


def test_a_schedule_that_is_not_the_default_changes_nobody(api: TestClient) -> None:
    pid = _came_in_at_half_past_nine(api)
    created = api.post(f"{API}/schedules", json=TEN_TO_SEVEN)
    assert created.status_code == 201
    assert created.json()["is_default"] is False
    assert _office(api)["is_default"] is True
    assert _day(api, pid) == ("late", 30)


def test_deleting_a_schedule(api: TestClient) -> None:
    pid = _came_in_at_half_past_nine(api)
    late_shift = api.post(f"{API}/schedules", json=TEN_TO_SEVEN).json()
    own = api.put(f"{API}/people/{pid}/schedule", json={"schedule_id": late_shift["id"]})
    assert own.status_code == 204
    assert _day(api, pid) == ("present", 0)  # their own 10:00 start
    assert api.delete(f"{API}/schedules/{late_shift['id']}").status_code == 204
    assert set(_schedules(api)) == {"Office hours"}
    # the person follows the default again
    assert api.get(f"{API}/people/{pid}/schedule").json() == {"schedule_id": None}
    assert _day(api, pid) == ("late", 30)
    again = api.delete(f"{API}/schedules/{late_shift['id']}")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"
    # without any schedule no day is a working day
    office = _office(api)
    assert api.delete(f"{API}/schedules/{office['id']}").status_code == 204
    assert api.get(f"{API}/schedules").json() == []
    assert _day(api, pid) == ("off", 0)
    audit = [(a["action"], a["entity_id"]) for a in api.get(f"{API}/audit").json()["items"]]
    assert audit[:2] == [("delete_schedule", office["id"]), ("delete_schedule", late_shift["id"])]


def test_a_persons_own_schedule(api: TestClient) -> None:
    pid = _came_in_at_half_past_nine(api)
    other = _came_in_at_half_past_nine(api, "Other")
    path = f"{API}/people/{pid}/schedule"
    assert api.get(path).json() == {"schedule_id": None}  # the default
    late_shift = api.post(f"{API}/schedules", json=TEN_TO_SEVEN).json()
    assert api.put(path, json={"schedule_id": late_shift["id"]}).status_code == 204
    assert api.get(path).json() == {"schedule_id": late_shift["id"]}
    assert _day(api, pid) == ("present", 0)
    assert _day(api, other) == ("late", 30)  # the others keep the default
    assert api.get(f"{API}/people/{other}/schedule").json() == {"schedule_id": None}
    assert api.put(path, json={"schedule_id": None}).status_code == 204
    assert api.get(path).json() == {"schedule_id": None}
    assert _day(api, pid) == ("late", 30)
    for unknown in (
        api.get(f"{API}/people/999/schedule"),
        api.put(f"{API}/people/999/schedule", json={"schedule_id": None}),
    ):
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("day", ["0", "86400", "2026-10-1"])
def test_a_holiday_day_must_be_written_as_a_date(api: TestClient, day: str) -> None:
    """Pydantic alone reads "0" as a Unix time: PUT /holidays/0 stored 1970-01-01."""
    put = api.put(f"{API}/holidays/{day}", json={"name": "x", "kind": "off"})
    assert put.status_code == 422, put.text
    assert put.json()["error"]["code"] == "validation_error"
    assert api.delete(f"{API}/holidays/{day}").status_code == 422
    assert api.get(f"{API}/holidays", params={"from": day}).status_code == 422
    assert api.get(f"{API}/holidays").json() == []


def test_a_holiday_on_an_iso_day_is_stored(api: TestClient) -> None:
    assert api.put(f"{API}/holidays/2026-10-01", json={"name": "国庆节", "kind": "off"}).is_success
    listed = api.get(f"{API}/holidays", params={"from": "2026-10-01", "to": "2026-10-01"})
    assert [h["day"] for h in listed.json()] == ["2026-10-01"]
