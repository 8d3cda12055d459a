"""Shared column helpers for the table models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored in UTC; read back timezone-aware even from SQLite (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timestamp_column(*, index: bool = False) -> Any:
    """A non-null UTC timestamp column for ``Field(sa_column=...)``."""
    return Column(UTCDateTime(), nullable=False, index=index)


MAX_ID = 2**31 - 1
"""The largest id a client may send: anything above is refused (422) before it reaches the
database. Ids are ``INTEGER`` columns: 64-bit in SQLite but 32-bit on PostgreSQL (``SERIAL``),
where a bigger parameter is an error of the query, not a row that is absent (a 500, not a
404). Two thousand million rows per table is far beyond one installation's records."""
