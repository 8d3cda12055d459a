"""``facerec db copy --to URL``: move an installation's database to another one (SQLite to
PostgreSQL, typically) without changing a single id.

The target is migrated to the newest revision first and must hold nothing but what the
migrations put there (the change-log counter at 0 and the default schedule, replaced by
the source's). The source must be at the newest revision too (``facerec db upgrade``).
Tables go in foreign-key order, a batch at a time, read with the app's own column types
(times stay UTC-aware, JSON stays JSON, SQLite's 0/1 become booleans) and written with
their ids. PostgreSQL's sequences are then moved past the largest id copied, or past
SQLite's own AUTOINCREMENT counter where that is higher (ids deleted at the end of a table
are never handed out again there either). The row counts of both sides are compared, and
one audit entry (``copy``, entity ``database``) records the counts, all in the one target
transaction: a copy that fails leaves the target as empty as it found it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from facerec.audit.models import AuditEntry
from facerec.auth.principal import Principal
from facerec.db.engine import make_engine
from facerec.db.migrate import is_current, upgrade
from facerec.db.models import utcnow
from facerec.errors import CopyFailed, CopyTargetNotEmpty

SEEDED = {"index_state": 1, "attendance_schedules": 1}
"""Tables the migrations fill (at most this many rows); anything else in the target is data."""
BATCH = 1000
AUDIT: Table = AuditEntry.__table__  # type: ignore[attr-defined]


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    """Rows copied, by table, in the order they were copied."""

    @property
    def total(self) -> int:
        return sum(self.rows.values())


Progress = Callable[[str, int], None]
"""Told each table's name and its row count once the table is copied."""


