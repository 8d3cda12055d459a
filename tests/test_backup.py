"""``facerec backup`` / ``facerec restore`` on a fake-engine installation with people,
photos, check-in crops and unknown faces: what the archive holds (checked with tarfile
and hashlib, not with our reader), a restore that gives the same rows, files and answers,
refusals (non-empty target, tampered, truncated or foreign archives), an older schema
migrated on restore, and the scheduled job on an injected clock (due times, retention of
the newest N, one lease holder). On PostgreSQL (``make test-postgres``) the same tests go
through ``pg_dump``/``pg_restore``, each restore into a new empty database."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select
from typer.testing import CliRunner

from facerec.app import build_state, close_state, create_app
from facerec.audit.models import AuditEntry
from facerec.backup.archive import ArchiveWriter
from facerec.backup.schedule import BackupJob
from facerec.cli import CliContext, app
from facerec.config import BackupSettings, Settings, get_settings
from facerec.db.engine import make_engine
from facerec.db.migrate import alembic_config
from facerec.doctor.service import run_doctor
from facerec.faces.storage import ImageStore
from tests import postgres
from tests.fakes import FakeEngine, picture

API = "/api/v1"
RED, BLUE, GREEN = (220, 40, 40), (40, 40, 220), (40, 200, 40)
HOUR = timedelta(hours=1)
TABLES = ("people", "images", "faces", "attendance_events", "unknown_faces", "app_settings")


def noon(settings: Settings) -> datetime:
    """A fixed now: noon in the attendance zone (``make dst`` reruns in New York)."""
    zone = ZoneInfo(settings.attendance.timezone)
    return datetime(2026, 3, 18, 12, 0, tzinfo=zone).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Installation:
    settings: Settings
    now: datetime
    answers: list[dict[str, Any]]
    """``/recognize`` of a RED and a BLUE frame, as the original answered them."""


def _recognise(client: TestClient) -> list[dict[str, Any]]:
    frames = (picture([(RED, 80)]), picture([(BLUE, 75), (GREEN, 70)]))
    out = []
    for frame in frames:
        response = client.post(f"{API}/recognize", files={"file": ("f.png", frame)})
        assert response.status_code == 200, response.text
        out.append(response.json())
    return out


def _person(client: TestClient, name: str, *photos: bytes) -> int:
    pid = int(client.post(f"{API}/people", json={"name": name}).json()["id"])
    for photo in photos:
        enrolled = client.post(f"{API}/people/{pid}/faces", files={"file": ("a.png", photo)})
        assert enrolled.status_code == 201, enrolled.text
    return pid


@pytest.fixture
def installation(settings: Settings) -> Installation:
    """Two people (three photos), a check-in with its crop, an unknown face with its crop,
    a stored threshold; the app closed again."""
    now = noon(settings)
    with TestClient(create_app(settings, engine=FakeEngine(), clock=lambda: now)) as client:
        _person(client, "Red", picture([(RED, 80)]), picture([(RED, 90)]))
        _person(client, "Blue", picture([(BLUE, 85)]))
        checked = client.post(
            f"{API}/attendance/check-in",
            data={"device": "door"},
            files={"file": ("f.png", picture([(RED, 70), (GREEN, 70)]))},
        )
        assert checked.status_code == 200, checked.text
        threshold = client.put(f"{API}/calibration/threshold", json={"threshold": 0.95})
        assert threshold.status_code == 200, threshold.text
        answers = _recognise(client)
    return Installation(settings, now, answers)


@pytest.fixture
def databases() -> Iterator[dict[Path, str]]:
    """The database of each data dir a test restores into: on SQLite the file in the data
    dir (nothing to set), on PostgreSQL a new empty database per dir, made on first use."""
    made: dict[Path, str] = {}
    yield made
    for url in made.values():
        postgres.drop_database(url)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, databases: dict[Path, str], settings: Settings) -> Any:
    """``run(data_dir, *args)``: the CLI on that data dir (and its database), with a fixed
    clock."""

    def run(data_dir: Path, *args: str, now: datetime) -> Any:
        monkeypatch.setenv("FACEREC_DATA_DIR", str(data_dir))
        if postgres.enabled() and data_dir != settings.data_dir:
            if data_dir not in databases:
                databases[data_dir] = postgres.create_database(empty=True)
            monkeypatch.setenv("FACEREC_DATABASE_URL", databases[data_dir])
        elif postgres.enabled():  # the installation's: the test's own database
            monkeypatch.setenv("FACEREC_DATABASE_URL", str(settings.database_url))
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args), obj=CliContext(clock=lambda: now))
        finally:
            get_settings.cache_clear()

    return run


def _url(data_dir: Path, databases: dict[Path, str]) -> str:
    return databases.get(data_dir) or get_settings_for(data_dir).db_url


def get_settings_for(data_dir: Path) -> Settings:
    """Settings of a data dir as the CLI reads them (its database on PostgreSQL: the
    test's own, from the environment)."""
    return Settings(data_dir=data_dir)


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _rows(data_dir: Path, table: str, databases: dict[Path, str]) -> list[tuple[Any, ...]]:
    return sorted(_query(_url(data_dir, databases), f"SELECT * FROM {table}"), key=repr)


def _files(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _referenced(url: str) -> tuple[set[str], set[str]]:
    images = {r[0] for r in _query(url, "SELECT path FROM images")}
    crops = {r[0] for r in _query(url, "SELECT crop_path FROM attendance_events")} - {None}
    crops |= {r[0] for r in _query(url, "SELECT crop_path FROM unknown_faces")}
    return images, crops


def _doctor(settings: Settings, url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            report = run_doctor(
                session=session,
                images=ImageStore(settings.images_dir),
                crops=ImageStore(settings.crops_dir),
                model=FakeEngine.model_id,
                dim=FakeEngine.dim,
            )
    finally:
        engine.dispose()
    return report.findings


def test_the_archive_holds_the_database_and_exactly_the_files_its_rows_name(
    installation: Installation, cli: Any, tmp_path: Path
) -> None:
    data = installation.settings.data_dir
    (data / "images" / "zz").mkdir()
    (data / "images" / "zz" / "stray.png").write_bytes(b"no row names me")
    images, crops = _referenced(installation.settings.db_url)
    assert len(images) == 3 and len(crops) == 2  # two photos of Red, one of Blue

    target = tmp_path / "out" / "b.tar"
    done = cli(data, "backup", str(target), "--json", now=installation.now)
    assert done.exit_code == 0, done.output

    with tarfile.open(target) as tar:
        contents = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }
    manifest = json.loads(contents.pop("manifest.json"))
    kind = "postgresql" if postgres.enabled() else "sqlite"
    dump = "database/facerec.pgdump" if postgres.enabled() else "database/facerec.db"
    expected = {dump} | {f"images/{p}" for p in images}
    assert set(contents) == expected | {f"crops/{p}" for p in crops}
    for name in set(contents) - {dump}:
        assert contents[name] == (data / name).read_bytes()
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        name: hashlib.sha256(body).hexdigest() for name, body in contents.items()
    }
    assert {f["path"]: f["size"] for f in manifest["files"]} == {
        name: len(body) for name, body in contents.items()
    }
    [(revision,)] = _query(installation.settings.db_url, "SELECT version_num FROM alembic_version")
    assert manifest["format"] == "facerec-backup" and manifest["format_version"] == 1
    assert manifest["database"] == {
        "kind": kind,
        "file": dump,
        "alembic_revision": revision,
    }
    assert datetime.fromisoformat(manifest["created_at"]) == installation.now
    assert manifest["missing"] == []
    assert manifest["counts"] == {"people_with_faces": 2, "faces": 3, "images": 3, "crops": 2}
    assert json.loads(done.output)["files"] == 6
    assert [p.name for p in target.parent.iterdir()] == ["b.tar"]  # no temporary left

    engine = make_engine(installation.settings.db_url)
    with Session(engine) as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "backup")).one()
    engine.dispose()
    assert audit.actor.startswith("system:cli:") and audit.details["file"] == "b.tar"
    assert audit.time == installation.now


