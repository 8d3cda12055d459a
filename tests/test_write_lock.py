"""The database write lock (``db.engine.lock_for_write``) on whichever database the suite
runs on (SQLite by default, PostgreSQL under ``make test-postgres``): a second writer waits
for the first to commit, then reads what the first wrote."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlmodel import Session, text

from facerec.config import Settings
from facerec.db.engine import lock_for_write, make_engine
from facerec.db.migrate import upgrade
from tests import postgres


def test_the_suite_runs_on_the_database_it_was_asked_for(settings: Settings) -> None:
    """Guards the PostgreSQL run itself: without it, a broken fixture would quietly test
    SQLite twice."""
    engine = make_engine(settings.db_url)
    try:
        expected = "postgresql" if postgres.enabled() else "sqlite"
        assert engine.dialect.name == expected
    finally:
        engine.dispose()


def test_a_second_writer_waits_for_the_first_and_sees_its_write(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    locked = threading.Event()
    seen: list[int] = []

    def second_writer() -> None:
        with Session(engine) as session:
            locked.set()
            lock_for_write(session)
            seen.append(session.execute(text("SELECT generation FROM index_state")).scalar_one())
            session.commit()

    try:
        with Session(engine) as first:
            lock_for_write(first)
            first.execute(text("UPDATE index_state SET generation = generation + 1"))
            waiting = threading.Thread(target=second_writer)
            waiting.start()
            assert locked.wait(10)
            waiting.join(timeout=1.0)
            assert waiting.is_alive(), "the second writer did not wait for the lock"
            assert seen == []
            first.commit()
        waiting.join(timeout=30)
        assert not waiting.is_alive()
        assert seen == [1]
    finally:
        engine.dispose()
