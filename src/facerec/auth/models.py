"""Tables of access control: users and their sessions, API keys, kiosk devices, and the
shared counters behind login lockout and rate limits. Secrets are stored as digests
(``tokens.digest``), passwords as Argon2 hashes (``passwords.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from facerec.db.models import UTCDateTime, timestamp_column, utcnow


def _optional_time() -> Column[datetime]:
    return Column(UTCDateTime(), nullable=True)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=16)
    """``admin``, ``manager`` or ``viewer`` (``permissions.Role``)."""
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    password_changed_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class LoginSession(SQLModel, table=True):
    """A browser's login: the cookie holds the secret, the table its digest."""

    __tablename__ = "auth_sessions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())
    """Absolute expiry; the idle expiry is ``last_seen_at`` + the idle setting."""
    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=200)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    """The secret's first characters, shown in lists so a key can be recognised."""
    secret_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Permission names narrowing the role; empty: the whole role."""
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    created_by: str = Field(default="", max_length=100)
    expires_at: datetime | None = Field(default=None, sa_column=_optional_time())
    last_used_at: datetime | None = Field(default=None, sa_column=_optional_time())
    revoked_at: datetime | None = Field(default=None, sa_column=_optional_time())


class Device(SQLModel, table=True):
    """A kiosk: its token can only check people in, and names the events it makes."""

    __tablename__ = "devices"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    location: str = Field(default="", max_length=200)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    """Set when the device is paired."""
    pairing_hash: str | None = Field(default=None, max_length=64, unique=True)
    """The one-time pairing link's secret, until used or expired."""
    pairing_expires_at: datetime | None = Field(default=None, sa_column=_optional_time())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    created_by: str = Field(default="", max_length=100)
    paired_at: datetime | None = Field(default=None, sa_column=_optional_time())
    last_seen_at: datetime | None = Field(default=None, sa_column=_optional_time())
    revoked_at: datetime | None = Field(default=None, sa_column=_optional_time())


class RateCounter(SQLModel, table=True):
    """A count in a time window, shared by every worker (login failures, request rates)."""

    __tablename__ = "rate_counters"

    key: str = Field(primary_key=True, max_length=200)
    """e.g. ``login:user:alice``, ``login:addr:10.0.0.5``, ``rate:key:12``."""
    window_start: datetime = Field(sa_column=timestamp_column())
    count: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=_optional_time())