def copy_database(
    source_url: str,
    target_url: str,
    *,
    actor: Principal,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy every row of ``source_url`` into the empty ``target_url`` (see the module)."""
    tables = _tables()
    source = make_engine(source_url)
    try:
        if not is_current(source):
            raise CopyFailed(
                "the source database is not at the newest revision: run facerec db upgrade"
            )
        upgrade(target_url)
        target = make_engine(target_url)
        try:
            return _copy(source, target, tables, actor=actor, batch=batch, progress=progress)
        finally:
            target.dispose()
    finally:
        source.dispose()


def _tables() -> list[Table]:
    """Every table of the app, parents before children."""
    import facerec.app  # noqa: F401  (imports every model, so the metadata is complete)

    return list(SQLModel.metadata.sorted_tables)


def _copy(
    source: Engine,
    target: Engine,
    tables: list[Table],
    *,
    actor: Principal,
    batch: int,
    progress: Progress | None,
) -> CopyReport:
    report = CopyReport()
    with source.connect() as read, target.begin() as write:
        if read.dialect.name == "sqlite":
            read.exec_driver_sql("BEGIN")  # one snapshot of the source for the whole copy
        _check_schema(read, write, tables)
        _check_empty(write, tables)
        for seeded in SEEDED:
            write.execute(text(f"DELETE FROM {seeded}"))
        for table in tables:
            report.rows[table.name] = _copy_table(read, write, table, batch)
            if progress is not None:
                progress(table.name, report.rows[table.name])
        _reset_sequences(read, write, tables)
        _verify(write, tables, report)
        _audit(write, actor, report)
    return report


def _check_schema(read: Connection, write: Connection, tables: list[Table]) -> None:
    """Every column on either side is one the app knows: nothing would be dropped."""
    known = {table.name: set(table.columns.keys()) for table in tables}
    for side, conn in (("source", read), ("target", write)):
        found = inspect(conn)
        for name in set(found.get_table_names()) - {"alembic_version"}:
            columns = {column["name"] for column in found.get_columns(name)}
            unknown = sorted(columns - known.get(name, set()))
            if name not in known or unknown:
                what = f"columns {', '.join(unknown)} in table" if unknown else "table"
                raise CopyFailed(
                    f"the {side} has {what} {name} that this version does not know",
                    table=name,
                )


def _check_empty(write: Connection, tables: list[Table]) -> None:
    for table in tables:
        count = write.execute(select(func.count()).select_from(table)).scalar_one()
        if count > SEEDED.get(table.name, 0):
            raise CopyTargetNotEmpty(
                f"the target database already holds data ({count} rows in {table.name}): "
                "copy into a new, empty database",
                table=table.name,
            )
    generation = write.execute(text("SELECT generation FROM index_state")).scalar()
    if generation:
        raise CopyTargetNotEmpty("the target database has been used (its change log is not at 0)")


def _copy_table(read: Connection, write: Connection, table: Table, batch: int) -> int:
    copied = 0
    order = list(table.primary_key.columns)
    rows = read.execution_options(yield_per=batch).execute(select(table).order_by(*order))
    for part in rows.mappings().partitions(batch):
        write.execute(table.insert(), [dict(row) for row in part])
        copied += len(part)
    return copied


def _reset_sequences(read: Connection, write: Connection, tables: list[Table]) -> None:
    """Each generated id continues after max(id) and after the source's own counter."""
    used = _counters(read, tables)
    for table in tables:
        column = table.columns.get("id")
        if column is None or not column.primary_key or column.autoincrement is False:
            continue
        top = write.execute(select(func.max(column))).scalar() or 0
        top = max(top, used.get(table.name, 0))
        if write.dialect.name == "postgresql":
            _set_pg_sequence(write, table.name, top)
        elif write.dialect.name == "sqlite" and top > 0:
            _set_sqlite_sequence(write, table.name, top)


def _counters(read: Connection, tables: list[Table]) -> dict[str, int]:
    """The highest id each table has ever handed out, where the source keeps it (SQLite's
    AUTOINCREMENT counters; a PostgreSQL source: its sequences)."""
    if read.dialect.name == "sqlite":
        if not inspect(read).has_table("sqlite_sequence"):
            return {}
        rows = read.execute(text("SELECT name, seq FROM sqlite_sequence"))
        return {str(name): int(seq) for name, seq in rows}
    if read.dialect.name == "postgresql":
        used = {}
        for table in tables:
            if "id" in table.columns:
                sequence = _pg_sequence(read, table.name)
                if sequence is not None:
                    last = read.execute(text(f"SELECT last_value, is_called FROM {sequence}"))
                    value, called = last.one()
                    used[table.name] = int(value) if called else 0
        return used
    return {}


def _pg_sequence(conn: Connection, table: str) -> str | None:
    query = text("SELECT pg_get_serial_sequence(:table, 'id')")
    sequence = conn.execute(query, {"table": table}).scalar()
    return None if sequence is None else str(sequence)


def _set_pg_sequence(write: Connection, table: str, top: int) -> None:
    sequence = _pg_sequence(write, table)
    if sequence is None:
        return
    if top > 0:
        write.execute(text("SELECT setval(:seq, :top, true)"), {"seq": sequence, "top": top})
    else:
        write.execute(text("SELECT setval(:seq, 1, false)"), {"seq": sequence})


def _set_sqlite_sequence(write: Connection, table: str, top: int) -> None:
    if not inspect(write).has_table("sqlite_sequence"):
        return  # no AUTOINCREMENT table at all
    values = {"table": table, "top": top}
    done = write.execute(
        text("UPDATE sqlite_sequence SET seq = max(seq, :top) WHERE name = :table"), values
    )
    if done.rowcount == 0:
        write.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :top)"), values)


def _verify(write: Connection, tables: list[Table], report: CopyReport) -> None:
    for table in tables:
        count = write.execute(select(func.count()).select_from(table)).scalar_one()
        if count != report.rows[table.name]:
            raise CopyFailed(
                f"{table.name}: {report.rows[table.name]} rows read, {count} in the target",
                table=table.name,
            )


def _audit(write: Connection, actor: Principal, report: CopyReport) -> None:
    entry = {
        "time": utcnow(),
        "actor": actor.label[:100],
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "action": "copy",
        "entity": "database",
        "reason": "",
        "details": {"rows": report.rows, "total": report.total},
    }
    write.execute(AUDIT.insert(), [entry])
