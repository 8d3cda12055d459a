"""The audit log's table and what the API shows of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from facerec.db.models import timestamp_column, utcnow


class AuditEntry(SQLModel, table=True):
    """One change: who made it (a user, API key or device; never a name the client
    wrote), when, from where, in which request, what and why."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_time", "time"),
        Index("ix_audit_log_entity", "entity", "entity_id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    time: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    actor: str = Field(max_length=100)
    """The actor's label (``Principal.label``): ``user:alice``, ``key:payroll``,
    ``device:front-door``, ``system:system``, ``system:cli:<os user>``."""
    actor_kind: str = Field(default="system", max_length=16)
    actor_id: int | None = None
    address: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=32)
    entity: str = Field(max_length=32)
    entity_id: int | None = None
    reason: str = Field(default="", max_length=500)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditPublic(SQLModel):
    id: int
    time: datetime
    actor: str
    actor_kind: str
    actor_id: int | None
    address: str | None
    request_id: str | None
    action: str
    entity: str
    entity_id: int | None
    reason: str
    details: dict[str, Any]


class AuditPage(SQLModel):
    items: list[AuditPublic]
    total: int
