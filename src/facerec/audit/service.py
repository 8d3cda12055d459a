"""Recording changes and reading them back. No HTTP here: the client address and the
request id come from context variables (``audit/context.py``, ``facerec.logs``)."""

from __future__ import annotations

import csv
import getpass
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from facerec.attendance.export import csv_cell
from facerec.audit.context import current_address, current_time
from facerec.audit.models import AuditEntry, AuditPage, AuditPublic
from facerec.auth.permissions import Permission
from facerec.auth.principal import Principal
from facerec.logs import current_request_id

CSV_HEADER = [
    "id",
    "time",
    "actor",
    "actor_kind",
    "actor_id",
    "address",
    "request_id",
    "action",
    "entity",
    "entity_id",
    "reason",
    "details",
]


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    entity: str,
    entity_id: int | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
    time: datetime | None = None,
) -> AuditEntry:
    """Add an entry to the caller's transaction: it commits (or rolls back) with the
    change it explains. ``time``: the caller's clock when it has one, else the app's
    clock in a request (``audit/context.py``), else now."""
    entry = AuditEntry(
        actor=actor.label[:100],
        actor_kind=actor.kind,
        actor_id=actor.id,
        address=current_address(),
        request_id=current_request_id(),
        action=action,
        entity=entity,
        entity_id=entity_id,
        reason=reason[:500],
        details=details or {},
    )
    time = time or current_time()
    if time is not None:
        entry.time = time
    session.add(entry)
    return entry


def cli_actor() -> Principal:
    """Who a shell command acts as: ``system:cli:<os user>`` (whoever can run the CLI can
    read the database; the OS user name is what the audit log can honestly say)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        user = "unknown"
    return Principal(kind="system", id=None, name=f"cli:{user}", permissions=frozenset(Permission))


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of ``GET /audit``; None: no filter. ``start`` inclusive, ``end`` exclusive."""

    actor: str | None = None
    """Part of the actor's label, case-insensitive (a whole label matches itself)."""
    action: str | None = None
    entity: str | None = None
    entity_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    where: ColumnElement[bool] | None = None
    """An extra condition (the attendance page's own entities)."""


def _filtered(query: AuditQuery) -> SelectOfScalar[AuditEntry]:
    statement = select(AuditEntry)
    if query.actor:
        pattern = query.actor.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(
            func.lower(col(AuditEntry.actor)).like(f"%{pattern}%", escape="\\")
        )
    if query.action:
        statement = statement.where(AuditEntry.action == query.action)
    if query.entity:
        statement = statement.where(AuditEntry.entity == query.entity)
    if query.entity_id is not None:
        statement = statement.where(AuditEntry.entity_id == query.entity_id)
    if query.start is not None:
        statement = statement.where(col(AuditEntry.time) >= query.start)
    if query.end is not None:
        statement = statement.where(col(AuditEntry.time) < query.end)
    if query.where is not None:
        statement = statement.where(query.where)
    return statement


def list_audit(*, session: Session, query: AuditQuery, offset: int, limit: int) -> AuditPage:
    """Matching entries, newest (last written) first, and how many match in all."""
    statement = _filtered(query)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = session.exec(
        statement.order_by(col(AuditEntry.id).desc()).offset(offset).limit(limit)
    ).all()
    return AuditPage(items=[public(r) for r in rows], total=int(total))


def public(entry: AuditEntry) -> AuditPublic:
    return AuditPublic(**entry.model_dump())


def iter_audit(*, session: Session, query: AuditQuery, batch: int = 1000) -> Iterable[AuditEntry]:
    """Every matching entry, newest first, read ``batch`` rows at a time."""
    before: int | None = None
    while True:
        statement = _filtered(query)
        if before is not None:
            statement = statement.where(col(AuditEntry.id) < before)
        rows = session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        before = rows[-1].id


def to_csv(entries: Iterable[AuditEntry]) -> bytes:
    """UTF-8 with a byte-order mark; no cell can run as a formula (``csv_cell``);
    ``details`` as JSON, time in UTC (ISO 8601)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for e in entries:
        row: list[object] = [
            e.id,
            e.time.isoformat(),
            e.actor,
            e.actor_kind,
            "" if e.actor_id is None else e.actor_id,
            e.address or "",
            e.request_id or "",
            e.action,
            e.entity,
            "" if e.entity_id is None else e.entity_id,
            e.reason,
            json.dumps(e.details, ensure_ascii=False, sort_keys=True),
        ]
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue().encode("utf-8-sig")
