"""Person model family: base, create, update, public, and the table."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import field_validator
from sqlmodel import Field, SQLModel

from facerec.db.models import timestamp_column, utcnow


class PersonBase(SQLModel):
    name: str = Field(min_length=1, max_length=200, index=True)
    external_id: str | None = Field(default=None, min_length=1, max_length=100, unique=True)
    note: str | None = Field(default=None, max_length=2000)


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


class PersonCreate(CheckedText, PersonBase):
    pass


class PersonUpdate(CheckedText):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    external_id: str | None = Field(default=None, min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class Person(PersonBase, table=True):
    __tablename__ = "people"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


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
