"""Person model family: base, create, update, public, and the table."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from facerec.db.models import timestamp_column, utcnow


class PersonBase(SQLModel):
    name: str = Field(min_length=1, max_length=200, index=True)
    external_id: str | None = Field(default=None, min_length=1, max_length=100, unique=True)
    note: str | None = Field(default=None, max_length=2000)


class PersonCreate(PersonBase):
    pass


class PersonUpdate(SQLModel):
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
