"""Make a backup of a running installation, and restore one into an empty data dir.
No HTTP here; the CLI (``cli.py``) and the scheduled job (``schedule.py``) call these.

Consistency: the database is copied first, as one committed state (``database.py``);
then exactly the image and crop files *that snapshot's rows* name are archived, each
checked against the sha256 its name carries (both stores are content-addressed). Files
written after the snapshot belong to rows it lacks and are left out; a file the snapshot
names but that is gone (deleted after the snapshot by a removal that committed later)
makes the whole backup start again from a new snapshot, up to ``ATTEMPTS`` times; what
is still missing then was missing from the installation itself (``facerec doctor``
reports it) and is listed in the manifest and the report.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlmodel import Session

from facerec import __version__
from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.backup import archive
from facerec.backup.database import Kind, Snapshot, check_empty, database_kind, load, snapshot
from facerec.backup.manifest import DATABASE_FILES, FORMAT_VERSION, DatabaseInfo, Manifest
from facerec.config import Settings
from facerec.db.engine import lock_for_write, make_engine
from facerec.db.migrate import alembic_config, is_current, upgrade
from facerec.errors import BackupFailed, InvalidBackup, RestoreTargetNotEmpty

ATTEMPTS = 3


@dataclass(slots=True)
class BackupReport:
    path: Path
    created_at: datetime
    files: int
    """Members besides the manifest: the database, images and crops."""
    size: int
    """Bytes of the archive."""
    counts: dict[str, int]
    revision: str | None
    missing: list[str] = field(default_factory=list)
    attempts: int = 1


@dataclass(slots=True)
class RestoreReport:
    created_at: datetime
    facerec_version: str
    files: int
    counts: dict[str, int]
    revision_from: str | None
    revision_to: str | None
    missing: list[str] = field(default_factory=list)
    settings_differ: list[str] = field(default_factory=list)
    """Settings (dotted names) whose value here differs from the backed-up installation's."""


class _FilesMoved(Exception):
    """Files named by the snapshot vanished while being archived: take a new snapshot."""


def create_backup(
    *, settings: Settings, target: Path, now: datetime, actor: Principal
) -> BackupReport:
    """Write a backup of the installation ``settings`` describe to ``target`` (atomic:
    a failure leaves no file), audited as ``actor``. Safe while servers run."""
    kind = database_kind(settings.db_url)
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    missing: list[str] | None = None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            snap, missing = _write(
                settings, target, now, kind, retry_unless=missing, last=attempt == ATTEMPTS
            )
        except _FilesMoved as moved:
            missing = list(moved.args[0])
            continue
        report = BackupReport(
            path=target,
            created_at=now,
            files=1 + len(snap.images) + len(snap.crops) - len(missing),
            size=target.stat().st_size,
            counts=snap.counts,
            revision=snap.revision,
            missing=missing,
            attempts=attempt,
        )
        _audit(  # in the live database, unless its schema is older than this code's
            settings,
            actor=actor,
            now=now,
            action="backup",
            details={"file": target.name, "files": report.files, "revision": snap.revision},
        )
        return report
    raise AssertionError("unreachable: the last attempt never retries")


def _write(
    settings: Settings,
    target: Path,
    now: datetime,
    kind: Kind,
    *,
    retry_unless: list[str] | None,
    last: bool,
) -> tuple[Snapshot, list[str]]:
    with (
        tempfile.TemporaryDirectory(dir=target.parent, prefix=".facerec-backup-") as work,
        archive.writing(target, now) as writer,
    ):
        snap = snapshot(settings.db_url, Path(work) / "database")
        writer.add_file(DATABASE_FILES[kind], snap.path)
        missing = _add_files(writer, "images", settings.images_dir, snap.images)
        missing += _add_files(writer, "crops", settings.crops_dir, snap.crops)
        if missing and missing != retry_unless and not last:
            raise _FilesMoved(missing)
        writer.add_manifest(
            Manifest(
                format_version=FORMAT_VERSION,
                facerec_version=__version__,
                created_at=now,
                database=DatabaseInfo(
                    kind=kind,
                    file=DATABASE_FILES[kind],
                    alembic_revision=snap.revision,
                ),
                files=writer.files,
                missing=missing,
                counts=snap.counts,
                settings=_flat(_settings(settings)),
            )
        )
    return snap, missing


