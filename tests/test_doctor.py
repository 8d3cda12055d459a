"""``facerec doctor`` finds each kind of damage it checks for, repairs what is safe, and
leaves the rest reported. The data folder is made through the app with the fake engine;
the damage is done with plain SQL (``tests/sql.py``, on either database) and plain file
writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from facerec.app import create_app
from facerec.cli import app as cli
from facerec.config import Settings, get_settings
from facerec.db.engine import make_engine
from facerec.doctor import DoctorReport, run_doctor
from facerec.faces.storage import ImageStore
from facerec.index.faiss_index import FaissIndex
from facerec.index.sync import IndexSync
from tests.fakes import FakeEngine, picture
from tests.sql import run_sql

MODEL, DIM = FakeEngine.model_id, FakeEngine.dim
RED, GREEN, BLUE = (200, 0, 0), (0, 200, 0), (0, 0, 200)


@dataclass
class Data:
    settings: Settings
    faces: dict[str, int]
    """Face id by person name."""

    @property
    def db(self) -> Path:
        return self.settings.data_dir / "facerec.db"

    def sql(self, statement: str, *args: object) -> list[tuple[Any, ...]]:
        return run_sql(self.settings.db_url, statement, *args)

    def files(self, folder: str) -> set[str]:
        root = self.settings.data_dir / folder
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def data(settings: Settings) -> Data:
    """Two people with one face each, a check-in (event and crop), an unknown face (kept
    for ever: the retention job is not what these tests are about)."""
    forever = {"checkin_crops_days": 0, "unknown_faces_days": 0, "resolved_days": 0}
    retention = settings.retention.model_copy(update=forever)
    settings = settings.model_copy(update={"retention": retention})
    noon = datetime(2026, 3, 4, 12, tzinfo=ZoneInfo(settings.attendance.timezone))
    faces = {}
    with TestClient(create_app(settings, engine=FakeEngine(), clock=lambda: noon)) as client:
        for name, colour in (("Red", RED), ("Green", GREEN)):
            pid = client.post("/api/v1/people", json={"name": name}).json()["id"]
            photo = {"file": ("a.png", picture([(colour, 80)]))}
            enrolled = client.post(f"/api/v1/people/{pid}/faces", files=photo)
            assert enrolled.status_code == 201
            faces[name] = enrolled.json()["faces"][0]["id"]
        for colour in (RED, BLUE):
            photo = {"file": ("f.png", picture([(colour, 70)]))}
            checked = client.post("/api/v1/attendance/check-in", files=photo)
            assert checked.status_code == 200, checked.text
    found = Data(settings, faces)
    assert found.sql("SELECT count(*) FROM attendance_events WHERE crop_path IS NOT NULL") == [(1,)]
    assert found.sql("SELECT count(*) FROM unknown_faces") == [(1,)]
    return found


def doctor(data: Data, *, repair: bool = False, sync: IndexSync | None = None) -> DoctorReport:
    engine = make_engine(data.settings.db_url)
    try:
        with Session(engine) as session:
            return run_doctor(
                session=session,
                images=ImageStore(data.settings.images_dir),
                crops=ImageStore(data.settings.crops_dir),
                model=MODEL,
                dim=DIM,
                repair=repair,
                sync=sync,
            )
    finally:
        engine.dispose()


def kinds(report: DoctorReport) -> dict[str, int]:
    return {line.kind: line.count for line in report.summary()}


def subjects(report: DoctorReport, kind: str) -> set[str]:
    return {f.subject for f in report.findings if f.kind == kind}


def test_a_consistent_data_folder_has_no_findings(data: Data) -> None:
    report = doctor(data)
    assert report.findings == []
    assert report.ok
    assert report.checked["faces"] == 2
    assert report.checked["index_entries"] == 2
    assert report.checked["files"] == 4  # two photos, a check-in crop, an unknown crop
    assert report.checked["generation"] == data.sql("SELECT generation FROM index_state")[0][0]


def test_orphan_and_temporary_files_are_reported_then_removed(data: Data) -> None:
    images, crops = data.files("images"), data.files("crops")
    planted = {
        "images/ab/" + "ab" * 32 + ".jpg": "orphan_file",
        "images/cd/.tmp-x1y2z3": "temp_file",
        "crops/ef/" + "ef" * 32 + ".jpg": "orphan_file",
    }
    for relative in planted:
        path = data.settings.data_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")

    report = doctor(data)
    assert not report.ok
    assert {f.subject: f.kind for f in report.findings} == planted
    assert all((data.settings.data_dir / p).exists() for p in planted)  # only reported

    repaired = doctor(data, repair=True)
    assert repaired.ok
    assert kinds(repaired) == {"orphan_file": 2, "temp_file": 1}
    assert all(f.repaired for f in repaired.findings)
    assert data.files("images") == images and data.files("crops") == crops
    assert doctor(data).findings == []


def test_missing_files_are_reported_and_their_rows_kept(data: Data) -> None:
    (image_id, image_path), *_ = data.sql("SELECT id, path FROM images ORDER BY id")
    (event_id, event_crop), *_ = data.sql("SELECT id, crop_path FROM attendance_events")
    (unknown_id, unknown_crop), *_ = data.sql("SELECT id, crop_path FROM unknown_faces")
    for folder, relative in (
        ("images", image_path),
        ("crops", event_crop),
        ("crops", unknown_crop),
    ):
        (data.settings.data_dir / folder / str(relative)).unlink()

    report = doctor(data, repair=True)
    assert not report.ok
    assert subjects(report, "missing_image_file") == {f"images {image_id}"}
    assert subjects(report, "missing_crop_file") == {
        f"attendance_events {event_id}",
        f"unknown_faces {unknown_id}",
    }
    assert not any(f.repaired for f in report.findings)
    hint = next(line.hint for line in report.summary() if line.kind == "missing_image_file")
    assert "backup" in hint
    assert data.sql("SELECT count(*) FROM images") == [(2,)]
    assert data.sql("SELECT count(*) FROM unknown_faces") == [(1,)]


def test_files_whose_content_changed_fail_their_checksum(data: Data) -> None:
    (image_id, image_path), *_ = data.sql("SELECT id, path FROM images ORDER BY id")
    (event_id, event_crop), *_ = data.sql("SELECT id, crop_path FROM attendance_events")
    (data.settings.images_dir / str(image_path)).write_bytes(b"other bytes")
    with (data.settings.crops_dir / str(event_crop)).open("ab") as crop:
        crop.write(b"\0")

    report = doctor(data, repair=True)
    assert kinds(report) == {"checksum_mismatch": 2}
    assert subjects(report, "checksum_mismatch") == {
        f"images {image_id}",
        f"attendance_events {event_id}",
    }
    assert not report.ok


def _worker(data: Data) -> tuple[IndexSync, Session]:
    """A worker's index, started now and following the change log from here on."""
    session = Session(make_engine(data.settings.db_url))
    sync = IndexSync(FaissIndex(DIM), MODEL)
    sync.rebuild(session)
    session.rollback()
    return sync, session


