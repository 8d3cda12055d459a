"""Workers that start together migrate one at a time: ``upgrade`` waits for the file lock
in the data folder, and two real processes upgrading one new database both succeed."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from facerec.db.engine import make_engine
from facerec.db.migrate import MIGRATION_LOCK, is_current, upgrade
from tests import postgres


def _tables(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with closing(sqlite3.connect(db)) as conn, conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}


def test_upgrade_waits_for_the_migration_lock(tmp_path: Path) -> None:
    db = tmp_path / "facerec.db"
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(f"sqlite:///{db}", lock_dir=tmp_path)
        except BaseException as exc:
            errors.append(exc)

    with (tmp_path / ".migrate.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another worker is migrating
        waiting = threading.Thread(target=migrate)
        waiting.start()
        waiting.join(timeout=3)
        assert waiting.is_alive(), "upgrade did not wait for the lock"
        assert "alembic_version" not in _tables(db)
        fcntl.flock(held, fcntl.LOCK_UN)
    waiting.join(timeout=60)
    assert not waiting.is_alive()
    assert errors == []
    assert {"alembic_version", "people", "faces", "images"} <= _tables(db)


def test_two_processes_upgrading_one_new_database_both_succeed(
    tmp_path: Path, empty_database_url: str
) -> None:
    """Both share the data dir's migration file lock; on PostgreSQL each has its own data
    dir (two hosts): no file lock is shared, the advisory lock in migrations/env.py makes
    them take turns."""
    facerec = Path(sys.executable).with_name("facerec")
    own_dir = postgres.enabled()
    envs = [
        {
            **os.environ,
            "FACEREC_DATA_DIR": str(tmp_path / (f"data{n}" if own_dir else "data")),
            "FACEREC_DATABASE_URL": empty_database_url,
        }
        for n in range(2)
    ]
    runs = [
        subprocess.Popen(
            [str(facerec), "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for env in envs
    ]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    engine = make_engine(empty_database_url)
    try:
        assert is_current(engine)
    finally:
        engine.dispose()


def test_on_postgresql_upgrade_waits_for_the_advisory_lock(empty_database_url: str) -> None:
    """Starters on different hosts share no file: the advisory lock is what they wait on."""
    if not postgres.enabled():
        pytest.skip("the advisory lock is PostgreSQL's (make test-postgres)")
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(empty_database_url)
        except BaseException as exc:
            errors.append(exc)

    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as held:
            held.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            waiting = threading.Thread(target=migrate)
            waiting.start()
            waiting.join(timeout=3)
            assert waiting.is_alive(), "upgrade did not wait for the advisory lock"
            assert not inspect(held).has_table("alembic_version")
            held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            held.commit()
        waiting.join(timeout=60)
        assert not waiting.is_alive()
        assert errors == []
        assert is_current(engine)
    finally:
        engine.dispose()
