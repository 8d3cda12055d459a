"""Audit entries for account actions (logins, failed logins, logouts, password and user
changes), through the shared ``facerec.audit.record``, in the caller's transaction.

``address``: the client address when the caller knows it; ``record`` otherwise takes it
from the request's context variable. Secrets and passwords never reach ``details``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from facerec.audit import record
from facerec.auth.principal import Principal


def audit(
    session: Session,
    *,
    actor: Principal,
    action: str,
    entity: str,
    entity_id: int | None,
    address: str | None = None,
    details: dict[str, Any] | None = None,
    time: datetime | None = None,
) -> None:
    entry = record(
        session,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        details=details,
        time=time,
    )
    if entry.address is None and address is not None:
        entry.address = address[:64]
