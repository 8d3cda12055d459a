"""Webhook tables and their public shapes.

``webhook_endpoints``: where events go (URL, the events it wants, the signing secret,
enabled). ``webhook_deliveries``: the outbox and the delivery log in one table, one row
per event and endpoint, written in the event's own transaction (``outbox.py``) and
updated by the sender (``sender.py``). The secret is kept as written (HMAC needs it, a
digest would not do) and appears in no public shape but :class:`EndpointCreated`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from facerec.db.models import UTCDateTime, timestamp_column, utcnow

EventName = Literal[
    "checkin.created",
    "unknown_face.queued",
    "person.created",
    "person.deleted",
    "face.enrolled",
]
EVENTS: tuple[str, ...] = get_args(EventName)
DeliveryStatus = Literal["pending", "sent", "failed"]


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=200)
    """In clear: the sender signs with it. Never in an answer after creation, nor in logs."""
    enabled: bool = True
    description: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    created_by: str = Field(default="", max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=36, unique=True)
    """A UUID: the ``X-FaceRec-Delivery`` header, the same on every attempt (idempotency)."""
    endpoint_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    event: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)
    """``pending`` (waiting for its next attempt), ``sent`` (a 2xx came back), ``failed``."""
    attempts: int = 0
    created_at: datetime = Field(sa_column=timestamp_column())
    """When the event happened (its transaction's time)."""
    queued_at: datetime = Field(sa_column=timestamp_column())
    """Start of the current series of attempts (creation, or the last redelivery): the
    maximum age counts from here."""
    next_attempt_at: datetime = Field(sa_column=timestamp_column(index=True))
    last_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the URL must be http:// or https:// with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("no credentials in the URL (they would show in lists and logs)")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        raise ValueError("the URL's port is not valid") from exc
    return value


class EndpointCreate(BaseModel):
    url: str = PydanticField(min_length=1, max_length=2000)
    events: list[EventName] = PydanticField(min_length=1, max_length=len(EVENTS))
    secret: str | None = PydanticField(default=None, min_length=16, max_length=200)
    """Your own signing secret; without one a new ``whsec_...`` is generated (shown once)."""
    enabled: bool = True
    description: str = PydanticField(default="", max_length=200)

    _url = field_validator("url")(_check_url)


class EndpointUpdate(BaseModel):
    url: str | None = PydanticField(default=None, min_length=1, max_length=2000)
    events: list[EventName] | None = PydanticField(default=None, min_length=1)
    secret: str | None = PydanticField(default=None, min_length=16, max_length=200)
    """A new signing secret (it is not shown back)."""
    enabled: bool | None = None
    description: str | None = PydanticField(default=None, max_length=200)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)


class EndpointPublic(BaseModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    description: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    pending: int = 0
    failed: int = 0


class EndpointCreated(EndpointPublic):
    secret: str
    """The signing secret: shown this once, never again."""


class EndpointPage(BaseModel):
    items: list[EndpointPublic]
    total: int


class DeliveryPublic(BaseModel):
    id: int
    delivery_id: str
    endpoint_id: int
    event: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    sent_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    total: int
