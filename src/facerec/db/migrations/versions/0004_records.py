"""Records you can trust: ids are never reused, a removed person stays in the history.

- SQLite: every table with an id of its own is rebuilt with ``AUTOINCREMENT`` (rows and
  ids kept), so a deleted id is never handed out again. PostgreSQL sequences never go
  back, so nothing changes there for this part.
- ``people`` gets ``deleted_at`` (a removed person is a tombstone: the row stays so that
  their attendance does), ``start_date`` and ``end_date``. ``start_date`` of existing
  people is the UTC day of ``created_at`` (new people get the local day of the attendance
  zone; for old rows the UTC day is the best the database knows).
- ``attendance_events.person_id`` and ``attendance_person_schedules.person_id`` no longer
  cascade on delete (RESTRICT): people rows are not deleted any more, and if one ever were,
  its history must not silently go with it.

Downgrade is not supported: in 0003 a removed person would come back as an active one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from facerec.db.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID_TABLES = (
    "people",
    "images",
    "faces",
    "attendance_events",
    "unknown_faces",
    "attendance_schedules",
    "attendance_audit",
)
"""Tables whose ids must never come back. Unknown-face groups are named by the id of their
first face (``checkin._remember_unknown``), so they follow ``unknown_faces``."""

PERSON_LINKS = ("attendance_events", "attendance_person_schedules")
"""Tables whose ``person_id`` cascaded on delete and now restricts."""

NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
"""SQLite's foreign keys have no names; batch mode names them by this to drop one."""


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        _require_foreign_keys_off(bind)
    for table in ID_TABLES:
        with _batch(table, sqlite) as batch:
            if table == "people":
                batch.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
                batch.add_column(sa.Column("start_date", sa.Date, nullable=True))
                batch.add_column(sa.Column("end_date", sa.Date, nullable=True))
            if table == "attendance_events":
                _restrict_person(batch, table, sqlite)
    with _batch("attendance_person_schedules", sqlite) as batch:
        _restrict_person(batch, "attendance_person_schedules", sqlite)
    _backfill_start_dates(bind)
    if sqlite:
        _seed_sequences(bind)
        problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")


def downgrade() -> None:
    raise NotImplementedError(
        "0004 cannot be undone: people removed since would come back as active people "
        "(their faces are gone) and ids could be reused. Restore a backup taken before it."
    )


def _batch(table: str, sqlite: bool) -> Any:
    if not sqlite:  # ALTER statements in place; PostgreSQL sequences never reuse ids
        return op.batch_alter_table(table)
    return op.batch_alter_table(
        table,
        recreate="always",
        table_kwargs={"sqlite_autoincrement": table in ID_TABLES},
        naming_convention=NAMING,
    )


def _restrict_person(batch: Any, table: str, sqlite: bool) -> None:
    name = _person_fk_name(table) if not sqlite else f"fk_{table}_person_id_people"
    batch.drop_constraint(name, type_="foreignkey")
    batch.create_foreign_key(
        f"fk_{table}_person_id_people", "people", ["person_id"], ["id"], ondelete="RESTRICT"
    )


def _person_fk_name(table: str) -> str:
    for fk in sa.inspect(op.get_bind()).get_foreign_keys(table):
        if fk["referred_table"] == "people" and fk["constrained_columns"] == ["person_id"]:
            return str(fk["name"])
    raise RuntimeError(f"{table}.person_id has no foreign key to people")


def _backfill_start_dates(bind: sa.Connection) -> None:
    """``created_at`` is stored in UTC: its UTC day, as the module docstring says."""
    day = (
        "date(created_at)"
        if bind.dialect.name == "sqlite"
        else "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
    )
    bind.exec_driver_sql(f"UPDATE people SET start_date = {day} WHERE start_date IS NULL")


def _require_foreign_keys_off(bind: sa.Connection) -> None:
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "0004 rebuilds tables and must run with foreign keys off (migrations/env.py "
            "turns them off); with them on, dropping a table would cascade into its children"
        )


def _seed_sequences(bind: sa.Connection) -> None:
    """Start each table's AUTOINCREMENT counter after its largest id.

    Copying the rows already moves the counter there; this makes sure of it (an empty
    table starts at 0). An id deleted before this migration that was above the largest
    one still present cannot be known any more (SQLite kept no record of it): that one
    id may be handed out once more, never again after.
    """
    for table in ID_TABLES:
        top = bind.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar() or 0
        seen = bind.exec_driver_sql(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
        ).fetchone()
        if seen is None:
            bind.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, top)
            )
        elif seen[0] < top:
            bind.exec_driver_sql("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (top, table))