def test_restore_into_an_empty_dir_gives_the_same_rows_files_and_answers(
    installation: Installation, cli: Any, tmp_path: Path, databases: dict[Path, str]
) -> None:
    data = installation.settings.data_dir
    archive = tmp_path / "b.tar"
    assert cli(data, "backup", str(archive), now=installation.now).exit_code == 0
    target = tmp_path / "restored"
    later = installation.now + HOUR
    done = cli(target, "restore", str(archive), now=later)
    assert done.exit_code == 0, done.output
    assert "restored 6 files" in done.output

    source, restored_url = installation.settings.db_url, _url(target, databases)
    for table in TABLES:
        assert _rows(target, table, databases) == sorted(
            _query(source, f"SELECT * FROM {table}"), key=repr
        ), table
    assert _files(target / "images") == {
        k: v for k, v in _files(data / "images").items() if not k.startswith(".")
    }
    assert _files(target / "crops") == _files(data / "crops")
    restored = installation.settings.model_copy(
        update={"data_dir": target, "database_url": databases.get(target)}
    )
    assert _doctor(restored, restored_url) == []
    with TestClient(create_app(restored, engine=FakeEngine(), clock=lambda: later)) as client:
        assert _recognise(client) == installation.answers
    audit = _query(restored_url, "SELECT action, actor FROM audit_log WHERE entity='backup'")
    assert [a for a, _ in audit] == ["restore"]  # the backup's own entry came after it


