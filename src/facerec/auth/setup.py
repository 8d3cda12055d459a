"""First run: while no administrator exists, a one-time set-up link creates the first one.

``facerec serve`` (the supervisor, before any worker starts) calls ``issue_setup_token``:
a new ``fru_...`` secret each start, its digest and expiry in the ``app_settings`` row
``setup_token`` (so only the latest link works, on every worker), and prints the link.
``complete_setup`` checks the token, creates the admin and deletes the row. Once an
administrator exists, set-up is refused for good (409), whatever the token.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlmodel import Session, select

from facerec.auth.models import User
from facerec.auth.permissions import Role
from facerec.auth.principal import ANONYMOUS
from facerec.auth.shapes import SetupIn, UserCreate
from facerec.auth.tokens import digest, new_secret
from facerec.auth.users import create_user
from facerec.calibration.models import AppSetting
from facerec.config import Settings
from facerec.db.engine import lock_for_write
from facerec.errors import Conflict, Forbidden

SETUP_KEY = "setup_token"
SETUP_TTL = timedelta(hours=24)


def admin_exists(session: Session) -> bool:
    """Whether any administrator account exists (enabled or not)."""
    query = select(User.id).where(User.role == Role.ADMIN.value).limit(1)
    return session.exec(query).first() is not None


def issue_setup_token(*, session: Session, now: datetime) -> str | None:
    """A new set-up secret (the previous one stops), or None when an admin exists."""
    lock_for_write(session)
    row = session.get(AppSetting, SETUP_KEY)
    if admin_exists(session):
        if row is not None:
            session.delete(row)
        session.commit()
        return None
    secret = new_secret("fru")
    row = row or AppSetting(key=SETUP_KEY, value={})
    row.value = {"digest": digest(secret), "expires": (now + SETUP_TTL).isoformat()}
    session.add(row)
    session.commit()
    return secret


def complete_setup(
    *, session: Session, setup_in: SetupIn, now: datetime, address: str | None = None
) -> User:
    """Create the first administrator with a valid, unexpired token; the token is used up."""
    lock_for_write(session)
    if admin_exists(session):
        session.rollback()
        raise Conflict("set-up is done: an administrator exists")
    row = session.get(AppSetting, SETUP_KEY)
    if row is None or not _valid(row.value, token=setup_in.token, now=now):
        session.rollback()
        raise Forbidden(
            "the set-up link is invalid or has expired; restart the server for a new one"
        )
    session.delete(row)
    session.flush()
    user_in = UserCreate(username=setup_in.username, password=setup_in.password, role=Role.ADMIN)
    return create_user(
        session=session,
        user_in=user_in,
        actor=ANONYMOUS,
        now=now,
        address=address,
        action="setup",
    )


def setup_link(settings: Settings, secret: str) -> str:
    """``<public_url or http://host:port>/setup?token=...``."""
    base = settings.auth.public_url
    if not base:
        host = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host
        host = f"[{host}]" if ":" in host else host
        base = f"http://{host}:{settings.port}"
    return f"{base.rstrip('/')}/setup?token={secret}"


def _valid(value: object, *, token: str, now: datetime) -> bool:
    if not isinstance(value, dict):
        return False
    try:
        expires = datetime.fromisoformat(str(value["expires"]))
    except (KeyError, ValueError):
        return False
    expected = str(value.get("digest", ""))
    return expires > now and hmac.compare_digest(expected, digest(token))
