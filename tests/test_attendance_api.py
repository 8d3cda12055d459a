"""Attendance through the app with a fixed clock (fake engine): check-in and dedupe,
time-zone days, the unknown-face queue, reports in three formats, corrections."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine, picture

API = "/api/v1/attendance"
RED, GREEN, BLUE = (220, 40, 40), (40, 220, 40), (40, 40, 220)


class Clock:
    """A settable clock (UTC) that is set by wall-clock times of the attendance zone.

    The zone is the settings' (Asia/Shanghai unless ``FACEREC_ATTENDANCE__TIMEZONE``
    says otherwise: ``make test`` also runs these tests in a daylight-saving zone)."""

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self.local("2026-11-23", "09:00")  # a Monday

    def __call__(self) -> datetime:
        return self.now

    def local(self, day: str, hhmm: str) -> None:
        """Set to a wall-clock time of the zone."""
        self.now = self.wall(day, hhmm).astimezone(UTC)

    def wall(self, day: str, hhmm: str) -> datetime:
        return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=self.zone)

    def offset(self, day: str, hhmm: str) -> str:
        """The zone's UTC offset then, as ISO 8601 writes it (``+08:00``)."""
        return self.wall(day, hhmm).isoformat()[-6:]


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)


@pytest.fixture
def app_client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=FakeEngine(), clock=clock)) as client:
        yield client


def _person(client: TestClient, name: str, colour: tuple[int, int, int]) -> int:
    pid = int(client.post("/api/v1/people", json={"name": name}).json()["id"])
    enrolled = client.post(
        f"/api/v1/people/{pid}/faces", files={"file": ("a.png", picture([(colour, 80)]))}
    )
    assert enrolled.status_code == 201
    return pid


def _check_in(
    client: TestClient, *colours: tuple[int, int, int], device: str = "door"
) -> dict[str, Any]:
    frame = picture([(c, 70) for c in colours])
    response = client.post(
        f"{API}/check-in", data={"device": device}, files={"file": ("f.png", frame)}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_check_in_then_duplicates_inside_the_window(app_client: TestClient, clock: Clock) -> None:
    pid = _person(app_client, "王伟", RED)
    first = _check_in(app_client, RED)
    (event,) = first["events"]
    assert event["status"] == "checked_in"
    assert event["person_id"] == pid
    assert event["name"] == "王伟"
    assert event["time"].startswith("2026-11-23T09:00:00")
    assert event["time"].endswith(clock.offset("2026-11-23", "09:00"))
    assert first["unknown_faces"] == 0

    clock.now += timedelta(minutes=4)
    again = _check_in(app_client, RED)["events"][0]
    assert again["status"] == "duplicate"
    assert again["id"] == event["id"]
    clock.now += timedelta(minutes=2)
    later = _check_in(app_client, RED)["events"][0]
    assert later["status"] == "checked_in"
    assert later["id"] != event["id"]
    assert app_client.get(f"{API}/events").json()["total"] == 2
    crop = app_client.get(f"{API}/events/{event['id']}/crop")
    assert crop.headers["content-type"] == "image/jpeg"


def test_parallel_check_ins_of_one_person_record_one_event(app_client: TestClient) -> None:
    _person(app_client, "Li", RED)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: _check_in(app_client, RED), range(12)))
    statuses = [r["events"][0]["status"] for r in results]
    assert statuses.count("checked_in") == 1
    assert statuses.count("duplicate") == 11
    assert len({r["events"][0]["id"] for r in results}) == 1
    assert app_client.get(f"{API}/events").json()["total"] == 1


def test_day_boundaries_follow_the_local_zone(app_client: TestClient, clock: Clock) -> None:
    pid = _person(app_client, "Zhang", RED)
    clock.local("2026-11-23", "23:59")
    _check_in(app_client, RED)
    clock.local("2026-11-24", "00:01")
    _check_in(app_client, RED)
    clock.local("2026-11-25", "12:00")
    rows = app_client.get(
        f"{API}/report", params={"from": "2026-11-23", "to": "2026-11-24"}
    ).json()["rows"]
    by_day = {r["day"]: r for r in rows if r["person_id"] == pid}
    assert by_day["2026-11-23"]["events"] == 1
    assert by_day["2026-11-23"]["first_in"].startswith("2026-11-23T23:59")
    assert by_day["2026-11-24"]["events"] == 1
    assert by_day["2026-11-24"]["first_in"].startswith("2026-11-24T00:01")
    one_day = app_client.get(
        f"{API}/events", params={"from": "2026-11-24", "to": "2026-11-24"}
    ).json()
    assert one_day["total"] == 1


