"""GET /people/{id}/export: a ZIP of everything stored about one person (and nobody
else), parsed back; 404 for people who are not there; the disclosure is audited."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine, picture

RED, GREEN, BLUE = (220, 40, 40), (40, 220, 40), (40, 40, 220)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(settings: Settings) -> Clock:
    """Noon in the attendance zone (``make dst`` reruns these in New York)."""
    zone = ZoneInfo(settings.attendance.timezone)
    return Clock(datetime(2026, 5, 6, 12, 0, tzinfo=zone).astimezone(UTC))


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=FakeEngine(), clock=clock)) as test_client:
        yield test_client


def _person(client: TestClient, name: str, colour: tuple[int, int, int]) -> tuple[int, bytes]:
    pid = client.post("/api/v1/people", json={"name": name}).json()["id"]
    photo = picture([(colour, 80)])
    enrolled = client.post(f"/api/v1/people/{pid}/faces", files={"file": ("a.png", photo)})
    assert enrolled.status_code == 201, enrolled.text
    return pid, photo


def _check_in(client: TestClient, colour: tuple[int, int, int]) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/attendance/check-in", files={"file": ("f.png", picture([(colour, 70)]))}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _export(client: TestClient, pid: int, actor: str = "dpo") -> zipfile.ZipFile:
    """``actor`` is sent as X-Actor, which the audit log ignores (it names the caller)."""
    answer = client.get(f"/api/v1/people/{pid}/export", headers={"X-Actor": actor})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert int(answer.headers["content-length"]) == len(answer.content)
    return zipfile.ZipFile(io.BytesIO(answer.content))


@dataclass(frozen=True)
class Story:
    """Bob checks in; a stranger is seen, enrolled as Ada, given two photos, checks in
    twice, and gets a manual event."""

    bob: int
    bobs_event: int
    ada: int
    unknown_id: int
    unknown_crop: bytes
    photos: tuple[bytes, bytes]
    faces: tuple[int, int, int]
    events: tuple[int, int, int]
    """Two check-ins, then the manual event."""


@pytest.fixture
def story(client: TestClient, clock: Clock) -> Story:
    bob, _ = _person(client, "Bob", GREEN)
    bobs_event = _check_in(client, GREEN)["events"][0]["id"]
    assert _check_in(client, BLUE)["unknown_faces"] == 1
    group = client.get("/api/v1/attendance/unknown").json()["items"][0]
    unknown_id = group["face_ids"][0]
    unknown_crop = client.get(f"/api/v1/attendance/unknown/faces/{unknown_id}/crop").content
    enrolled = client.post(
        f"/api/v1/attendance/unknown/{group['group_id']}/enrol", json={"name": "Ada"}
    )
    assert enrolled.status_code == 201, enrolled.text
    ada = enrolled.json()["person_id"]
    photos = picture([(BLUE, 80)]), picture([(BLUE, 90)], fmt="JPEG")
    for name, photo in zip(("a.png", "b.jpg"), photos, strict=True):
        added = client.post(f"/api/v1/people/{ada}/faces", files={"file": (name, photo)})
        assert added.status_code == 201, added.text
    clock.now += timedelta(minutes=10)
    first = _check_in(client, BLUE)["events"][0]["id"]
    clock.now += timedelta(hours=2)
    second = _check_in(client, BLUE)["events"][0]["id"]
    manual = client.post(
        "/api/v1/attendance/events",
        json={
            "person_id": ada,
            "time": (clock.now + timedelta(hours=1)).isoformat(),
            "device": "=HYPERLINK(1)",
            "reason": "forgot",
        },
    ).json()["id"]
    faces = [f["id"] for f in client.get(f"/api/v1/people/{ada}/faces").json()["items"]]
    assert len(faces) == 3
    return Story(
        bob=bob,
        bobs_event=bobs_event,
        ada=ada,
        unknown_id=unknown_id,
        unknown_crop=unknown_crop,
        photos=photos,
        faces=(faces[0], faces[1], faces[2]),
        events=(first, second, manual),
    )


def test_the_archive_holds_their_photos_and_crops_under_a_dated_name(
    client: TestClient, clock: Clock, settings: Settings, story: Story
) -> None:
    files_before = sorted(p.name for p in settings.data_dir.iterdir())
    answer = client.get(f"/api/v1/people/{story.ada}/export")

    assert answer.status_code == 200
    local_day = clock.now.astimezone(ZoneInfo(settings.attendance.timezone)).strftime("%Y%m%d")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="facerec-person-{story.ada}-{local_day}.zip"'
    )
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    f1, f2, f3 = story.faces
    first, second, _ = story.events
    assert sorted(archive.namelist()) == sorted(
        [
            "person.json",
            "events.csv",
            f"photos/face-{f1}.jpg",  # the unknown face's crop became their first photo
            f"photos/face-{f2}.png",
            f"photos/face-{f3}.jpg",
            f"crops/event-{first}.jpg",
            f"crops/event-{second}.jpg",
            f"unknown/unknown-{story.unknown_id}.jpg",
        ]
    )
    assert archive.read(f"photos/face-{f1}.jpg") == story.unknown_crop
    assert archive.read(f"photos/face-{f2}.png") == story.photos[0]
    assert archive.read(f"photos/face-{f3}.jpg") == story.photos[1]
    assert archive.read(f"unknown/unknown-{story.unknown_id}.jpg") == story.unknown_crop
    for event_id in (first, second):
        served = client.get(f"/api/v1/attendance/events/{event_id}/crop").content
        assert archive.read(f"crops/event-{event_id}.jpg") == served
    # The archive was built in an unnamed temporary file: nothing is left behind.
    assert sorted(p.name for p in settings.data_dir.iterdir()) == files_before


def test_events_csv_lists_their_events_and_no_one_elses(
    client: TestClient, clock: Clock, settings: Settings, story: Story
) -> None:
    archive = _export(client, story.ada)
    rows = list(csv.DictReader(io.StringIO(archive.read("events.csv").decode("utf-8-sig"))))
    first, second, manual = story.events
    assert [int(r["event_id"]) for r in rows] == [first, second, manual]
    assert story.bobs_event not in {int(r["event_id"]) for r in rows}
    times = [clock.now - timedelta(hours=2), clock.now, clock.now + timedelta(hours=1)]
    assert [datetime.fromisoformat(r["time_utc"]) for r in rows] == times
    zone = ZoneInfo(settings.attendance.timezone)
    assert [r["local_time"] for r in rows] == [t.astimezone(zone).isoformat() for t in times]
    assert [r["source"] for r in rows] == ["camera", "camera", "manual"]
    assert [r["crop"] for r in rows] == [
        f"crops/event-{first}.jpg",
        f"crops/event-{second}.jpg",
        "",
    ]
    assert rows[2]["device"] == "'=HYPERLINK(1)"  # never a live formula
    assert float(rows[0]["similarity"]) > 0.99
    assert rows[2]["similarity"] == ""


def test_person_json_describes_the_record_faces_and_sightings(
    client: TestClient, story: Story
) -> None:
    document = json.loads(_export(client, story.ada).read("person.json"))
    f1, f2, f3 = story.faces
    assert (document["person"]["id"], document["person"]["name"]) == (story.ada, "Ada")
    assert [f["id"] for f in document["faces"]] == [f1, f2, f3]
    assert [f["photo"] for f in document["faces"]] == [
        f"photos/face-{f1}.jpg",
        f"photos/face-{f2}.png",
        f"photos/face-{f3}.jpg",
    ]
    assert all(len(f["embedding"]) == FakeEngine.dim for f in document["faces"])
    assert document["events"] == {"file": "events.csv", "count": 3}
    assert [(u["id"], u["status"]) for u in document["unknown_faces"]] == [
        (story.unknown_id, "enrolled")
    ]
    assert document["missing_files"] == []
    bobs_faces = {f["id"] for f in client.get(f"/api/v1/people/{story.bob}/faces").json()["items"]}
    assert bobs_faces.isdisjoint(f["id"] for f in document["faces"])


def test_the_export_is_audited_with_who_asked(client: TestClient, story: Story) -> None:
    _export(client, story.ada, actor="dpo")
    audit = client.get("/api/v1/audit").json()["items"][0]
    assert (audit["actor"], audit["action"], audit["entity"], audit["entity_id"]) == (
        "local:local",
        "export",
        "person",
        story.ada,
    )
    assert audit["details"] == {"faces": 3, "events": 3, "unknown_faces": 1}


def test_the_next_export_lists_the_earlier_one_among_its_audit_entries(
    client: TestClient,
) -> None:
    pid, _ = _person(client, "Ada", RED)
    _export(client, pid, actor="first")
    document = json.loads(_export(client, pid, actor="second").read("person.json"))
    assert [(a["actor"], a["action"]) for a in document["audit"]] == [
        ("local:local", "create"),
        ("local:local", "export"),
    ]


def test_a_person_without_events_or_crops_exports_an_empty_events_file(
    client: TestClient,
) -> None:
    pid = client.post("/api/v1/people", json={"name": "Nobody yet"}).json()["id"]
    archive = _export(client, pid)
    assert sorted(archive.namelist()) == ["events.csv", "person.json"]
    assert archive.read("events.csv").decode("utf-8-sig").splitlines() == [
        "event_id,time_utc,local_time,similarity,device,source,crop"
    ]
    assert json.loads(archive.read("person.json"))["faces"] == []


def test_unknown_removed_and_out_of_range_ids(client: TestClient) -> None:
    audit_before = client.get("/api/v1/audit").json()["total"]
    missing = client.get("/api/v1/people/999/export")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/people/{2**63}/export").status_code == 422

    pid, _ = _person(client, "Leaver", RED)
    assert client.delete(f"/api/v1/people/{pid}").status_code == 204
    removed = client.get(f"/api/v1/people/{pid}/export")
    assert removed.status_code == 404
    audit = client.get("/api/v1/audit").json()["items"]
    assert not [a for a in audit if a["action"] == "export"]
    assert client.get("/api/v1/audit").json()["total"] >= audit_before


def test_a_photo_file_gone_from_disk_is_listed_as_missing(
    client: TestClient, settings: Settings
) -> None:
    pid, _ = _person(client, "Ada", RED)
    for path in settings.images_dir.rglob("*.png"):
        path.unlink()
    archive = _export(client, pid)
    document = json.loads(archive.read("person.json"))
    face = document["faces"][0]
    assert face["photo"] is None
    assert document["missing_files"] == [f"photos/face-{face['id']}.png"]
    assert not [n for n in archive.namelist() if re.match(r"photos/", n)]
