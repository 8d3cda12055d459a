"""The database side of a backup: a consistent snapshot, and what that snapshot references.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies the live file from a
separate connection in one step, so the copy is one committed state, whatever the server
writes meanwhile (WAL: readers never block writers). PostgreSQL: a ``REPEATABLE READ``
transaction exports its snapshot (``pg_export_snapshot``), the referenced files are read
in it and ``pg_dump --snapshot`` dumps exactly that state.
Either way the files to archive are the ones the *snapshot's* rows name, so rows and files
agree in the archive even while enrolments go on.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import URL, inspect, make_url
from sqlalchemy.engine import Connection
from sqlmodel import Session, create_engine, func, select, text

from facerec.db.engine import make_engine
from facerec.errors import BackupFailed, RestoreTargetNotEmpty
from facerec.faces.models import Face
from facerec.maintenance import referenced_files

Kind = Literal["sqlite", "postgresql"]


@dataclass(slots=True)
class Snapshot:
    """One committed state of the database, written to ``path``."""

    kind: Kind
    path: Path
    revision: str | None
    images: set[str] = field(default_factory=set)
    crops: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)


def database_kind(url: str) -> Kind:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    raise BackupFailed(f"backups support SQLite and PostgreSQL, not {backend}", backend=backend)


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def snapshot(url: str, dest: Path) -> Snapshot:
    """Copy the database at ``url`` to ``dest`` (one committed state) and read what it
    references."""
    if database_kind(url) == "sqlite":
        return _sqlite_snapshot(sqlite_path(url), dest)
    return _postgres_snapshot(url, dest)


def _sqlite_snapshot(source: Path, dest: Path) -> Snapshot:
    if not source.is_file():
        raise BackupFailed(f"no database at {source}", path=str(source))
    live = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(dest)
    try:
        live.execute("PRAGMA busy_timeout=30000")
        live.backup(copy)  # pages=-1: the whole file in one step, one read transaction
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        problems = [row[0] for row in copy.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise BackupFailed("the database copy fails SQLite's quick_check", problems=problems)
    finally:
        copy.close()
        live.close()
    engine = create_engine(f"sqlite:///{dest}")
    try:
        with engine.connect() as conn:
            return _read_snapshot(conn, "sqlite", dest)
    finally:
        engine.dispose()


def _read_snapshot(conn: Connection, kind: Kind, path: Path) -> Snapshot:
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    with Session(bind=conn) as session:
        images, crops = referenced_files(session)
        people = session.exec(select(func.count(func.distinct(Face.person_id)))).one()
        faces = session.exec(select(func.count()).select_from(Face)).one()
    counts = {"people_with_faces": people, "faces": faces, "images": len(images)}
    counts["crops"] = len(crops)
    return Snapshot(kind, path, revision, images, crops, counts)


def _postgres_snapshot(url: str, dest: Path) -> Snapshot:
    pg_dump = _tool("pg_dump")
    engine = make_engine(url)
    try:
        with engine.connect() as plain:
            conn = plain.execution_options(isolation_level="REPEATABLE READ")
            conn.execute(text("SET TRANSACTION READ ONLY"))
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            taken = _read_snapshot(conn, "postgresql", dest)
            args = ["--format=custom", f"--snapshot={snapshot_id}", f"--file={dest}"]
            _run_pg([pg_dump, *args], url)  # while the exporting transaction is open
            conn.rollback()
            return taken
    finally:
        engine.dispose()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(
            f"{name} is not on PATH: install the PostgreSQL client tools "
            f"(Debian/Ubuntu: postgresql-client) of the server's major version",
            tool=name,
        )
    return found


def _run_pg(command: list[str], url: str) -> None:
    """Run a PostgreSQL client tool on ``url``; the password goes by environment."""
    parsed = make_url(url)
    libpq: URL = parsed.set(drivername="postgresql", password=None)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    dsn = libpq.render_as_string(hide_password=False)
    done = subprocess.run(
        [*command, f"--dbname={dsn}"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        tool = Path(command[0]).name
        raise BackupFailed(f"{tool} failed: {done.stderr.strip()[-500:]}", tool=tool)


def check_empty(url: str) -> None:
    """Refuse a restore into a database that already holds something."""
    if database_kind(url) == "sqlite":
        path = sqlite_path(url)
        if path.exists():
            raise RestoreTargetNotEmpty(f"a database already exists at {path}", path=str(path))
        return
    engine = make_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise RestoreTargetNotEmpty(
            "the PostgreSQL database is not empty (restore needs a new, empty database)",
            tables=len(tables),
        )


def load(url: str, dump: Path) -> None:
    """Put the archived database in place: the SQLite file, or ``pg_restore``."""
    if database_kind(url) == "sqlite":
        target = sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(dump, target)
        return
    _run_pg(
        [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", str(dump)], url
    )
