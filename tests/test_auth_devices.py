"""Kiosk devices: registration with a one-time pairing link and its QR code, the public
exchange of the code for the device token, check-in under the device's own name,
re-pairing and revocation."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from facerec.auth.models import Device
from facerec.config import Settings
from tests.auth_helpers import Clock, audit_rows, auth_client, bearer, db_of, insert_key, sha256
from tests.fakes import Colour, picture

DEVICES = "/api/v1/devices"
RED, GREEN = (220, 40, 40), (40, 220, 40)


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with auth_client(settings, clock) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> str:
    return insert_key(db_of(client), role="admin", name="root")


def _create(client: TestClient, admin: str, name: str = "front-door") -> dict[str, Any]:
    answer = client.post(DEVICES, json={"name": name, "location": "Hall"}, headers=bearer(admin))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _code(pairing: dict[str, Any]) -> str:
    url: str = pairing["pairing_url"]
    return parse_qs(urlsplit(url).query)["pair"][0]


def _pair(client: TestClient, code: str) -> Any:
    return client.post(f"{DEVICES}/pair", json={"code": code})


def _check_in(
    client: TestClient, token: str, device: str | None = None, colour: Colour = RED
) -> Any:
    data = {"device": device} if device is not None else None
    frame = {"file": ("f.png", picture([(colour, 80)]))}
    return client.post("/api/v1/attendance/check-in", data=data, files=frame, headers=bearer(token))


def test_creating_a_device_gives_a_pairing_link_and_qr_code(
    client: TestClient, admin: str, clock: Clock
) -> None:
    pairing = _create(client, admin)
    url = urlsplit(pairing["pairing_url"])
    assert (url.scheme, url.netloc, url.path) == ("http", "testserver", "/kiosk")
    code = _code(pairing)
    assert re.fullmatch(r"frp_[A-Za-z0-9_-]{43}", code)
    svg = ET.fromstring(pairing["pairing_qr_svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    expires = clock.now + timedelta(hours=24)
    assert datetime.fromisoformat(pairing["pairing_expires_at"]) == expires
    device = pairing["device"]
    assert (device["name"], device["location"], device["paired_at"]) == ("front-door", "Hall", None)
    with Session(db_of(client)) as session:
        row = session.exec(select(Device)).one()
    assert (row.pairing_hash, row.token_hash) == (sha256(code), None)
    listed = client.get(DEVICES, headers=bearer(admin)).json()
    assert listed["total"] == 1 and listed["items"][0]["name"] == "front-door"
    assert code not in json.dumps(listed)
    duplicate = client.post(DEVICES, json={"name": "front-door"}, headers=bearer(admin))
    assert duplicate.status_code == 409
    other = _create(client, admin, name="back-door")
    assert other["pairing_qr_svg"] != pairing["pairing_qr_svg"]  # each link its own code


def test_the_link_uses_the_public_url(settings: Settings, clock: Clock) -> None:
    with auth_client(settings, clock, public_url="https://faces.example.org/") as client:
        pairing = _create(client, insert_key(db_of(client), role="admin"))
    assert pairing["pairing_url"].startswith("https://faces.example.org/kiosk?pair=frp_")


def test_a_code_pairs_once_and_the_token_only_checks_in(
    client: TestClient, admin: str, clock: Clock
) -> None:
    pairing = _create(client, admin)
    paired = _pair(client, _code(pairing))
    assert paired.status_code == 200, paired.text
    token = paired.json()["token"]
    assert re.fullmatch(r"frd_[A-Za-z0-9_-]{43}", token)
    assert paired.json()["device"]["paired_at"] is not None
    assert datetime.fromisoformat(paired.json()["device"]["paired_at"]) == clock.now
    again = _pair(client, _code(pairing))
    assert (again.status_code, again.json()["error"]["code"]) == (401, "unauthenticated")
    with Session(db_of(client)) as session:
        row = session.exec(select(Device)).one()
    assert (row.token_hash, row.pairing_hash) == (sha256(token), None)
    assert client.get("/api/v1/people", headers=bearer(token)).status_code == 403
    assert client.get(DEVICES, headers=bearer(token)).status_code == 403
    checked = _check_in(client, token)
    assert checked.status_code == 200, checked.text


def test_an_expired_code_does_not_pair(client: TestClient, admin: str, clock: Clock) -> None:
    code = _code(_create(client, admin))
    clock.advance(hours=24)
    assert _pair(client, code).status_code == 401
    assert _pair(client, "frp_" + "x" * 43).status_code == 401


def _enrol(client: TestClient, admin: str, name: str, colour: Colour) -> None:
    person = client.post("/api/v1/people", json={"name": name}, headers=bearer(admin)).json()
    face = client.post(
        f"/api/v1/people/{person['id']}/faces",
        files={"file": ("a.png", picture([(colour, 80)]))},
        headers=bearer(admin),
    )
    assert face.status_code == 201


def test_the_event_names_the_device_not_the_request(client: TestClient, admin: str) -> None:
    _enrol(client, admin, "Red", RED)
    _enrol(client, admin, "Green", GREEN)
    token = _pair(client, _code(_create(client, admin))).json()["token"]
    answer = _check_in(client, token, device="back-office")  # a spoofed name is ignored
    assert [e["status"] for e in answer.json()["events"]] == ["checked_in"]
    events = client.get("/api/v1/attendance/events", headers=bearer(admin)).json()["items"]
    assert [e["device"] for e in events] == ["front-door"]
    manager = insert_key(db_of(client), role="manager")
    by_key = _check_in(client, manager, device="back-office", colour=GREEN)  # keys may name one
    assert [e["status"] for e in by_key.json()["events"]] == ["checked_in"]
    events = client.get("/api/v1/attendance/events", headers=bearer(admin)).json()["items"]
    assert {e["name"]: e["device"] for e in events} == {"Red": "front-door", "Green": "back-office"}


def test_re_pairing_ends_the_old_token_and_link(client: TestClient, admin: str) -> None:
    pairing = _create(client, admin)
    device_id = pairing["device"]["id"]
    old_token = _pair(client, _code(pairing)).json()["token"]
    unused = client.post(f"{DEVICES}/{device_id}/pairing", headers=bearer(admin)).json()
    fresh = client.post(f"{DEVICES}/{device_id}/pairing", headers=bearer(admin))
    assert fresh.status_code == 200
    refused = _check_in(client, old_token)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthenticated")
    assert _pair(client, _code(unused)).status_code == 401  # only the newest link works
    new_token = _pair(client, _code(fresh.json())).json()["token"]
    assert _check_in(client, new_token).status_code == 200
    assert client.post(f"{DEVICES}/999/pairing", headers=bearer(admin)).status_code == 404


def test_a_revoked_device_is_told_so_at_its_next_request(client: TestClient, admin: str) -> None:
    pairing = _create(client, admin)
    device_id = pairing["device"]["id"]
    token = _pair(client, _code(pairing)).json()["token"]
    assert _check_in(client, token).status_code == 200
    assert client.delete(f"{DEVICES}/{device_id}", headers=bearer(admin)).status_code == 204
    refused = _check_in(client, token)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "device_revoked")
    assert client.delete(f"{DEVICES}/{device_id}", headers=bearer(admin)).status_code == 204
    assert client.delete(f"{DEVICES}/999", headers=bearer(admin)).status_code == 404
    listed = client.get(DEVICES, headers=bearer(admin)).json()["items"]
    assert listed[0]["revoked_at"] is not None


def test_unpaired_revoked_links_stop_too(client: TestClient, admin: str) -> None:
    pairing = _create(client, admin)
    client.delete(f"{DEVICES}/{pairing['device']['id']}", headers=bearer(admin))
    assert _pair(client, _code(pairing)).status_code == 401


def test_only_admins_manage_devices(client: TestClient) -> None:
    manager = insert_key(db_of(client), role="manager")
    assert client.get(DEVICES).status_code == 401
    assert client.get(DEVICES, headers=bearer(manager)).status_code == 403
    assert client.post(DEVICES, json={"name": "x"}, headers=bearer(manager)).status_code == 403


def test_device_changes_are_audited_without_secrets(client: TestClient, admin: str) -> None:
    pairing = _create(client, admin)
    device_id = pairing["device"]["id"]
    token = _pair(client, _code(pairing)).json()["token"]
    client.post(f"{DEVICES}/{device_id}/pairing", headers=bearer(admin))
    client.delete(f"{DEVICES}/{device_id}", headers=bearer(admin))
    entries = audit_rows(db_of(client))
    assert [(e.action, e.actor, e.entity_id) for e in entries] == [
        ("device.create", "key:root", device_id),
        ("device.pair", "device:front-door", device_id),
        ("device.pairing", "key:root", device_id),
        ("device.revoke", "key:root", device_id),
    ]
    dumped = json.dumps([e.model_dump(mode="json") for e in entries])
    assert _code(pairing) not in dumped and token not in dumped
    assert "frp_" not in dumped and "frd_" not in dumped
