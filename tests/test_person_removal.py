"""Removing a person keeps the history honest (#11 item 4): their attendance stays in
reports as a removed person (name kept or anonymised), their faces, photos and crops
are erased from disk and index, the removal is audited, and they are gone everywhere
else (404). Fake engine, fixed clock in the attendance zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from facerec.app import create_app
from facerec.auth.principal import SYSTEM
from facerec.config import PrivacySettings, Settings
from facerec.db.engine import make_engine
from facerec.faces.storage import ImageStore
from facerec.people.models import Person
from facerec.people.removal import remove_person
from tests.fakes import FakeEngine, picture
from tests.test_attendance_api import Clock

API = "/api/v1"
RED, GREEN, BLUE = (220, 40, 40), (40, 220, 40), (40, 40, 220)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _app(settings: Settings, clock: Clock, names: str) -> TestClient:
    privacy = PrivacySettings(removed_person_name=names)
    configured = settings.model_copy(update={"privacy": privacy})
    return TestClient(create_app(configured, engine=FakeEngine(), clock=clock))


@pytest.fixture
def clock(settings: Settings) -> Clock:
    return Clock(settings.attendance.timezone)  # Monday 2026-11-23 09:00 local


class History:
    """Ann (red) with two photos, check-ins on Monday and Tuesday, and an unknown visitor
    (blue) assigned to her; Bob (green) with a photo of his own."""

    def __init__(self, client: TestClient, clock: Clock, settings: Settings, names: str) -> None:
        self.client, self.clock, self.settings = client, clock, settings
        self.name = "Ann" if names == "keep" else None  # anonymised: set once the id is known
        people = f"{API}/people"
        self.ann = client.post(people, json={"name": "Ann", "external_id": "E1", "note": "x"})
        self.ann_id = int(self.ann.json()["id"])
        self.name = self.name or f"Removed person #{self.ann_id}"
        self.bob_id = int(client.post(people, json={"name": "Bob"}).json()["id"])
        photos = (
            (self.ann_id, picture([(RED, 80)])),
            (self.ann_id, picture([(RED, 72)])),
            (self.bob_id, picture([(GREEN, 80)])),
        )
        for pid, photo in photos:
            added = client.post(f"{people}/{pid}/faces", files={"file": ("a.png", photo)})
            assert added.status_code == 201, added.text
        self.images_before = _files(settings.images_dir)
        self.check_in(RED)
        clock.local("2026-11-24", "09:00")
        self.check_in(RED, side=64)  # another crop (crops are stored by content)
        self.check_in(BLUE)
        group = client.get(f"{API}/attendance/unknown").json()["items"][0]["group_id"]
        assigned = client.post(
            f"{API}/attendance/unknown/{group}/assign?force=true", json={"person_id": self.ann_id}
        )
        assert assigned.status_code == 200, assigned.text
        self.crops_before = _files(settings.crops_dir)
        assert len(self.crops_before) == 3  # two check-ins and the unknown face

    def check_in(self, colour: tuple[int, int, int], side: int = 70) -> dict[str, Any]:
        frame = picture([(colour, side)])
        answer = self.client.post(f"{API}/attendance/check-in", files={"file": ("f.png", frame)})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def remove(self) -> None:
        self.clock.local("2026-11-25", "10:00")  # Wednesday, no check-in yet
        removed = self.client.delete(f"{API}/people/{self.ann_id}", headers={"X-Actor": "hr.zhang"})
        assert removed.status_code == 204, removed.text


@pytest.fixture(params=["keep", "anonymise"])
def history(request: pytest.FixtureRequest, settings: Settings, clock: Clock) -> Iterator[History]:
    with _app(settings, clock, request.param) as client:
        yield History(client, clock, settings, request.param)


def test_removal_erases_faces_photos_and_crops(history: History) -> None:
    client, settings = history.client, history.settings
    bob_faces_before = client.get(f"{API}/people/{history.bob_id}/faces").json()["items"]
    history.remove()
    images = _files(settings.images_dir)
    assert len(history.images_before) == 3
    assert len(images) == 1  # Bob's photo; Ann's two and the crop that became hers are gone
    bob_faces = client.get(f"{API}/people/{history.bob_id}/faces").json()["items"]
    assert bob_faces == bob_faces_before
    assert client.get(f"{API}/faces/{bob_faces[0]['id']}/thumbnail").status_code == 200
    # Every crop was Ann's: check-ins and the unknown face assigned to her.
    assert _files(settings.crops_dir) == set()
    events = client.get(f"{API}/attendance/events").json()
    assert events["total"] == 2
    assert all(not e["has_crop"] and e["removed"] for e in events["items"])
    assert client.get(f"{API}/attendance/unknown").json()["total"] == 0


def test_a_removed_person_is_never_matched_again(history: History) -> None:
    history.remove()
    history.clock.local("2026-11-26", "09:00")
    answer = history.check_in(RED)
    assert answer["events"] == []
    assert answer["unknown_faces"] == 1
    ready = history.client.get("/readyz")
    assert ready.status_code == 200, ready.text


def test_a_removed_person_is_404_everywhere_but_in_the_history(history: History) -> None:
    client, pid = history.client, history.ann_id
    history.remove()
    person = f"{API}/people/{pid}"
    photo = {"file": ("a.png", picture([(RED, 80)]))}
    assert client.get(person).status_code == 404
    assert client.patch(person, json={"name": "Zed"}).status_code == 404
    assert client.delete(person).status_code == 404
    assert client.get(f"{person}/faces").status_code == 404
    assert client.post(f"{person}/faces", files=photo).status_code == 404
    listed = client.get(f"{API}/people").json()
    assert [p["id"] for p in listed["items"]] == [history.bob_id]
    assert listed["total"] == 1
    manual = {"person_id": pid, "time": "2026-11-25T09:00:00", "reason": "forgot"}
    assert client.post(f"{API}/attendance/events", json=manual).status_code == 404
    schedule = client.put(f"{API}/attendance/people/{pid}/schedule", json={"schedule_id": None})
    assert schedule.status_code == 404


def test_reports_keep_the_days_up_to_the_removal(history: History) -> None:
    client, name = history.client, history.name
    history.remove()
    history.clock.local("2026-11-26", "12:00")  # Thursday
    report = client.get(f"{API}/attendance/report?from=2026-11-23&to=2026-11-27").json()
    rows = [r for r in report["rows"] if r["person_id"] == history.ann_id]
    assert {r["name"] for r in rows} == {name}
    assert all(r["removed"] and r["external_id"] is None for r in rows)
    # One check-in and the day over: left early (as for anyone); Wednesday, the day of
    # the removal, is their last day (absent, no check-in); Thursday is not theirs.
    assert [(r["day"], r["status"], r["events"]) for r in rows] == [
        ("2026-11-23", "left_early", 1),
        ("2026-11-24", "left_early", 1),
        ("2026-11-25", "absent", 0),
        ("2026-11-26", "inactive", 0),
    ]
    (totals,) = [t for t in report["totals"] if t["person_id"] == history.ann_id]
    assert (totals["working_days"], totals["absent"], totals["removed"]) == (3, 1, True)
    events = client.get(f"{API}/attendance/events?person_id={history.ann_id}").json()
    assert {e["name"] for e in events["items"]} == {name}
    later = client.get(f"{API}/attendance/report?from=2026-11-26&to=2026-11-26").json()
    assert history.ann_id not in {r["person_id"] for r in later["rows"]}


def test_the_removal_is_audited(history: History) -> None:
    client, name = history.client, history.name
    history.remove()
    entry = client.get(f"{API}/audit").json()["items"][0]
    assert {k: entry[k] for k in ("actor", "action", "entity", "entity_id")} == {
        "actor": "local:local",  # the caller (auth off here); X-Actor hr.zhang is ignored
        "action": "delete",
        "entity": "person",
        "entity_id": history.ann_id,
    }
    faces = 2 + 1  # two photos, and the unknown face's crop that became her face
    assert entry["details"] == {
        "name": name,
        "faces": faces,
        "events_kept": 2,
        "crops_removed": 3,
        "unknown_faces_removed": 1,
    }
    with Session(make_engine(history.settings.db_url)) as session:
        row = session.exec(select(Person).where(Person.id == history.ann_id)).one()
    assert (row.external_id, row.note, row.name) == (None, None, name)
    assert str(row.end_date) == "2026-11-25"
    assert row.deleted_at == history.clock.now


class CommittedFirst(ImageStore):
    """A store that, when asked to delete a file, checks the removal was committed."""

    def __init__(self, root: Path, db_url: str, person_id: int) -> None:
        super().__init__(root)
        self.db_url, self.person_id, self.deleted = db_url, person_id, 0

    def delete(self, relative: str) -> None:
        with Session(make_engine(self.db_url)) as other:
            person = other.get(Person, self.person_id)
            assert person is not None and person.deleted_at is not None
        self.deleted += 1
        super().delete(relative)


def test_files_are_deleted_only_after_the_commit(settings: Settings, clock: Clock) -> None:
    with _app(settings, clock, "keep") as client:
        history = History(client, clock, settings, "keep")
    clock.now += timedelta(days=1)
    images = CommittedFirst(settings.images_dir, settings.db_url, history.ann_id)
    crops = CommittedFirst(settings.crops_dir, settings.db_url, history.ann_id)
    with Session(make_engine(settings.db_url), expire_on_commit=False) as session:
        remove_person(
            session=session,
            store=images,
            crops=crops,
            person_id=history.ann_id,
            now=clock.now,
            today=clock.now.date(),
            names="keep",
            actor=SYSTEM,
        )
    assert (images.deleted, crops.deleted) == (3, 3)


def test_a_photo_another_person_also_uses_stays(client: TestClient, settings: Settings) -> None:
    photo = picture([(RED, 80)])
    ids = [client.post(f"{API}/people", json={"name": n}).json()["id"] for n in ("A", "B")]
    faces = [
        client.post(f"{API}/people/{pid}/faces", files={"file": ("a.png", photo)}).json()
        for pid in ids
    ]
    assert faces[0]["faces"][0]["image_id"] == faces[1]["faces"][0]["image_id"]
    assert client.delete(f"{API}/people/{ids[0]}").status_code == 204
    assert len(_files(settings.images_dir)) == 1
    kept = faces[1]["faces"][0]["id"]
    assert client.get(f"{API}/faces/{kept}/thumbnail").status_code == 200