def test_restore_refuses_a_data_dir_that_is_not_empty(
    installation: Installation, cli: Any, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar"
    made = cli(installation.settings.data_dir, "backup", str(archive), now=installation.now)
    assert made.exit_code == 0, made.output
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    done = cli(target, "restore", str(archive), now=installation.now)
    assert done.exit_code == 1
    assert "[restore_target_not_empty]" in done.output
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    # ... and the live installation itself, of course.
    again = cli(installation.settings.data_dir, "restore", str(archive), now=installation.now)
    assert again.exit_code == 1 and "[restore_target_not_empty]" in again.output


def _rewrite(source: Path, target: Path, change: Any) -> None:
    """Copy the archive member by member, ``change(name, bytes)`` giving each new bytes
    (None: leave it out)."""
    with tarfile.open(source) as old, tarfile.open(target, "w") as new:
        for member in old.getmembers():
            body = change(member.name, old.extractfile(member).read())  # type: ignore[union-attr]
            if body is not None:
                info = tarfile.TarInfo(member.name)
                info.size = len(body)
                new.addfile(info, io.BytesIO(body))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("image", "sha256 differs"),
        ("database", "sha256 differs"),
        ("extra", "present but not listed"),
        ("dropped", "listed but absent"),
        ("manifest", "manifest.json is not valid"),
        ("version", "format version 99"),
        ("truncated", "damaged"),
        ("foreign", "not a FaceRec backup"),
    ],
)
def test_a_damaged_or_tampered_archive_is_refused_and_the_dir_stays_empty(
    installation: Installation, cli: Any, tmp_path: Path, damage: str, message: str
) -> None:
    good = tmp_path / "good.tar"
    made = cli(installation.settings.data_dir, "backup", str(good), now=installation.now)
    assert made.exit_code == 0, made.output
    bad = tmp_path / "bad.tar"

    def change(name: str, body: bytes) -> bytes | None:
        if damage == "image" and name.startswith("images/"):
            return body[:-1] + bytes([body[-1] ^ 1])
        if damage == "database" and name.startswith("database/"):
            return body[:-1] + bytes([body[-1] ^ 1])  # a SQLite page or a pg_dump block
        if damage == "dropped" and name.startswith("crops/"):
            return None
        if name == "manifest.json" and damage in ("manifest", "version"):
            manifest = json.loads(body)
            if damage == "manifest":
                del manifest["files"]
            else:
                manifest["format_version"] = 99
            return json.dumps(manifest).encode()
        return body

    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "foreign":
        bad.write_bytes(b"PK\x03\x04 not a tar at all" * 100)
    else:
        _rewrite(good, bad, change)
        if damage == "extra":
            with tarfile.open(bad, "a") as tar:
                info = tarfile.TarInfo("images/ab/" + "ab" * 32 + ".png")
                info.size = 3
                tar.addfile(info, io.BytesIO(b"abc"))

    target = tmp_path / "restored"
    done = cli(target, "restore", str(bad), now=installation.now)
    assert done.exit_code == 1, done.output
    assert "[invalid_backup]" in done.output and message in " ".join(done.output.split())
    assert not target.exists() or list(target.iterdir()) == []


def test_an_older_backup_is_migrated_when_restored(
    settings: Settings,
    cli: Any,
    tmp_path: Path,
    empty_database_url: str,
    databases: dict[Path, str],
) -> None:
    if postgres.enabled():  # the test's own database is at the newest revision already
        settings.database_url = empty_database_url
    settings.data_dir.mkdir(parents=True)
    command.upgrade(alembic_config(settings.db_url), "0003")
    now = noon(settings)
    archive = tmp_path / "old.tar"
    made = cli(settings.data_dir, "backup", str(archive), "--json", now=now)
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["revision"] == "0003"

    target = tmp_path / "restored"
    done = cli(target, "restore", str(archive), "--json", now=now)
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    [(head,)] = _query(_url(target, databases), "SELECT version_num FROM alembic_version")
    assert report["revision_from"] == "0003" and report["revision_to"] == head != "0003"


def test_a_failed_backup_leaves_no_file(
    installation: Installation, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: ArchiveWriter, name: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ArchiveWriter, "add_bytes", broken)
    out = tmp_path / "out"
    done = cli(installation.settings.data_dir, "backup", str(out / "b.tar"), now=installation.now)
    assert done.exit_code != 0
    assert list(out.iterdir()) == []