def _indexed(sync: IndexSync) -> set[int]:
    assert isinstance(sync.index, FaissIndex)
    return set(sync.index.entries().face_ids.tolist())


def test_a_face_the_change_log_never_announced_is_re_announced(
    settings: Settings, data: Data
) -> None:
    worker, session = _worker(data)
    with TestClient(create_app(settings, engine=FakeEngine())) as client:
        pid = client.post("/api/v1/people", json={"name": "Blue"}).json()["id"]
        photo = {"file": ("b.png", picture([(BLUE, 80)]))}
        blue = client.post(f"/api/v1/people/{pid}/faces", files=photo).json()["faces"][0]["id"]
    data.sql("DELETE FROM face_changes WHERE face_id = ? AND op = 'add'", blue)
    worker.catch_up(session)
    session.rollback()
    assert _indexed(worker) == set(data.faces.values())  # the running worker missed it

    report = doctor(data)
    assert kinds(report) == {"log_missing": 1}
    assert subjects(report, "log_missing") == {f"faces {blue}"}
    assert doctor(data, repair=True).ok
    worker.catch_up(session)
    session.rollback()
    assert _indexed(worker) == {*data.faces.values(), blue}
    assert doctor(data).findings == []
    session.close()


def test_a_face_deleted_behind_the_change_log_is_announced_deleted(data: Data) -> None:
    worker, session = _worker(data)
    data.sql("DELETE FROM faces WHERE id = ?", data.faces["Green"])
    assert _indexed(worker) == set(data.faces.values())

    report = doctor(data)
    assert kinds(report) == {"log_extra": 1}
    assert subjects(report, "log_extra") == {f"faces {data.faces['Green']}"}
    assert doctor(data, repair=True).ok
    worker.catch_up(session)
    session.rollback()
    assert _indexed(worker) == {data.faces["Red"]}
    assert doctor(data).findings == []
    session.close()


