"""The second set of vectors and the progress of a switch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel

from facerec.db.models import UTCDateTime


class FaceVector(SQLModel, table=True):
    """A face's descriptor by another model than the one its ``faces`` row holds: the
    target's while a switch re-embeds, the previous model's after it (switching back
    needs no re-embedding of these faces)."""

    __tablename__ = "face_vectors"

    face_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    model: str = Field(sa_column=Column(String(64), primary_key=True, nullable=False))
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """float32, little-endian, L2-normalised."""
    landmarks: list[list[float]] = Field(sa_column=Column(JSON, nullable=False))
    """The five points it was embedded from, in that model's order (they go into the
    ``faces`` row with the vector: a face row's points are its model's)."""


class ModelSwitch(SQLModel, table=True):
    """One row (id 1): the newest switch, pending, failed or done."""

    __tablename__ = "model_switches"

    id: int = Field(default=1, primary_key=True)
    recogniser: str = Field(max_length=64)
    detector: str = Field(max_length=64)
    model: str = Field(max_length=64)
    """The target recogniser's model id (the vectors it fills)."""
    status: str = Field(max_length=16)
    """``running``, ``failed`` (the old models still serve) or ``done``."""
    done: int = 0
    total: int = 0
    failed: int = 0
    """Faces whose photo could not be read: they keep the old vector and are not searched."""
    error: str = Field(default="", max_length=1000)
    actor: str = Field(default="", max_length=200)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    """The heartbeat of a running pass: one older than ``STALE_AFTER`` was interrupted."""