def test_a_postgresql_backup_without_pg_dump_says_so(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("FACEREC_DATABASE_URL", "postgresql://facerec@127.0.0.1:1/facerec")
    done = cli(
        tmp_path / "data", "backup", str(tmp_path / "b.tar"), now=datetime(2026, 3, 18, tzinfo=UTC)
    )
    assert done.exit_code == 1
    assert "[backup_failed] pg_dump is not on PATH" in done.output
    assert not (tmp_path / "b.tar").exists()


# -- the schedule -------------------------------------------------------------------------


def _scheduled(settings: Settings, directory: Path, every_hours: float, keep: int = 7) -> Settings:
    backup = BackupSettings(every_hours=every_hours, keep=keep, dir=directory)
    return settings.model_copy(update={"backup": backup})


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_scheduled_backups_come_when_due_and_only_the_newest_are_kept(
    installation: Installation, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    settings = _scheduled(installation.settings, backups, 24, keep=2)
    backups.mkdir()
    (backups / "notes.txt").write_text("not ours")
    (backups / "facerec-backup-manual.tar").write_text("not named by the schedule")
    start = datetime(2026, 3, 18, 3, 0, 0, tzinfo=UTC)
    clock = Clock(start)
    state = build_state(settings, engine=FakeEngine(), clock=clock)
    try:
        job = BackupJob(state, holder="host:1")
        first = job.tick()
        assert first is not None and first.path.name == "facerec-backup-20260318T030000Z.tar"
        clock.now = start + 23 * HOUR + timedelta(minutes=59)
        assert job.tick() is None  # not due yet
        assert job.wait_s() == 60.0
        clock.now = start + 24 * HOUR
        assert job.tick() is not None
        clock.now = start + 49 * HOUR  # a late one: the next is due 24 h after it
        assert job.tick() is not None
        clock.now = start + 72 * HOUR
        assert job.tick() is None
    finally:
        close_state(state)
    assert _names(backups) == [
        "facerec-backup-20260319T030000Z.tar",
        "facerec-backup-20260320T040000Z.tar",
        "facerec-backup-manual.tar",
        "notes.txt",
    ]


def test_only_the_lease_holder_makes_scheduled_backups(
    installation: Installation, tmp_path: Path
) -> None:
    settings = _scheduled(installation.settings, tmp_path / "backups", 1, keep=10)
    start = datetime(2026, 3, 18, 3, 0, 0, tzinfo=UTC)
    clock = Clock(start)
    state = build_state(settings, engine=FakeEngine(), clock=clock)
    try:
        a, b = BackupJob(state, holder="host-a:1"), BackupJob(state, holder="host-b:2")
        assert a.tick() is not None
        clock.now = start + HOUR
        assert b.tick() is None  # due, but a holds the lease
        assert a.tick() is not None
        clock.now = start + 4 * HOUR  # a died: its lease (2 h) lapsed
        assert b.tick() is not None
        assert a.tick() is None
    finally:
        close_state(state)
    assert len(_names(tmp_path / "backups")) == 3


def test_the_job_runs_with_the_app_only_when_a_schedule_is_set(
    installation: Installation, tmp_path: Path
) -> None:
    base = installation.settings
    with TestClient(create_app(base, engine=FakeEngine())) as client:
        assert client.app.state.backups._task is None  # type: ignore[attr-defined]
    assert not base.backups_dir.exists()

    settings = _scheduled(base, tmp_path / "backups", 24)
    now = noon(settings)
    with TestClient(create_app(settings, engine=FakeEngine(), clock=lambda: now)):
        deadline = time.monotonic() + 20
        while not (tmp_path / "backups").is_dir() or not _names(tmp_path / "backups"):
            assert time.monotonic() < deadline, "no backup at start"
            time.sleep(0.05)
    name = _names(tmp_path / "backups")
    assert [n for n in name if not n.startswith(".")] == [
        f"facerec-backup-{now.strftime('%Y%m%dT%H%M%SZ')}.tar"
    ]


def test_a_file_missing_from_the_installation_is_reported_and_the_backup_still_made(
    installation: Installation, cli: Any, tmp_path: Path, databases: dict[Path, str]
) -> None:
    data = installation.settings.data_dir
    _, crops = _referenced(installation.settings.db_url)
    lost = sorted(crops)[0]
    (data / "crops" / lost).unlink()
    archive = tmp_path / "b.tar"
    made = cli(data, "backup", str(archive), "--json", now=installation.now)
    assert made.exit_code == 0, made.output
    assert f"crops/{lost}" in made.stderr
    report = json.loads(made.stdout)
    # A new snapshot was tried (the file might have gone with a removal after the first).
    assert report["missing"] == [f"crops/{lost}"] and report["attempts"] == 2
    with tarfile.open(archive) as tar:
        assert f"crops/{lost}" not in tar.getnames()

    target = tmp_path / "restored"
    done = cli(target, "restore", str(archive), now=installation.now)
    assert done.exit_code == 0 and f"crops/{lost}" in done.stderr
    findings = _doctor(installation.settings, _url(target, databases))
    assert [f.kind for f in findings] == ["missing_crop_file"]  # as in the original
