"""Wrong photos are caught: a photo clearly of someone else is refused (``face_mismatch``,
409) unless forced, and a forced one is audited; look-alikes and a file already enrolled
under another person come back as ``looks_like`` warnings; the same for unknown groups,
batches and the folder enrolment (fake engine: a face's identity is its colour)."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from facerec.app import create_app
from facerec.audit.models import AuditEntry
from facerec.config import Settings
from facerec.faces.bulk import enrol_directory
from facerec.faces.models import Face, Image
from tests.fakes import FakeEngine, picture

API = "/api/v1"
RED, GREEN, BLUE = (220, 40, 40), (40, 220, 40), (40, 40, 220)
MISMATCH = 0.8 - 0.09
"""The default mismatch threshold under the test settings' match threshold (0.8)."""


def vector(colour: tuple[int, int, int]) -> np.ndarray:
    """FakeEngine's unit descriptor of a colour, computed here from its definition."""
    c = [v // 32 for v in colour]
    raw = np.random.default_rng(c[0] * 10_000 + c[1] * 100 + c[2]).normal(size=16)
    return raw / np.linalg.norm(raw)


def cosine(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.clip(vector(a) @ vector(b), 0.0, 1.0))


def test_the_colours_are_strangers_to_each_other() -> None:
    """What the tests below rely on: the three colours are clearly different people."""
    for a, b in ((RED, GREEN), (RED, BLUE), (GREEN, BLUE)):
        assert cosine(a, b) < MISMATCH - 0.1


@pytest.fixture
def noon(settings: Settings) -> datetime:
    return datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo(settings.attendance.timezone))


@pytest.fixture
def app_client(settings: Settings, noon: datetime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=FakeEngine(), clock=lambda: noon)) as client:
        yield client


def _person(client: TestClient, name: str, *colours: tuple[int, int, int]) -> int:
    pid = int(client.post(f"{API}/people", json={"name": name}).json()["id"])
    for number, colour in enumerate(colours):
        photo = picture([(colour, 60 + number)])  # a new file each time
        answer = client.post(f"{API}/people/{pid}/faces", files={"file": ("p.png", photo)})
        assert answer.status_code == 201, answer.text
    return pid


def _enrol(client: TestClient, pid: int, data: bytes, **params: str) -> tuple[int, dict[str, Any]]:
    headers = {"X-Actor": params.pop("actor")} if "actor" in params else {}
    answer = client.post(
        f"{API}/people/{pid}/faces",
        files={"file": ("x.png", data)},
        params=params,
        headers=headers,
    )
    return answer.status_code, answer.json()


def _faces(client: TestClient, pid: int) -> int:
    return int(client.get(f"{API}/people/{pid}").json()["face_count"])


ROUTINE = {"create", "enrol"}
"""Audited on every person created and photo enrolled; these tests are about the rest."""


