"""The attendance audit log: every correction and setting change, with who and why."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from facerec.attendance.models import AuditEntry, AuditPage, AuditPublic


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Add an entry to the caller's transaction (it commits with the change it explains)."""
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            reason=reason,
            details=details or {},
        )
    )


def list_audit(*, session: Session, offset: int, limit: int) -> AuditPage:
    total = session.exec(select(func.count()).select_from(AuditEntry)).one()
    rows = session.exec(
        select(AuditEntry).order_by(col(AuditEntry.id).desc()).offset(offset).limit(limit)
    ).all()
    return AuditPage(items=[AuditPublic(**r.model_dump()) for r in rows], total=int(total))
