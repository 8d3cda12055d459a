"""API keys: created by an admin, shown once, stored as a digest, narrowed by scopes,
optionally expiring, revocable. ``resolve.py`` checks them on every request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, select

from facerec.audit import record
from facerec.auth.models import ApiKey
from facerec.auth.permissions import ROLE_PERMISSIONS, Role
from facerec.auth.principal import Principal
from facerec.auth.tokens import digest, new_secret
from facerec.db.engine import lock_for_write
from facerec.errors import NotFound, ValidationFailed

PREFIX_CHARS = 12
"""How much of a secret lists show (``frk_`` and 8 random characters)."""


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role
    scopes: list[str] = Field(default_factory=list, max_length=20)
    """Permission names held by ``role``; empty: the whole role."""
    expires_at: datetime | None = None


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    role: Role
    scopes: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyPage(BaseModel):
    items: list[KeyPublic]
    total: int


class KeyCreated(BaseModel):
    key: KeyPublic
    secret: str
    """Shown once: only its digest is stored."""


def create_key(
    *, session: Session, key_in: KeyCreate, actor: Principal, now: datetime
) -> KeyCreated:
    scopes = _checked_scopes(key_in.role, key_in.scopes)
    expires_at = key_in.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValidationFailed("expires_at needs a time zone (e.g. Z)", field="expires_at")
        if expires_at <= now:
            raise ValidationFailed("expires_at is in the past", field="expires_at")
    secret = new_secret("frk")
    key = ApiKey(
        name=key_in.name,
        prefix=secret[:PREFIX_CHARS],
        secret_hash=digest(secret),
        role=key_in.role.value,
        scopes=scopes,
        created_at=now,
        created_by=actor.label,
        expires_at=expires_at,
    )
    lock_for_write(session)
    session.add(key)
    session.flush()
    details: dict[str, Any] = {"name": key.name, "prefix": key.prefix, "role": key.role}
    details |= {"scopes": scopes, "expires_at": expires_at.isoformat() if expires_at else None}
    record(
        session,
        actor=actor,
        action="key.create",
        entity="api_key",
        entity_id=key.id,
        details=details,
        time=now,
    )
    session.commit()
    return KeyCreated(key=_public(key), secret=secret)


def _checked_scopes(role: Role, scopes: list[str]) -> list[str]:
    held = {p.value for p in ROLE_PERMISSIONS[role]}
    unknown = [s for s in scopes if s not in held]
    if unknown:
        raise ValidationFailed(
            f"scopes not held by the {role.value} role: {', '.join(unknown)}",
            field="scopes",
            allowed=sorted(held),
        )
    return sorted(set(scopes))


def list_keys(*, session: Session, offset: int = 0, limit: int = 100) -> KeyPage:
    total = session.exec(select(func.count()).select_from(ApiKey)).one()
    rows = session.exec(select(ApiKey).order_by(col(ApiKey.id)).offset(offset).limit(limit))
    return KeyPage(items=[_public(k) for k in rows.all()], total=int(total))


def revoke_key(*, session: Session, key_id: int, actor: Principal, now: datetime) -> None:
    """Revoke a key (again is fine: the first time stays)."""
    lock_for_write(session)
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}", resource="api_key")
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        record(
            session,
            time=now,
            actor=actor,
            action="key.revoke",
            entity="api_key",
            entity_id=key.id,
            details={"name": key.name, "prefix": key.prefix},
        )
    session.commit()


def _public(key: ApiKey) -> KeyPublic:
    assert key.id is not None
    return KeyPublic(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        role=Role(key.role),
        scopes=list(key.scopes),
        created_at=key.created_at,
        created_by=key.created_by,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )
