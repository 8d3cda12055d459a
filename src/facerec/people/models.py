"""Person model family: base, create, update, public, and the table."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import field_validator, model_validator
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from facerec.db.models import UTCDateTime, timestamp_column, utcnow


class PersonBase(SQLModel):
    name: str = Field(min_length=1, max_length=200, index=True)
    external_id: str | None = Field(default=None, min_length=1, max_length=100, unique=True)
    note: str | None = Field(default=None, max_length=2000)
    start_date: date | None = None
    """First day the person is expected (reports count no absence before it). Set on
    creation to the local day (attendance zone) unless given."""
    end_date: date | None = None
    """Last day the person is expected, if any (no absence counted after it)."""


CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NOTE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""A note may hold tabs and line breaks; names and external ids nothing invisible."""


class CheckedText(SQLModel):
    """What a client sends for a person: printable names and ids that are not blank."""

    @field_validator("name", "external_id", check_fields=False)
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None:
            if CONTROL.search(value):
                raise ValueError("must not contain control characters")
            if not value.strip():
                raise ValueError("must not be blank")
        return value

    @field_validator("note", check_fields=False)
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        if value is not None and NOTE_CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value


class DatesInOrder(SQLModel):
    @model_validator(mode="after")
    def _dates_in_order(self) -> Any:
        start, end = getattr(self, "start_date", None), getattr(self, "end_date", None)
        if start is not None and end is not None and end < start:
            raise ValueError("end_date must not be before start_date")
        return self


class PersonCreate(CheckedText, DatesInOrder, PersonBase):
    pass


class PersonUpdate(CheckedText, DatesInOrder):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    external_id: str | None = Field(default=None, min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)
    start_date: date | None = None
    end_date: date | None = None
    """Send null to clear the end date."""


class Person(PersonBase, table=True):
    __tablename__ = "people"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    deleted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    """Set when the person was removed: the row stays so that their attendance history
    does; their faces, photos and crops are gone (people/removal.py)."""


class PersonPublic(PersonBase):
    id: int
    face_count: int
    cover_face_id: int | None = None
    """The person's first face (its thumbnail is /faces/{id}/thumbnail), if any."""
    created_at: datetime
    updated_at: datetime


class PeoplePage(SQLModel):
    items: list[PersonPublic]
    total: int