def _audit(client: TestClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(f"{API}/audit", params={"limit": 500}).json()["items"]
    return [e for e in items if e["action"] not in ROUTINE]


def test_a_photo_of_someone_else_is_refused(app_client: TestClient) -> None:
    ada = _person(app_client, "Ada", RED)
    status, body = _enrol(app_client, ada, picture([(BLUE, 70)]))
    assert status == 409
    error = body["error"]
    assert error["code"] == "face_mismatch"
    assert error["person_id"] == ada
    assert error["similarity"] == pytest.approx(cosine(RED, BLUE), abs=1e-4)
    assert error["threshold"] == pytest.approx(MISMATCH)
    assert _faces(app_client, ada) == 1
    assert _audit(app_client) == []


def test_a_second_photo_of_the_same_person_is_accepted_without_warning(
    app_client: TestClient,
) -> None:
    ada = _person(app_client, "Ada", RED)
    _person(app_client, "Bob", GREEN)
    status, body = _enrol(app_client, ada, picture([(RED, 90)]))
    assert status == 201
    assert body["warnings"] == []
    assert _faces(app_client, ada) == 2


def test_nothing_is_stored_for_a_refused_photo(app_client: TestClient, settings: Settings) -> None:
    ada = _person(app_client, "Ada", RED)
    _enrol(app_client, ada, picture([(BLUE, 70)]))
    images = list((settings.data_dir / "images").rglob("*.*"))
    assert len(images) == 1  # Ada's own photo only


def _check_off(settings: Settings, tmp_path: Path) -> Settings:
    """The test settings with ``enrol.mismatch_threshold = 0`` (no refusal)."""
    enrol = settings.enrol.model_copy(update={"mismatch_threshold": 0.0})
    return settings.model_copy(update={"data_dir": tmp_path / "off", "enrol": enrol})


def test_the_mismatch_threshold_follows_the_active_threshold_and_the_setting(
    app_client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    ada = _person(app_client, "Ada", RED)
    app_client.put(f"{API}/calibration/threshold", json={"threshold": 0.9})
    _, body = _enrol(app_client, ada, picture([(BLUE, 70)]))
    assert body["error"]["threshold"] == pytest.approx(0.9 - 0.09)

    with TestClient(create_app(_check_off(settings, tmp_path), engine=FakeEngine())) as client:
        bob = _person(client, "Bob", RED)
        status, _ = _enrol(client, bob, picture([(BLUE, 70)]))
        assert status == 201


def test_force_enrols_a_mismatch_and_audits_it(app_client: TestClient) -> None:
    ada = _person(app_client, "Ada", RED)
    status, body = _enrol(app_client, ada, picture([(BLUE, 70)]), force="true", actor="grace")
    assert status == 201, body
    face_id = body["faces"][0]["id"]
    assert _faces(app_client, ada) == 2
    [entry] = _audit(app_client)
    assert entry["actor"] == "local:local"  # the caller (auth off here), never X-Actor
    assert entry["action"] == "force_enrol"
    assert entry["entity"] == "face"
    assert entry["entity_id"] == face_id
    assert entry["details"]["person_id"] == ada
    assert entry["details"]["similarity"] == pytest.approx(cosine(RED, BLUE), abs=1e-4)
    assert entry["details"]["threshold"] == pytest.approx(MISMATCH)


def test_force_on_a_matching_photo_writes_no_audit_entry(app_client: TestClient) -> None:
    ada = _person(app_client, "Ada", RED)
    status, _ = _enrol(app_client, ada, picture([(RED, 90)]), force="true")
    assert status == 201
    assert _audit(app_client) == []


def test_the_first_face_is_not_checked_but_looks_like_applies(app_client: TestClient) -> None:
    ada = _person(app_client, "Ada", RED)
    newcomer = _person(app_client, "Newcomer")
    status, body = _enrol(app_client, newcomer, picture([(RED, 75)]))
    assert status == 201
    [warning] = body["warnings"]
    assert warning == {
        "code": "looks_like",
        "person_id": ada,
        "name": "Ada",
        "similarity": 1.0,
        "same_image": False,
        "index": 0,
        "filename": "x.png",
    }
    stranger = _person(app_client, "Stranger")
    status, body = _enrol(app_client, stranger, picture([(BLUE, 75)]))
    assert (status, body["warnings"]) == (201, [])


def test_looks_like_when_another_person_matches_better(settings: Settings, tmp_path: Path) -> None:
    """With the refusal off, a photo of Bob added to Ada is stored, with a warning."""
    with TestClient(create_app(_check_off(settings, tmp_path), engine=FakeEngine())) as client:
        ada = _person(client, "Ada", RED)
        bob = _person(client, "Bob", GREEN, GREEN)
        status, body = _enrol(client, ada, picture([(GREEN, 77)]))
        assert status == 201
        assert [(w["person_id"], w["name"], w["similarity"]) for w in body["warnings"]] == [
            (bob, "Bob", pytest.approx(1.0 - 0.0116 / 2, abs=1e-4))  # Bob's 2-photo centroid
        ]


def test_the_same_file_under_two_people_warns(app_client: TestClient) -> None:
    photo = picture([(RED, 80)])
    ada = _person(app_client, "Ada")
    assert _enrol(app_client, ada, photo)[0] == 201
    bob = _person(app_client, "Bob")
    status, body = _enrol(app_client, bob, photo)
    assert status == 201
    assert body["warnings"] == [
        {
            "code": "looks_like",
            "person_id": ada,
            "name": "Ada",
            "similarity": 1.0,
            "same_image": True,
            "index": 0,
            "filename": "x.png",
        }
    ]  # once, though the index finds Ada too


def test_a_batch_lists_each_refusal_and_warning(app_client: TestClient) -> None:
    ada = _person(app_client, "Ada", RED)
    bob = _person(app_client, "Bob", GREEN)
    files = [
        ("file", ("same.png", picture([(RED, 81)]))),
        ("file", ("other.png", picture([(BLUE, 82)]))),
        ("file", ("same2.png", picture([(RED, 83)]))),
    ]
    answer = app_client.post(f"{API}/people/{ada}/faces", files=files)
    assert answer.status_code == 201
    body = answer.json()
    assert len(body["faces"]) == 2
    assert [(r["index"], r["filename"], r["code"]) for r in body["rejected"]] == [
        (1, "other.png", "face_mismatch")
    ]
    assert body["warnings"] == []
    newcomer = _person(app_client, "Newcomer")
    files = [("file", (f"g{n}.png", picture([(GREEN, 84 + n)]))) for n in range(2)]
    body = app_client.post(f"{API}/people/{newcomer}/faces", files=files).json()
    # the second photo matches the first (now the newcomer's) as well as Bob: no warning
    assert [(w["index"], w["person_id"]) for w in body["warnings"]] == [(0, bob)]


def test_every_photo_of_a_batch_refused_answers_409_with_the_list(app_client: TestClient) -> None:
    ada = _person(app_client, "Ada", RED)
    files = [("file", (f"{n}.png", picture([(BLUE, 70 + n)]))) for n in range(2)]
    answer = app_client.post(f"{API}/people/{ada}/faces", files=files)
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "face_mismatch"
    assert [r["code"] for r in error["rejected"]] == ["face_mismatch", "face_mismatch"]


def _unknown_group(client: TestClient, colour: tuple[int, int, int]) -> int:
    answer = client.post(
        f"{API}/attendance/check-in", files={"file": ("f.png", picture([(colour, 70)]))}
    )
    assert answer.json()["unknown_faces"] == 1
    [group] = client.get(f"{API}/attendance/unknown").json()["items"]
    return int(group["group_id"])


def test_assigning_an_unknown_group_to_someone_else_is_refused_unless_forced(
    app_client: TestClient,
) -> None:
    ada = _person(app_client, "Ada", RED)
    group = _unknown_group(app_client, BLUE)
    url = f"{API}/attendance/unknown/{group}/assign"
    refused = app_client.post(url, json={"person_id": ada})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], error["person_id"], error["group_id"]) == ("face_mismatch", ada, group)
    assert error["similarity"] == pytest.approx(cosine(RED, BLUE), abs=1e-4)
    assert _faces(app_client, ada) == 1
    assert app_client.get(f"{API}/attendance/unknown").json()["total"] == 1  # still pending

    forced = app_client.post(
        url, json={"person_id": ada}, params={"force": "true"}, headers={"X-Actor": "grace"}
    )  # X-Actor is ignored: the audit log names the caller
    assert forced.status_code == 200, forced.text
    assert _faces(app_client, ada) == 2
    actions = {e["action"]: e for e in _audit(app_client)}
    assert set(actions) == {"force_assign", "assigned_unknown"}
    entry = actions["force_assign"]
    assert (entry["actor"], entry["entity"], entry["entity_id"]) == (
        "local:local",
        "unknown_group",
        group,
    )
    assert entry["details"]["person_id"] == ada
    assert entry["details"]["threshold"] == pytest.approx(MISMATCH)


