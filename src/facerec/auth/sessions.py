"""Browser logins: checking a password, and the ``auth_sessions`` rows behind the cookie.

The cookie holds ``frs_...``; the table only its digest, with an absolute expiry
(``session_absolute_hours``). The idle expiry (``session_idle_minutes`` after
``last_seen_at``) is enforced where every request is resolved (``auth/resolve.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from facerec.auth import lockout
from facerec.auth.audit_log import audit
from facerec.auth.models import LoginSession, User
from facerec.auth.passwords import burn_time, verify_password
from facerec.auth.permissions import ROLE_PERMISSIONS, Role
from facerec.auth.principal import ANONYMOUS, Principal
from facerec.auth.tokens import digest, new_secret
from facerec.config import AuthSettings
from facerec.db.engine import lock_for_write
from facerec.errors import RateLimited, Unauthenticated


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login: the cookie's secret and who logged in."""

    secret: str
    principal: Principal
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Checked:
    """A password that matched: whose, and its new hash when the old one is outdated."""

    user_id: int
    rehash: str | None


def user_principal(user: User, *, session_id: int | None = None) -> Principal:
    role = Role(user.role)
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        role=role,
        permissions=ROLE_PERMISSIONS[role],
        via_cookie=session_id is not None,
        session_id=session_id,
    )


def refuse_if_locked(session: Session, *, username: str, address: str, now: datetime) -> None:
    """429 while the account or the address is locked, whatever the password."""
    keys = [lockout.user_key(username), lockout.address_key(address)]
    if (retry_after := lockout.locked_for(session, keys=keys, now=now)) is not None:
        raise RateLimited("too many failed logins; try again later", retry_after=retry_after)


def check_password(session: Session, *, username: str, password: str) -> Checked | None:
    """The enabled user whose password this is, else None (same work for unknown names).
    Reads only: ``start_session`` writes (a rehash too) under the write lock."""
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if user is None:
        burn_time(password)
        return None
    verdict = verify_password(user.password_hash, password)
    if not verdict.ok or user.disabled:
        return None
    assert user.id is not None
    return Checked(user_id=user.id, rehash=verdict.rehash)


def failed_login(
    session: Session,
    *,
    username: str,
    address: str,
    now: datetime,
    settings: AuthSettings,
) -> float:
    """Count and audit a failed login; the delay (seconds) its answer should wait."""
    session.rollback()  # nothing of the failed attempt is kept but the count and the entry
    delay = lockout.record_failure(
        session, username=username, address=address, now=now, limits=lockout.Limits.of(settings)
    )
    audit(
        session,
        actor=ANONYMOUS,
        action="login_failed",
        time=now,
        entity="user",
        entity_id=None,
        address=address,
        details={"username": username[:64], "address": address},
    )
    session.commit()
    return delay


def start_session(
    session: Session,
    *,
    checked: Checked,
    now: datetime,
    settings: AuthSettings,
    address: str | None,
    user_agent: str | None,
) -> Login:
    """Open a login (a new secret), save a rehash, reset the account's failures, audit;
    commits."""
    session.rollback()  # the write lock must be the transaction's first statement
    lock_for_write(session)
    user = session.get(User, checked.user_id)
    if user is None or user.disabled:  # changed since the password was checked
        session.rollback()
        raise Unauthenticated("wrong user name or password")
    if checked.rehash is not None:
        user.password_hash = checked.rehash
        session.add(user)
    secret = new_secret("frs")
    row = LoginSession(
        token_hash=digest(secret),
        user_id=checked.user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
        address=address[:64] if address else None,
        user_agent=user_agent[:200] if user_agent else None,
    )
    session.add(row)
    lockout.reset_user(session, username=user.username)
    session.flush()
    principal = user_principal(user, session_id=row.id)
    audit(
        session,
        actor=principal,
        action="login",
        entity="user",
        entity_id=user.id,
        address=address,
        time=now,
    )
    session.commit()
    return Login(secret=secret, principal=principal, expires_at=row.expires_at)


def end_session(session: Session, *, actor: Principal, address: str | None) -> None:
    """Log out: the session row goes (its cookie stops everywhere at once); commits."""
    lock_for_write(session)
    if actor.session_id is not None:
        session.execute(delete(LoginSession).where(col(LoginSession.id) == actor.session_id))
    audit(session, actor=actor, action="logout", entity="user", entity_id=actor.id, address=address)
    session.commit()


def end_user_sessions(session: Session, *, user_id: int, keep: int | None = None) -> None:
    """End every session of ``user_id`` but ``keep``; in the caller's transaction."""
    query = delete(LoginSession).where(col(LoginSession.user_id) == user_id)
    if keep is not None:
        query = query.where(col(LoginSession.id) != keep)
    session.execute(query)
