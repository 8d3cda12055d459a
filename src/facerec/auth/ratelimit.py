"""Request rates per API key and per kiosk device, shared by every worker.

Each key or device has one ``rate_counters`` row (``rate:key:<id>``, ``rate:device:<id>``)
counting its requests in a fixed one-minute window (from the injected clock). One UPSERT
per request counts and reads the count at once, so ``--workers N`` share one limit rather
than N. Over the limit: ``RateLimited`` (429) with the seconds left in the window. Users
(the session cookie) are not limited here: their logins are (lockout).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from facerec.auth.models import RateCounter
from facerec.auth.principal import Principal
from facerec.config import AuthSettings
from facerec.errors import RateLimited

WINDOW = timedelta(minutes=1)


def window_start(now: datetime) -> datetime:
    """The start of the fixed one-minute window holding ``now`` (UTC)."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def count_request(
    session: Session, *, principal: Principal, now: datetime, settings: AuthSettings
) -> None:
    """Count one request of a key or device; ``RateLimited`` once past its limit."""
    if principal.kind == "key":
        limit = settings.key_requests_per_minute
    elif principal.kind == "device":
        limit = settings.device_requests_per_minute
    else:
        return
    hit(session, key=f"rate:{principal.kind}:{principal.id}", limit=limit, now=now)


def hit(session: Session, *, key: str, limit: int, now: datetime) -> int:
    """Add one to ``key``'s count in the current window (committed); the new count, or
    ``RateLimited`` when it is over ``limit``."""
    start = window_start(now)
    count = _upsert(session, key=key, start=start)
    session.commit()
    if count > limit:
        left = (start + WINDOW - now).total_seconds()
        raise RateLimited(
            f"more than {limit} requests a minute; retry later",
            retry_after=max(1, math.ceil(left)),
        )
    return count


def _upsert(session: Session, *, key: str, start: datetime) -> int:
    table: Any = RateCounter.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(key=key, window_start=start, count=1)
    same_window = table.c.window_start == statement.excluded.window_start
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": case((same_window, table.c["count"] + 1), else_=1),
            "window_start": statement.excluded.window_start,
        },
    ).returning(table.c["count"])
    return int(session.execute(statement).scalar_one())
