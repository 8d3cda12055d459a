"""Plain SQL on a test's database, whichever it is: for the tests that damage or inspect
rows behind the app's back. Statements use ``?`` placeholders on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from facerec.config import Settings


def run_sql(url: str, statement: str, *args: object) -> list[tuple[Any, ...]]:
    """Run one statement in its own committed transaction; its rows (none for a write)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        if engine.dialect.name == "postgresql":
            statement = statement.replace("?", "%s")  # psycopg's placeholder
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(statement, args)
            rows = [tuple(row) for row in cursor.fetchall()] if cursor.description else []
            conn.commit()
            return rows
        finally:
            conn.close()
    finally:
        engine.dispose()


def database_of(data_dir: Path) -> str:
    """The URL of the database a server on ``data_dir`` uses (the test's own on
    PostgreSQL: ``FACEREC_DATABASE_URL``, which the servers inherit)."""
    return Settings(data_dir=data_dir).db_url
