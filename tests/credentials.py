"""Credentials made straight in the database (no login, no admin API): a user with a live
session cookie, API keys of any role and scope, kiosk device tokens. Each helper returns
the secret a client sends."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from facerec.auth.models import ApiKey, Device, LoginSession, User
from facerec.auth.tokens import digest, new_secret


def session_cookie(db: Engine, *, username: str, role: str, now: datetime) -> str:
    """A user of ``role`` and a session of theirs alive at ``now`` (the cookie's value)."""
    secret = new_secret("frs")
    with Session(db) as session:
        user = User(username=username, password_hash="!unusable", role=role, created_at=now)
        session.add(user)
        session.flush()
        assert user.id is not None
        session.add(
            LoginSession(
                token_hash=digest(secret),
                user_id=user.id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
        session.commit()
    return secret


def api_key(
    db: Engine,
    *,
    name: str,
    role: str,
    now: datetime,
    scopes: tuple[str, ...] = (),
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
    key_id: int | None = None,
) -> str:
    """An API key row (optionally expired, revoked, or with a chosen id); its secret."""
    secret = new_secret("frk")
    with Session(db) as session:
        session.add(
            ApiKey(
                id=key_id,
                name=name,
                prefix=secret[:10],
                secret_hash=digest(secret),
                role=role,
                scopes=list(scopes),
                created_at=now,
                created_by="tests",
                expires_at=expires_at,
                revoked_at=revoked_at,
            )
        )
        session.commit()
    return secret


def device_token(
    db: Engine, *, name: str, now: datetime, revoked_at: datetime | None = None
) -> str:
    """A paired kiosk device; its token."""
    secret = new_secret("frd")
    with Session(db) as session:
        session.add(
            Device(
                name=name,
                location="test",
                token_hash=digest(secret),
                created_at=now,
                created_by="tests",
                paired_at=now,
                revoked_at=revoked_at,
            )
        )
        session.commit()
    return secret
