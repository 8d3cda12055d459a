"""Alembic migrations, applied programmatically (at start and by ``facerec db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from facerec.file_lock import turn

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x66616365726563
"""PostgreSQL: the advisory lock migrations hold until they commit ("facerec" in hex), so
that starters on several hosts take turns (``migrations/env.py``)."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, lock_dir: Path | None = None) -> None:
    """Bring the database to the newest revision.

    With ``lock_dir``, a file lock there makes concurrent starters (several server
    workers) take turns; the second finds nothing left to do.
    """
    config = alembic_config(url)
    if lock_dir is None:
        command.upgrade(config, "head")
        return
    with turn(lock_dir / ".migrate.lock"):
        command.upgrade(config, "head")


def is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head