def _add_files(
    writer: archive.ArchiveWriter, prefix: str, root: Path, names: set[str]
) -> list[str]:
    """Archive ``root/name`` for each name; those absent or whose content does not hash
    to the sha256 in their name (``<sha[:2]>/<sha256>.<ext>``)."""
    missing = []
    for name in sorted(names):
        try:
            data = (root / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            missing.append(f"{prefix}/{name}")
            continue
        if hashlib.sha256(data).hexdigest() != Path(name).stem:
            missing.append(f"{prefix}/{name}")
            continue
        writer.add_bytes(f"{prefix}/{name}", data)
    return missing


def restore_backup(
    *, settings: Settings, source: Path, now: datetime, actor: Principal
) -> RestoreReport:
    """Restore ``source`` into the empty data dir (and database) of ``settings``; every
    file's sha256 is checked before anything is put in place. Migrates the database to
    the newest revision. A failure leaves the data dir empty again."""
    data_dir = settings.data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        raise RestoreTargetNotEmpty(
            f"{data_dir} is not empty: restore writes only into an empty data directory",
            path=str(data_dir),
        )
    check_empty(settings.db_url)
    with archive.reading(source) as (tar, manifest):
        kind = database_kind(settings.db_url)
        if manifest.database.kind != kind:
            raise BackupFailed(
                f"a {manifest.database.kind} backup restores into {manifest.database.kind}, "
                f"not into {kind}",
                backup=manifest.database.kind,
            )
        _check_revision(settings.db_url, manifest.database.alembic_revision)
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            _put_in_place(settings, tar, manifest)
        except BaseException:
            _empty(data_dir)
            raise
    upgrade(settings.db_url, lock_dir=data_dir)
    head = ScriptDirectory.from_config(alembic_config(settings.db_url)).get_current_head()
    details = {"file": source.name, "files": len(manifest.files), "revision": head}
    _audit(settings, actor=actor, now=now, action="restore", details=details)
    here = _flat(_settings(settings))
    return RestoreReport(
        created_at=manifest.created_at,
        facerec_version=manifest.facerec_version,
        files=len(manifest.files),
        counts=manifest.counts,
        revision_from=manifest.database.alembic_revision,
        revision_to=head,
        missing=manifest.missing,
        settings_differ=sorted(
            k
            for k in here.keys() | manifest.settings.keys()
            if here.get(k) != manifest.settings.get(k)
        ),
    )


def _put_in_place(settings: Settings, tar: Any, manifest: Manifest) -> None:
    staging = Path(tempfile.mkdtemp(dir=settings.data_dir, prefix=".restore-"))
    try:
        archive.extract(tar, manifest, staging)  # every checksum, before anything moves
        load(settings.db_url, staging / manifest.database.file)
        for name, target in (("images", settings.images_dir), ("crops", settings.crops_dir)):
            if (staging / name).is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _empty(data_dir: Path) -> None:
    """Remove what a failed restore put in the (formerly empty) data dir."""
    for entry in data_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _check_revision(url: str, revision: str | None) -> None:
    script = ScriptDirectory.from_config(alembic_config(url))
    try:
        known = revision is not None and script.get_revision(revision) is not None
    except Exception:  # alembic's ResolutionError/CommandError: not one of ours
        known = False
    if not known:
        raise InvalidBackup(
            f"the backup's schema revision {revision!r} is unknown to this FaceRec "
            f"({__version__}): restore it with the version that made it, or a newer one",
            revision=revision,
        )


def _audit(
    settings: Settings, *, actor: Principal, now: datetime, action: str, details: dict[str, Any]
) -> None:
    """One audit entry in the installation's own database (``entity`` ``backup``)."""
    engine = make_engine(settings.db_url)
    try:
        if not is_current(engine):
            return
        with Session(engine) as session:
            lock_for_write(session)
            record(session, actor=actor, action=action, entity="backup", details=details, time=now)
            session.commit()
    finally:
        engine.dispose()


def _settings(settings: Settings) -> dict[str, Any]:
    """The settings that differ from the defaults, without where data lives (the data
    dir and the database URL, which may hold a password)."""
    return settings.model_dump(
        mode="json", exclude_defaults=True, exclude={"data_dir", "database_url"}
    )


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
