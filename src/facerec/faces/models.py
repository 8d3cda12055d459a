"""Image and face tables, and what the API shows of them (never the embedding)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import JSON, Column, ForeignKey, Integer, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from facerec.db.models import timestamp_column, utcnow


class Image(SQLModel, table=True):
    """A stored upload, content-addressed by its SHA-256."""

    __tablename__ = "images"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    size: int
    width: int
    height: int
    format: str = Field(max_length=16)
    path: str = Field(max_length=200)
    """Relative to the images directory."""
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class Face(SQLModel, table=True):
    """One enrolled face of a person, with its descriptor."""

    __tablename__ = "faces"
    __table_args__ = (
        UniqueConstraint("person_id", "image_id", name="uq_faces_person_image"),
        {"sqlite_autoincrement": True},  # ids are never reused (thumbnails are cached by id)
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    image_id: int = Field(foreign_key="images.id", index=True)
    x1: int
    y1: int
    x2: int
    y2: int
    landmarks: list[list[float]] = Field(sa_column=Column(JSON, nullable=False))
    det_score: float
    quality: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """float32, little-endian, L2-normalised."""
    model: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())

    @property
    def box(self) -> list[int]:
        return [self.x1, self.y1, self.x2, self.y2]

    def vector(self) -> NDArray[np.float32]:
        return np.frombuffer(self.embedding, dtype="<f4").astype(np.float32)


class FacePublic(SQLModel):
    id: int
    person_id: int
    image_id: int
    box: list[int]
    det_score: float
    quality: dict[str, float]
    landmarks: list[list[float]]
    model: str
    created_at: datetime
    duplicate: bool = False
    """True when this exact image was already enrolled for the person (nothing new stored)."""

    @classmethod
    def of(cls, face: Face, *, duplicate: bool = False) -> FacePublic:
        assert face.id is not None
        data: dict[str, Any] = {
            "id": face.id,
            "person_id": face.person_id,
            "image_id": face.image_id,
            "box": face.box,
            "det_score": face.det_score,
            "quality": face.quality,
            "landmarks": face.landmarks,
            "model": face.model,
            "created_at": face.created_at,
            "duplicate": duplicate,
        }
        return cls(**data)


class FaceRejection(SQLModel):
    """Why one uploaded photo was not enrolled."""

    index: int
    filename: str | None
    code: str
    message: str


class LooksLike(SQLModel):
    """The enrolled photo resembles another person: more than the person it was added to
    (at or above the match threshold), or it is the very file enrolled under them."""

    code: str = "looks_like"
    person_id: int
    name: str
    similarity: float
    same_image: bool = False
    """True when this exact file (same SHA-256) is already enrolled under that person."""


class EnrolWarning(LooksLike):
    """A :class:`LooksLike` about one uploaded photo, which was enrolled anyway."""

    index: int
    filename: str | None


class EnrolResult(SQLModel):
    faces: list[FacePublic]
    rejected: list[FaceRejection] = []
    warnings: list[EnrolWarning] = []


class FaceList(SQLModel):
    items: list[FacePublic]
    total: int