def test_assigning_an_unknown_group_to_the_right_person_needs_no_force(
    app_client: TestClient,
) -> None:
    _person(app_client, "Ada", RED)
    newcomer = _person(app_client, "Newcomer")  # no faces yet: not checked
    group = _unknown_group(app_client, GREEN)
    assigned = app_client.post(
        f"{API}/attendance/unknown/{group}/assign", json={"person_id": newcomer}
    )
    assert assigned.status_code == 200, assigned.text
    assert _faces(app_client, newcomer) == 1
    assert [e["action"] for e in _audit(app_client)] == ["assigned_unknown"]


def test_folder_enrolment_reports_mismatches_and_warnings(
    app_client: TestClient, tmp_path: Path
) -> None:
    state = app_client.app.state.facerec  # type: ignore[attr-defined]
    ada = _person(app_client, "Ada", RED)
    root = tmp_path / "photos"
    (root / "Ada").mkdir(parents=True)
    (root / "Ada" / "a.png").write_bytes(picture([(RED, 88)]))
    (root / "Ada" / "b.png").write_bytes(picture([(BLUE, 88)]))
    (root / "Cleo").mkdir()
    (root / "Cleo" / "c.png").write_bytes(picture([(RED, 89)]))
    report = enrol_directory(state, root)
    assert [p.name for p in report.enrolled] == ["a.png", "c.png"]
    assert [(p.name, r.split(":")[0]) for p, r in report.failed] == [("b.png", "face_mismatch")]
    assert [(p.name, f"#{ada}" in r) for p, r in report.warned] == [("c.png", True)]

    forced = enrol_directory(state, root, force=True)
    assert [p.name for p in forced.enrolled] == ["b.png"]
    with Session(state.db) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "force_enrol")).one()
        face = session.exec(select(Face).where(Face.id == entry.entity_id)).one()
        image = session.get(Image, face.image_id)
    cli = f"system:cli:{getpass.getuser()}"
    assert (entry.actor, entry.action, face.person_id) == (cli, "force_enrol", ada)
    assert image is not None