def test_unknown_faces_are_grouped_and_can_be_enrolled(
    app_client: TestClient, clock: Clock
) -> None:
    known = _person(app_client, "Known", RED)
    result = _check_in(app_client, RED, GREEN)
    assert result["unknown_faces"] == 1
    assert [e["person_id"] for e in result["events"]] == [known]
    clock.now += timedelta(minutes=1)
    _check_in(app_client, GREEN)  # the same stranger, still at the door: nothing new
    clock.now += timedelta(minutes=10)
    _check_in(app_client, GREEN, device="lobby")  # back later: same group, one more sighting
    _check_in(app_client, BLUE)  # somebody else
    queue = app_client.get(f"{API}/unknown").json()
    assert queue["total"] == 2
    green, blue = sorted(queue["items"], key=lambda g: -g["count"])
    assert green["count"] == 2
    assert green["devices"] == ["door", "lobby"]
    crop = app_client.get(f"{API}/unknown/faces/{green['face_ids'][0]}/crop")
    assert crop.status_code == 200

    enrolled = app_client.post(
        f"{API}/unknown/{green['group_id']}/enrol", json={"name": "访客 Visitor"}
    )
    assert enrolled.status_code == 201, enrolled.text
    new_person = enrolled.json()["person_id"]
    assert enrolled.json()["faces_added"] >= 1
    clock.now += timedelta(minutes=10)
    checked = _check_in(app_client, GREEN)
    assert checked["events"][0]["person_id"] == new_person
    assert checked["events"][0]["name"] == "访客 Visitor"
    assert checked["unknown_faces"] == 0

    assigned = app_client.post(  # blue is clearly not Known: only forced (test_face_mismatch)
        f"{API}/unknown/{blue['group_id']}/assign",
        json={"person_id": known},
        params={"force": "true"},
    )
    assert assigned.json()["status"] == "assigned"
    assert app_client.get(f"/api/v1/people/{known}").json()["face_count"] == 2
    assert app_client.get(f"{API}/unknown").json()["total"] == 0
    missing = app_client.post(f"{API}/unknown/{blue['group_id']}/dismiss")
    assert missing.status_code == 404


def test_dismissed_unknowns_leave_the_queue_and_their_crops(
    app_client: TestClient, settings: Settings
) -> None:
    _check_in(app_client, BLUE)
    group = app_client.get(f"{API}/unknown").json()["items"][0]
    assert any(settings.crops_dir.rglob("*.jpg"))
    dismissed = app_client.post(
        f"{API}/unknown/{group['group_id']}/dismiss", headers={"X-Actor": "lin"}
    )
    assert dismissed.json()["status"] == "dismissed"
    assert app_client.get(f"{API}/unknown").json()["total"] == 0
    assert not any(settings.crops_dir.rglob("*.jpg"))
    audit = app_client.get(f"{API}/audit").json()["items"]
    assert audit[0]["action"] == "dismiss_unknown"
    assert audit[0]["actor"] == "local:local"  # the caller (auth off here), never X-Actor


def _week(client: TestClient, clock: Clock) -> tuple[int, int]:
    """Mon: A on time all day, B late; Tue: A leaves early, B absent."""
    a = _person(client, "张三", RED)
    b = _person(client, "Bob", GREEN)
    for day, hhmm, colours in [
        ("2026-11-23", "08:55", (RED,)),
        ("2026-11-23", "09:20", (GREEN,)),
        ("2026-11-23", "18:05", (RED, GREEN)),
        ("2026-11-24", "08:58", (RED,)),
        ("2026-11-24", "16:00", (RED,)),
    ]:
        clock.local(day, hhmm)
        _check_in(client, *colours)
    clock.local("2026-11-25", "08:00")
    return a, b


