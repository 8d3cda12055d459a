"""The audit log of every change (issue #10, item 9): each write through the API leaves
its entries naming the caller (user, API key; the server and the CLI as ``system``), the
client address and the request id; a client-written ``X-Actor`` never appears; ``GET
/audit`` filters, pages and exports CSV; ``GET /attendance/audit`` shows attendance only.
Access control is on here, with credentials written straight into the database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from facerec.app import create_app
from facerec.audit import record
from facerec.audit.models import AuditEntry
from facerec.auth.models import ApiKey, Device, LoginSession, User
from facerec.auth.principal import SYSTEM, Principal
from facerec.auth.tokens import digest, new_secret
from facerec.config import AuthSettings, Settings
from facerec.state import AppState
from tests.fakes import FakeEngine, picture

API = "/api/v1"
ADDRESS = ("203.0.113.7", 4321)
RED, GREEN, BLUE = (220, 40, 40), (40, 220, 40), (40, 40, 220)
INTRUDER = "mallory-wrote-this"
"""Sent as X-Actor on every request: it must never reach the log."""


@dataclass
class World:
    client: TestClient
    state: AppState
    key: str
    """An admin API key named ``payroll``."""
    manager_key: str
    cookie: str
    """The session cookie of the admin user ``alice``."""
    device: str
    """The token of the kiosk ``front-door``."""
    sent: int = 0

    def as_key(self, rid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Request-ID": rid, "X-Actor": INTRUDER}

    def as_user(self, rid: str) -> dict[str, str]:
        return {
            "Cookie": f"facerec_session={self.cookie}",
            "Origin": "http://testserver",
            "X-Request-ID": rid,
            "X-Actor": INTRUDER,
        }

    def call(self, who: str, method: str, url: str, **kwargs: Any) -> tuple[Any, str]:
        """The response and the request id sent with it."""
        self.sent += 1
        rid = f"req-{self.sent}"
        headers = self.as_key(rid) if who == "key" else self.as_user(rid)
        answer = self.client.request(method, f"{API}{url}", headers=headers, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer, rid


@pytest.fixture
def noon(settings: Settings) -> datetime:
    """Noon of a Monday in the attendance zone (``make dst`` runs another zone)."""
    zone = ZoneInfo(settings.attendance.timezone)
    return datetime(2026, 11, 23, 12, 0, tzinfo=zone).astimezone(UTC)


@pytest.fixture
def world(settings: Settings, noon: datetime) -> Iterator[World]:
    secured = settings.model_copy(update={"auth": AuthSettings(enabled=True)})
    app = create_app(secured, engine=FakeEngine(), clock=lambda: noon)
    with TestClient(app, client=ADDRESS) as client:
        state: AppState = app.state.facerec
        key, manager_key, cookie, device = (
            new_secret("frk"),
            new_secret("frk"),
            new_secret("frs"),
            new_secret("frd"),
        )
        with Session(state.db) as session:
            user = User(username="alice", password_hash="unused", role="admin")
            session.add(user)
            session.flush()
            session.add_all(
                [
                    ApiKey(name="payroll", prefix=key[:8], secret_hash=digest(key), role="admin"),
                    ApiKey(
                        name="hr",
                        prefix=manager_key[:8],
                        secret_hash=digest(manager_key),
                        role="manager",
                    ),
                    LoginSession(
                        token_hash=digest(cookie),
                        user_id=user.id or 0,
                        last_seen_at=noon,
                        expires_at=noon + timedelta(hours=1),
                    ),
                    Device(name="front-door", token_hash=digest(device)),
                ]
            )
            session.commit()
        yield World(client, state, key, manager_key, cookie, device)


def _entries(state: AppState, after: int = 0) -> list[AuditEntry]:
    with Session(state.db) as session:
        query = select(AuditEntry).where(col(AuditEntry.id) > after)
        return list(session.exec(query.order_by(col(AuditEntry.id))).all())


def _last_id(state: AppState) -> int:
    rows = _entries(state)
    return rows[-1].id or 0 if rows else 0


def _photo(colour: tuple[int, int, int], side: int = 80) -> dict[str, Any]:
    return {"files": {"file": ("p.png", picture([(colour, side)]))}}


def _device_check_in(world: World, colour: tuple[int, int, int]) -> int:
    """A kiosk sees an unknown face; the pending group's id. Check-ins are not audited."""
    before = _last_id(world.state)
    answer = world.client.post(
        f"{API}/attendance/check-in",
        headers={"Authorization": f"Bearer {world.device}"},
        **_photo(colour, 70),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["unknown_faces"] == 1
    assert _entries(world.state, before) == []
    groups = world.client.get(f"{API}/attendance/unknown", headers=world.as_key("q")).json()
    return int(groups["items"][0]["group_id"])


def test_every_write_leaves_its_entries_naming_the_caller_address_and_request(
    world: World,
) -> None:
    labels = {"key": "key:payroll", "user": "user:alice"}
    kinds = {"key": "key", "user": "user"}

    def step(who: str, method: str, url: str, expected: list[tuple[str, str]], **kw: Any) -> Any:
        before = _last_id(world.state)
        answer, rid = world.call(who, method, url, **kw)
        new = _entries(world.state, before)
        assert [(e.action, e.entity) for e in new] == expected, url
        for entry in new:
            assert (entry.actor, entry.actor_kind) == (labels[who], kinds[who])
            assert (entry.address, entry.request_id) == (ADDRESS[0], rid)
        return answer

    ada = step("key", "POST", "/people", [("create", "person")], json={"name": "Ada"}).json()["id"]
    step("user", "PATCH", f"/people/{ada}", [("update", "person")], json={"note": "desk 4"})
    face = step("key", "POST", f"/people/{ada}/faces", [("enrol", "face")], **_photo(RED))
    step(
        "user",
        "POST",
        f"/people/{ada}/faces",
        [("force_enrol", "face")],
        params={"force": "true"},
        **_photo(BLUE),
    )
    step("key", "DELETE", f"/faces/{face.json()['faces'][0]['id']}", [("delete", "face")])

    group = _device_check_in(world, GREEN)
    unknown = "/attendance/unknown"
    step("user", "POST", f"{unknown}/{group}/dismiss", [("dismiss_unknown", "unknown_group")])
    group = _device_check_in(world, GREEN)
    enrolled = [("create", "person"), ("enrolled_unknown", "unknown_group")]
    step("key", "POST", f"{unknown}/{group}/enrol", enrolled, json={"name": "Bo"})
    group = _device_check_in(world, (200, 200, 40))
    step(
        "user",
        "POST",
        f"{unknown}/{group}/assign",
        [("force_assign", "unknown_group"), ("assigned_unknown", "unknown_group")],
        json={"person_id": ada},
        params={"force": "true"},
    )

    event = step(
        "key",
        "POST",
        "/attendance/events",
        [("add_event", "event")],
        json={"person_id": ada, "time": "2026-11-23T08:59:00", "reason": "camera off"},
    ).json()["id"]
    step(
        "user",
        "DELETE",
        f"/attendance/events/{event}",
        [("delete_event", "event")],
        params={"reason": "wrong"},
    )
    shift = {"name": "Day", "start_time": "09:00:00", "end_time": "17:00:00"}
    schedule = step(
        "key", "POST", "/attendance/schedules", [("save_schedule", "schedule")], json=shift
    ).json()["id"]
    later = {**shift, "start_time": "10:00:00"}
    saved = [("save_schedule", "schedule")]
    step("user", "PUT", f"/attendance/schedules/{schedule}", saved, json=later)
    own = [("set_person_schedule", "person")]
    step("key", "PUT", f"/attendance/people/{ada}/schedule", own, json={"schedule_id": schedule})
    gone = [("delete_schedule", "schedule")]
    step("user", "DELETE", f"/attendance/schedules/{schedule}", gone)
    day = "/attendance/holidays/2026-12-25"
    step("key", "PUT", day, [("put_holiday", "holiday")], json={"name": "Xmas"})
    step("user", "DELETE", day, [("delete_holiday", "holiday")])
    threshold = "/calibration/threshold"
    step("key", "PUT", threshold, [("set_threshold", "threshold")], json={"threshold": 0.95})
    step("user", "DELETE", threshold, [("reset_threshold", "threshold")])
    step("user", "GET", f"/people/{ada}/export", [("export", "person")])
    step("key", "DELETE", f"/people/{ada}", [("delete", "person")])

    whole = world.client.get(f"{API}/audit", params={"format": "csv"}, headers=world.as_key("c"))
    assert whole.status_code == 200
    assert INTRUDER not in whole.text
    entries = _entries(world.state)
    assert len(entries) == 22
    assert {e.time for e in entries} == {world.state.clock()}  # the app's clock


def test_the_entries_record_what_changed(world: World) -> None:
    ada, _ = world.call("key", "POST", "/people", json={"name": "Ada", "note": "private"})
    pid = ada.json()["id"]
    world.call("key", "PATCH", f"/people/{pid}", json={"end_date": "2026-12-31"})
    shift = {"name": "Day", "start_time": "09:00:00", "end_time": "17:00:00"}
    made, _ = world.call("key", "POST", "/attendance/schedules", json=shift)
    again = {**shift, "grace_minutes": 5}
    world.call("key", "PUT", f"/attendance/schedules/{made.json()['id']}", json=again)
    entries = _entries(world.state)
    update, edit = entries[1], entries[-1]
    assert update.details == {
        "fields": ["end_date"],
        "before": {"end_date": None},
        "after": {"end_date": "2026-12-31"},
    }
    assert "private" not in json.dumps([e.details for e in _entries(world.state)])
    assert (edit.details["grace_minutes"], edit.details["before"]["grace_minutes"]) == (5, 0)


def test_record_names_any_principal_and_outside_a_request_no_address(world: World) -> None:
    device = Principal(kind="device", id=7, name="front-door")
    with Session(world.state.db) as session:
        for who in (device, SYSTEM):
            record(session, actor=who, action="test", entity="thing", entity_id=1)
        session.commit()
    rows = [
        (e.actor, e.actor_kind, e.actor_id, e.address, e.request_id) for e in _entries(world.state)
    ]
    assert rows == [
        ("device:front-door", "device", 7, None, None),
        ("system:system", "system", None, None, None),
    ]


# --- reading the log ------------------------------------------------------------------


def _seed(world: World, noon: datetime) -> None:
    """Five entries an hour apart, oldest first, written straight into the log."""
    rows = [
        (Principal(kind="user", id=1, name="alice"), "create", "person", 1, "=1+1"),
        (Principal(kind="user", id=2, name="alina"), "update", "person", 1, ""),
        (Principal(kind="key", id=3, name="payroll"), "create", "person", 2, ""),
        (Principal(kind="device", id=4, name="door"), "add_event", "event", 9, "@cmd"),
        (SYSTEM, "retention", "retention", None, ""),
    ]
    with Session(world.state.db) as session:
        for hour, (who, action, entity, entity_id, reason) in enumerate(rows):
            record(
                session,
                actor=who,
                action=action,
                entity=entity,
                entity_id=entity_id,
                reason=reason,
                details={"n": hour},
                time=noon - timedelta(hours=4 - hour),
            )
        session.commit()


def _ns(world: World, **params: Any) -> list[int]:
    answer = world.client.get(f"{API}/audit", params=params, headers=world.as_key("r"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] >= len(body["items"])
    return [item["details"]["n"] for item in body["items"]]


def test_filters_pick_entries_newest_first(world: World, noon: datetime) -> None:
    _seed(world, noon)
    zone = ZoneInfo(world.state.settings.attendance.timezone)
    local = noon.astimezone(zone)
    assert _ns(world) == [4, 3, 2, 1, 0]
    assert _ns(world, actor="user:al") == [1, 0]
    assert _ns(world, actor="USER:ALICE") == [0]  # a whole label, any case
    assert _ns(world, actor="%") == []  # no wildcard
    assert _ns(world, action="create") == [2, 0]
    assert _ns(world, entity="person", entity_id=1) == [1, 0]
    # 08:00 .. 12:00 local are n = 0 .. 4; a date-time "to" is exclusive
    two_hours_ago = (local - timedelta(hours=2)).replace(tzinfo=None).isoformat()
    assert _ns(world, **{"from": two_hours_ago}) == [4, 3, 2]
    assert _ns(world, to=(noon - timedelta(hours=1)).isoformat()) == [2, 1, 0]
    today = local.date()
    assert _ns(world, **{"from": today.isoformat(), "to": today.isoformat()}) == [4, 3, 2, 1, 0]
    assert _ns(world, to=(today - timedelta(days=1)).isoformat()) == []


def test_pages_and_totals(world: World, noon: datetime) -> None:
    _seed(world, noon)
    answer = world.client.get(
        f"{API}/audit", params={"offset": 1, "limit": 2}, headers=world.as_key("p")
    ).json()
    assert (answer["total"], [i["details"]["n"] for i in answer["items"]]) == (5, [3, 2])
    for bad in ({"limit": 501}, {"limit": 0}, {"offset": -1}, {"from": "yesterday"}):
        refused = world.client.get(f"{API}/audit", params=bad, headers=world.as_key("p"))
        assert refused.status_code == 422, bad


def test_csv_parses_back_and_runs_no_formula(world: World, noon: datetime) -> None:
    _seed(world, noon)
    answer = world.client.get(
        f"{API}/audit", params={"format": "csv", "entity": "person"}, headers=world.as_key("x")
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [r["actor"] for r in rows] == ["key:payroll", "user:alina", "user:alice"]
    assert rows[2]["reason"] == "'=1+1"
    assert json.loads(rows[0]["details"]) == {"n": 2}
    assert rows[0]["time"] == (noon - timedelta(hours=2)).isoformat()
    assert (rows[2]["actor_kind"], rows[2]["actor_id"], rows[2]["entity_id"]) == ("user", "1", "1")


def test_only_admins_read_the_log_and_the_attendance_view_is_attendance_only(
    world: World, noon: datetime
) -> None:
    _seed(world, noon)
    manager = {"Authorization": f"Bearer {world.manager_key}"}
    assert world.client.get(f"{API}/audit", headers=manager).status_code == 403
    assert world.client.get(f"{API}/audit").status_code == 401
    attendance = world.client.get(f"{API}/attendance/audit", headers=manager).json()
    assert [(i["action"], i["details"]["n"]) for i in attendance["items"]] == [
        ("retention", 4),
        ("add_event", 3),
    ]
    assert attendance["total"] == 2


# --- risky thresholds -----------------------------------------------------------------


def test_a_threshold_below_the_floor_needs_force_and_is_audited(world: World) -> None:
    url = f"{API}/calibration/threshold"
    floor = world.state.settings.auth.threshold_floor  # 0.9 by default; 0.8 is configured
    refused = world.client.put(url, json={"threshold": 0.85}, headers=world.as_key("t1"))
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], error["safe_threshold"], error["basis"]) == (
        "risky_threshold",
        floor,
        "floor",
    )
    assert error["far_after"] is None  # nobody enrolled: no pairs to measure
    assert _entries(world.state) == []
    current = world.client.get(url, headers=world.as_key("t2")).json()["active_threshold"]
    assert current == 0.8  # the configured default, unchanged

    forced = world.client.put(
        url, json={"threshold": 0.85}, params={"force": "true"}, headers=world.as_key("t3")
    )
    assert forced.status_code == 200, forced.text
    assert forced.json()["active_threshold"] == 0.85
    [entry] = _entries(world.state)
    assert (entry.actor, entry.action, entry.request_id) == ("key:payroll", "set_threshold", "t3")
    assert entry.details["before"] == 0.8
    assert entry.details["after"] == 0.85
    assert entry.details["forced"] is True

    safe = world.client.put(url, json={"threshold": floor}, headers=world.as_key("t4"))
    assert safe.status_code == 200  # at the floor: not risky
    assert _entries(world.state)[-1].details["forced"] is False


def test_a_manager_may_not_change_the_threshold_even_with_force(world: World) -> None:
    manager = {"Authorization": f"Bearer {world.manager_key}"}
    answer = world.client.put(
        f"{API}/calibration/threshold",
        json={"threshold": 0.95},
        params={"force": "true"},
        headers=manager,
    )
    assert answer.status_code == 403


def _gallery(world: World, people: int) -> None:
    """``people`` people with one face each, all different-person pairs scoring 0 except
    two: (0, 1) at 0.9375 and (2, 3) at 0.96875 (both exact in float32)."""
    from facerec.people.models import Person
    from tests.factories import face_row

    dim = people
    vectors = [[0.0] * dim for _ in range(people)]
    for i in range(people):
        vectors[i][i] = 1.0
    for low, high, score in ((0, 1, 0.9375), (2, 3, 0.96875)):
        vectors[high] = [0.0] * dim
        vectors[high][low] = score
        vectors[high][high] = (1 - score * score) ** 0.5
    model = world.state.runtime.model
    with Session(world.state.db) as session:
        for i in range(people):
            person = Person(name=f"P{i}")
            session.add(person)
            session.flush()
            face_row(session, person_id=person.id or 0, embedding=vectors[i], model=model)
        session.commit()


def test_a_threshold_below_the_calibrated_value_says_the_far_it_means(world: World) -> None:
    # 64 people: 2016 different-person pairs, enough to measure FAR 0.05% (1 pair in
    # 2000): one pair may score at or above the threshold, so the safe value is the
    # 0.0001 step just above the second highest score, 0.9375.
    _gallery(world, 64)
    url = f"{API}/calibration/threshold"
    refused = world.client.put(url, json={"threshold": 0.9}, headers=world.as_key("c1"))
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], error["basis"], error["safe_threshold"]) == (
        "risky_threshold",
        "calibration",
        0.9376,
    )
    assert error["far_after"] == pytest.approx(2 / 2016)
    assert "0.099%" in error["message"]  # 2 of 2016 pairs
    ok = world.client.put(url, json={"threshold": 0.9376}, headers=world.as_key("c2"))
    assert ok.status_code == 200, ok.text
    entry = _entries(world.state)[-1]
    assert entry.details["far_after"] == pytest.approx(1 / 2016)
    assert entry.details["far_before"] == pytest.approx(2 / 2016)  # 0.8, the default
    assert (entry.details["before"], entry.details["after"]) == (0.8, 0.9376)
