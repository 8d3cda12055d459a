"""A lease in the ``app_settings`` table: one holder at a time runs the retention job.

Every worker (of every host, with a shared PostgreSQL) tries to take it before a run,
under the write lock; the holder renews it each run, and when it stops (or dies) the
lease lapses and the next worker to try takes it over. The value is
``{"holder": "<host>:<pid>", "expires": "<ISO time>"}``.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from facerec.calibration.models import AppSetting
from facerec.db.engine import lock_for_write

LEASE_KEY = "retention_lease"


def this_process() -> str:
    """The holder name of this process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def take_lease(
    *, session: Session, holder: str, now: datetime, ttl: timedelta, key: str = LEASE_KEY
) -> bool:
    """Take or renew the lease until ``now + ttl``; False while another holder's is valid.
    ``key``: the ``app_settings`` row (another job, e.g. the webhook sender, has its own)."""
    lock_for_write(session)
    row = session.get(AppSetting, key)
    if row is not None:
        owner, expires = _read(row.value)
        if owner != holder and expires is not None and expires > now:
            session.rollback()
            return False
    row = row or AppSetting(key=key, value={})
    row.value = {"holder": holder, "expires": (now + ttl).isoformat()}
    session.add(row)
    session.commit()
    return True


def release_lease(*, session: Session, holder: str, key: str = LEASE_KEY) -> None:
    """Give the lease up (if ``holder`` has it), so another worker need not wait."""
    lock_for_write(session)
    row = session.get(AppSetting, key)
    if row is not None and _read(row.value)[0] == holder:
        session.delete(row)
    session.commit()


def lease_holder(*, session: Session, now: datetime, key: str = LEASE_KEY) -> str | None:
    """Who holds a valid lease at ``now``, if anyone."""
    row = session.get(AppSetting, key)
    if row is None:
        return None
    owner, expires = _read(row.value)
    return owner if expires is not None and expires > now else None


def _read(value: Any) -> tuple[str | None, datetime | None]:
    """Holder and expiry; a value this code did not write counts as lapsed."""
    if not isinstance(value, dict):
        return None, None
    try:
        expires = datetime.fromisoformat(str(value["expires"]))
    except (KeyError, ValueError):
        return None, None
    if expires.tzinfo is None:
        return None, None
    return str(value.get("holder")), expires