def test_report_json_statuses_and_totals(app_client: TestClient, clock: Clock) -> None:
    a, b = _week(app_client, clock)
    report = app_client.get(
        f"{API}/report", params={"from": "2026-11-23", "to": "2026-11-29"}
    ).json()
    assert report["timezone"] == clock.zone.key
    status = {(r["person_id"], r["day"]): r for r in report["rows"]}
    assert status[(a, "2026-11-23")]["status"] == "present"
    assert status[(b, "2026-11-23")]["status"] == "late"
    assert status[(b, "2026-11-23")]["minutes_late"] == 20
    assert status[(a, "2026-11-24")]["status"] == "left_early"
    assert status[(a, "2026-11-24")]["minutes_early"] == 120
    assert status[(b, "2026-11-24")]["status"] == "absent"
    assert status[(a, "2026-11-25")]["status"] == "absent"  # today, not in yet
    assert (a, "2026-11-26") not in status  # the future is not reported
    totals = {t["person_id"]: t for t in report["totals"]}
    assert totals[b]["late"] == 1
    assert totals[b]["absent"] == 2
    assert totals[b]["minutes_late"] == 20
    assert totals[a]["left_early"] == 1
    one = app_client.get(
        f"{API}/report", params={"from": "2026-11-23", "to": "2026-11-24", "person_id": a}
    ).json()
    assert {r["person_id"] for r in one["rows"]} == {a}
    today = app_client.get(f"{API}/today").json()
    assert today["day"] == "2026-11-25"
    assert today["absent"] == 2


