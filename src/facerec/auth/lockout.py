"""Failed logins, counted in ``rate_counters`` rows that every worker shares.

Two counters per failure: the account (``login:user:<name>``, limit
``login_max_failures``) and the client address (``login:addr:<ip>``, four times that). A
count lives in a window of ``login_lock_minutes`` from its first failure; reaching the
limit locks the account or address for ``login_lock_minutes``: every login is then
refused (429), even with the right password. A successful login resets the account's
counter (not the address's: one good password must not reopen a spraying address).
Updates run under the database write lock, so workers never lose a count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from facerec.auth.models import RateCounter
from facerec.config import AuthSettings
from facerec.db.engine import lock_for_write

DELAY_STEP_S = 0.25
"""Each failure of an account adds this much to the answer's delay ..."""
DELAY_CAP_S = 2.0
"""... up to this."""
ADDRESS_FACTOR = 4


@dataclass(frozen=True, slots=True)
class Limits:
    user_limit: int
    address_limit: int
    lock: timedelta

    @classmethod
    def of(cls, settings: AuthSettings) -> Limits:
        return cls(
            user_limit=settings.login_max_failures,
            address_limit=ADDRESS_FACTOR * settings.login_max_failures,
            lock=timedelta(minutes=settings.login_lock_minutes),
        )


def user_key(username: str) -> str:
    return f"login:user:{username.strip().casefold()}"[:200]


def address_key(address: str) -> str:
    return f"login:addr:{address}"[:200]


def locked_for(session: Session, *, keys: list[str], now: datetime) -> int | None:
    """Seconds until the longest lock among ``keys`` ends, or None when none is locked."""
    ends = [
        row.locked_until
        for key in keys
        if (row := session.get(RateCounter, key)) is not None
        and row.locked_until is not None
        and row.locked_until > now
    ]
    if not ends:
        return None
    return max(1, math.ceil((max(ends) - now).total_seconds()))


def record_failure(
    session: Session, *, username: str, address: str, now: datetime, limits: Limits
) -> float:
    """Count a failed login (in the caller's transaction, which it commits); the delay in
    seconds the answer should wait."""
    lock_for_write(session)
    user = _count(
        session, key=user_key(username), limit=limits.user_limit, now=now, lock=limits.lock
    )
    addr = _count(
        session, key=address_key(address), limit=limits.address_limit, now=now, lock=limits.lock
    )
    session.commit()
    failures = max(user, math.ceil(addr / ADDRESS_FACTOR))
    return min(DELAY_CAP_S, DELAY_STEP_S * failures)


def reset_user(session: Session, *, username: str) -> None:
    """Forget the account's failures (after a successful login); the caller commits."""
    row = session.get(RateCounter, user_key(username))
    if row is not None:
        session.delete(row)


def _count(session: Session, *, key: str, limit: int, now: datetime, lock: timedelta) -> int:
    row = session.get(RateCounter, key)
    if row is None:
        row = RateCounter(key=key, window_start=now, count=0)
    elif now - row.window_start >= lock and (row.locked_until is None or row.locked_until <= now):
        row.window_start, row.count, row.locked_until = now, 0, None
    row.count += 1
    if row.count >= limit:
        row.locked_until = now + lock
    session.add(row)
    return row.count