def test_after_an_index_rebuild_request_the_log_is_followed_from_there(data: Data) -> None:
    generation = data.sql("SELECT generation FROM index_state")[0][0] + 1
    data.sql("UPDATE index_state SET generation = ?", generation)
    data.sql("DELETE FROM face_changes")
    data.sql(
        "INSERT INTO face_changes (generation, op, face_id, person_id) VALUES (?, 'rebuild', 0, 0)",
        generation,
    )
    assert doctor(data).findings == []
    data.sql("DELETE FROM face_changes")  # not even the rebuild: a log from generation 0
    assert kinds(doctor(data)) == {"log_missing": 2}


@pytest.mark.parametrize(
    ("blob", "problem"),
    [
        (np.ones(DIM - 1, "<f4").tobytes(), "bytes"),
        (np.full(DIM, np.nan, "<f4").tobytes(), "finite"),
        (np.full(DIM, 1.0, "<f4").tobytes(), "norm"),
    ],
    ids=["short", "nan", "not-unit"],
)
def test_corrupt_embeddings_are_reported(data: Data, blob: bytes, problem: str) -> None:
    data.sql("UPDATE faces SET embedding = ? WHERE id = ?", blob, data.faces["Red"])
    data.sql("UPDATE unknown_faces SET embedding = ?", blob)
    (unknown_id,) = data.sql("SELECT id FROM unknown_faces")[0]
    report = doctor(data, repair=True)
    bad = [f for f in report.findings if f.kind == "bad_embedding"]
    assert {f.subject for f in bad} == {f"faces {data.faces['Red']}", f"unknown_faces {unknown_id}"}
    assert all(problem in f.detail for f in bad)
    assert not report.ok


@pytest.mark.sqlite_only("a row that breaks a foreign key: PostgreSQL never stores one")
def test_a_face_whose_image_row_is_gone(data: Data) -> None:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(data.db)) as db, db:
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("UPDATE faces SET image_id = 999 WHERE id = ?", (data.faces["Red"],))
    report = doctor(data)
    assert subjects(report, "face_without_image") == {f"faces {data.faces['Red']}"}
    assert subjects(report, "foreign_key") == {f"faces {data.faces['Red']}"}
    assert not report.ok


def test_a_schema_behind_the_code_stops_the_other_checks(data: Data) -> None:
    data.sql("UPDATE alembic_version SET version_num = '0002'")
    report = doctor(data)
    assert kinds(report) == {"schema_not_at_head": 1}
    assert "db upgrade" in report.summary()[0].hint


def test_a_served_index_that_disagrees_is_found_and_repaired(data: Data) -> None:
    """The backend a worker searches is asked for its entries (a shared index such as
    Milvus would be passed the same way)."""
    red, green = data.faces["Red"], data.faces["Green"]
    sync, session = _worker(data)
    assert isinstance(sync.index, FaissIndex)
    stored = {
        int(fid): np.frombuffer(blob, "<f4")
        for fid, blob in data.sql("SELECT id, embedding FROM faces")
    }
    sync.index.remove([green])
    off = stored[red].copy()
    off[0] += 1e-4
    sync.index.add([red, 4242], [1, 1], np.stack([off, stored[red]]))

    report = doctor(data, sync=sync)
    assert {(f.kind, f.subject) for f in report.findings} == {
        ("index_missing", f"faces {green}"),
        ("index_vector", f"faces {red}"),
        ("index_extra", "faces 4242"),
    }
    assert doctor(data, sync=sync, repair=True).ok
    entries = sync.index.entries()
    assert sorted(entries.face_ids.tolist()) == sorted([red, green])
    for face_id, vector in zip(entries.face_ids.tolist(), entries.vectors, strict=True):
        assert np.array_equal(vector, stored[face_id])
    sync.generation -= 1
    assert kinds(doctor(data, sync=sync)) == {"index_generation": 1}
    session.close()


@pytest.fixture
def runner(data: Data, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(data.settings.data_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_the_command_exits_1_until_repaired(data: Data, runner: CliRunner) -> None:
    clean = runner.invoke(cli, ["doctor", "--json"])
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.output)["ok"] is True
    orphan = data.settings.images_dir / "ab" / ("ab" * 32 + ".png")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x")

    found = runner.invoke(cli, ["doctor"])
    assert found.exit_code == 1
    assert "orphan_file: 1" in found.output
    assert orphan.exists()
    repaired = runner.invoke(cli, ["doctor", "--repair", "--json"])
    assert repaired.exit_code == 0, repaired.output
    body = json.loads(repaired.output)
    assert body["kinds"] == [
        {"kind": "orphan_file", "count": 1, "repaired": 1, "hint": body["kinds"][0]["hint"]}
    ]
    assert not orphan.exists()