def test_report_csv_has_bom_and_chinese_names(app_client: TestClient, clock: Clock) -> None:
    _week(app_client, clock)
    response = app_client.get(
        f"{API}/report", params={"from": "2026-11-23", "to": "2026-11-24", "format": "csv"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 4
    zhang = [r for r in rows if r["name"] == "张三"]
    assert [r["status"] for r in zhang] == ["present", "left_early"]
    assert zhang[0]["first_in"] == "08:55:00"


def test_report_xlsx_parses_back(app_client: TestClient, clock: Clock) -> None:
    _week(app_client, clock)
    response = app_client.get(
        f"{API}/report", params={"from": "2026-11-23", "to": "2026-11-24", "format": "xlsx"}
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Daily", "Totals"]
    daily = book["Daily"]
    header = [c.value for c in daily[1]]
    assert header[:5] == ["person_id", "name", "external_id", "date", "status"]
    assert all(c.font.bold for c in daily[1])
    assert daily.freeze_panes == "A2"
    names = {row[1] for row in daily.iter_rows(min_row=2, values_only=True)}
    assert names == {"张三", "Bob"}
    assert daily.column_dimensions["B"].width >= 6
    totals = {row[1]: row for row in book["Totals"].iter_rows(min_row=2, values_only=True)}
    assert totals["Bob"][5] == 1  # late days


def test_corrections_are_audited(app_client: TestClient, clock: Clock) -> None:
    pid = _person(app_client, "Wu", RED)
    added = app_client.post(
        f"{API}/events",
        json={"person_id": pid, "time": "2026-11-23T08:59:00", "reason": "camera offline"},
        headers={"X-Actor": "manager"},
    )
    assert added.status_code == 201
    event = added.json()
    assert event["source"] == "manual"
    local = "2026-11-23T08:59:00" + clock.offset("2026-11-23", "08:59")
    assert event["time"] == local  # naive times are local
    no_reason = app_client.delete(f"{API}/events/{event['id']}")
    assert no_reason.status_code == 422
    deleted = app_client.delete(f"{API}/events/{event['id']}", params={"reason": "wrong person"})
    assert deleted.status_code == 204
    assert (
        app_client.delete(f"{API}/events/{event['id']}", params={"reason": "x"}).status_code == 404
    )
    audit = app_client.get(f"{API}/audit").json()["items"]
    assert [(a["action"], a["reason"], a["actor"]) for a in audit[:2]] == [
        ("delete_event", "wrong person", "local:local"),
        ("add_event", "camera offline", "local:local"),  # X-Actor: manager, ignored
    ]
    assert audit[0]["details"]["person_id"] == pid
    bad = app_client.post(
        f"{API}/events", json={"person_id": 999, "time": "2026-11-23T08:59:00", "reason": "x"}
    )
    assert bad.status_code == 404


def test_schedules_overrides_and_holidays(app_client: TestClient, clock: Clock) -> None:
    pid = _person(app_client, "Night", RED)
    (default,) = app_client.get(f"{API}/schedules").json()
    assert default["is_default"] is True
    late_shift = app_client.post(
        f"{API}/schedules",
        json={
            "name": "late",
            "start_time": "10:00",
            "end_time": "19:00",
            "weekdays": [1, 2, 3, 4, 5, 6],
        },
    ).json()
    assert (
        app_client.put(
            f"{API}/people/{pid}/schedule", json={"schedule_id": late_shift["id"]}
        ).status_code
        == 204
    )
    clock.local("2026-11-23", "09:50")
    _check_in(app_client, RED)
    clock.local("2026-11-23", "19:10")
    _check_in(app_client, RED)
    assert (
        app_client.put(
            f"{API}/holidays/2026-11-24", json={"name": "休息日", "kind": "off"}
        ).status_code
        == 200
    )
    clock.local("2026-11-25", "08:00")
    rows = app_client.get(
        f"{API}/report", params={"from": "2026-11-23", "to": "2026-11-24"}
    ).json()["rows"]
    assert [r["status"] for r in rows] == ["present", "off"]
    bad = app_client.post(
        f"{API}/schedules", json={"name": "x", "start_time": "18:00", "end_time": "09:00"}
    )
    assert bad.status_code == 422
    assert (
        app_client.put(f"{API}/people/{pid}/schedule", json={"schedule_id": 999}).status_code == 404
    )
    assert [h["day"] for h in app_client.get(f"{API}/holidays").json()] == ["2026-11-24"]
    assert app_client.delete(f"{API}/holidays/2026-11-24").status_code == 204


def test_check_in_errors(app_client: TestClient) -> None:
    assert app_client.post(f"{API}/check-in", json={}).status_code == 422
    bad = app_client.post(f"{API}/check-in", files={"file": ("x.jpg", b"nope")})
    assert bad.json()["error"]["code"] == "invalid_image"
    empty = app_client.post(f"{API}/check-in", files={"file": ("e.png", picture([]))}).json()
    assert empty == {"events": [], "unknown_faces": 0}
    reversed_range = app_client.get(
        f"{API}/report", params={"from": "2026-11-24", "to": "2026-11-23"}
    )
    assert reversed_range.status_code == 422


def test_cli_report_writes_xlsx_and_csv(
    app_client: TestClient,
    clock: Clock,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from facerec.cli import CliContext
    from facerec.cli import app as cli
    from facerec.config import get_settings

    a, b = _week(app_client, clock)  # the clock now stands on Wednesday 2026-11-25, 08:00
    monkeypatch.setenv("FACEREC_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        target = tmp_path / "week.xlsx"
        args = ["attendance", "report", "--from", "2026-11-23", "--to", "2026-11-25"]
        context = CliContext(clock=clock)
        written = runner.invoke(cli, [*args, "--format", "xlsx", "-o", str(target)], obj=context)
        assert written.exit_code == 0, written.output
        sheet = load_workbook(target)["Daily"]
        assert {row[1] for row in sheet.iter_rows(min_row=2, values_only=True)} == {"张三", "Bob"}
        as_csv = runner.invoke(cli, args, obj=context)
        assert as_csv.exit_code == 0
        assert "张三" in as_csv.stdout
        binary = runner.invoke(cli, [*args, "--format", "xlsx"], obj=context)
        assert binary.exit_code == 2
        # "Now" decides which days are reported: none after today (Wednesday).
        days = ["--from", "2026-11-23", "--to", "2026-11-27", "--format", "json"]
        wednesday = runner.invoke(cli, ["attendance", "report", *days], obj=context)
        assert {r["day"] for r in _rows(wednesday.stdout)} == {
            "2026-11-23",
            "2026-11-24",
            "2026-11-25",
        }
        clock.local("2026-11-26", "20:00")  # Thursday evening
        thursday = runner.invoke(cli, ["attendance", "report", *days], obj=context)
        rows = {(r["person_id"], r["day"]): r["status"] for r in _rows(thursday.stdout)}
        assert {day for _, day in rows} == {"2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26"}
        assert rows[(a, "2026-11-26")] == rows[(b, "2026-11-26")] == "absent"
    finally:
        get_settings.cache_clear()


def _rows(report_json: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(report_json)["rows"]
    return rows
