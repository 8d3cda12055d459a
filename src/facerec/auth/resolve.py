"""From a presented secret to a :class:`Principal`, checked against the database on every
request, so a revoked key, device or session is refused by every worker at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from facerec.auth.models import ApiKey, Device, LoginSession, User
from facerec.auth.permissions import DEVICE_PERMISSIONS, ROLE_PERMISSIONS, Role, key_permissions
from facerec.auth.principal import Principal
from facerec.auth.tokens import digest, kind_of
from facerec.config import AuthSettings
from facerec.errors import DeviceRevoked, Unauthenticated

TOUCH_EVERY = timedelta(seconds=60)
"""``last_used_at`` / ``last_seen_at`` are written at most this often per credential."""


def principal_for_secret(
    session: Session, *, secret: str, now: datetime, settings: AuthSettings
) -> Principal:
    """The key or device that ``secret`` (Bearer / X-API-Key) names, or an error."""
    kind = kind_of(secret)
    if kind == "frk":
        return _key(session, secret=secret, now=now)
    if kind == "frd":
        return _device(session, secret=secret, now=now)
    if kind == "frs":
        return principal_for_session(session, secret=secret, now=now, settings=settings)
    raise Unauthenticated("unknown credential")


def principal_for_session(
    session: Session, *, secret: str, now: datetime, settings: AuthSettings
) -> Principal:
    """The user whose live login ``secret`` (the session cookie) is, or an error."""
    query = select(LoginSession).where(LoginSession.token_hash == digest(secret))
    row = session.exec(query).first()
    if row is None:
        raise Unauthenticated("not logged in, or the session has ended")
    idle = timedelta(minutes=settings.session_idle_minutes)
    if now >= row.expires_at or now >= row.last_seen_at + idle:
        session.delete(row)
        session.commit()
        raise Unauthenticated("the session has expired; log in again")
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise Unauthenticated("this account is disabled")
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
        session.commit()
    role = Role(user.role)
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        role=role,
        permissions=ROLE_PERMISSIONS[role],
        via_cookie=True,
        session_id=row.id,
    )


def _key(session: Session, *, secret: str, now: datetime) -> Principal:
    key = session.exec(select(ApiKey).where(ApiKey.secret_hash == digest(secret))).first()
    if key is None or key.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    if key.expires_at is not None and now >= key.expires_at:
        raise Unauthenticated("this API key has expired")
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
        key.last_used_at = now
        session.add(key)
        session.commit()
    role = Role(key.role)
    return Principal(
        kind="key",
        id=key.id,
        name=key.name,
        role=role,
        permissions=key_permissions(role, key.scopes),
    )


def _device(session: Session, *, secret: str, now: datetime) -> Principal:
    device = session.exec(select(Device).where(Device.token_hash == digest(secret))).first()
    if device is None:
        raise Unauthenticated("unknown device token")
    if device.revoked_at is not None:
        raise DeviceRevoked(f"the device {device.name!r} was revoked by an administrator")
    if device.last_seen_at is None or now - device.last_seen_at >= TOUCH_EVERY:
        device.last_seen_at = now
        session.add(device)
        session.commit()
    return Principal(kind="device", id=device.id, name=device.name, permissions=DEVICE_PERMISSIONS)
