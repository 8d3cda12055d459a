"""The database itself: schema revision, SQLite's own integrity and foreign-key checks."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlmodel import Session, text

from facerec.db.migrate import alembic_config
from facerec.doctor.report import Finding


def schema_findings(session: Session) -> list[Finding]:
    """The database must be at the newest migration: the other checks read that schema."""
    connection = session.connection()
    head = ScriptDirectory.from_config(alembic_config(str(connection.engine.url))).get_heads()
    current = MigrationContext.configure(connection).get_current_heads()
    if set(current) == set(head):
        return []
    shown = ", ".join(current) or "none (empty database)"
    return [Finding("schema_not_at_head", "alembic_version", f"at {shown}, head {head[0]}")]


def sqlite_findings(session: Session) -> list[Finding]:
    """``PRAGMA integrity_check`` and ``foreign_key_check``; nothing on other dialects."""
    connection: Connection = session.connection()
    if connection.dialect.name != "sqlite":
        return []
    found = [
        Finding("sqlite_integrity", "database", str(row[0]))
        for row in connection.execute(text("PRAGMA integrity_check"))
        if row[0] != "ok"
    ]
    for table, rowid, parent, _fk in connection.execute(text("PRAGMA foreign_key_check")):
        found.append(Finding("foreign_key", f"{table} {rowid}", f"refers to a missing {parent}"))
    return found
