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

from facerec.db.migrate import upgrade


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


def test_two_processes_upgrading_one_new_database_both_succeed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    facerec = Path(sys.executable).with_name("facerec")
    env = {**os.environ, "FACEREC_DATA_DIR": str(data)}
    runs = [
        subprocess.Popen(
            [str(facerec), "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    with closing(sqlite3.connect(data / "facerec.db")) as conn, conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version
