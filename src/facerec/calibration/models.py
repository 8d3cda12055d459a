"""The stored active threshold and what calibration reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class AppSetting(SQLModel, table=True):
    """Settings changed at run time and shared by every worker (the database is the truth)."""

    __tablename__ = "app_settings"

    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(sa_column=Column(JSON, nullable=False))


class TradeOff(SQLModel):
    threshold: float
    far: float
    """Share of different-person face pairs scoring at or above the threshold."""
    frr: float | None
    """Share of same-person face pairs scoring below it (None without such pairs)."""


class LookAlike(SQLModel):
    person_a: int
    name_a: str
    person_b: int
    name_b: str
    similarity: float


class CalibrationNote(SQLModel):
    """One warning by a stable ``code`` (``sampled``, ``cannot_measure``, ``no_genuine``,
    ``look_alikes``) and its numbers, so a client can say it in its own language."""

    code: str
    message: str
    """The same warning in English (as in ``Calibration.warnings``)."""
    values: dict[str, int | float] = Field(default_factory=dict)
    """``faces`` (sampled), ``n`` pairs and ``far`` (cannot_measure), ``n`` (look_alikes)."""


class Calibration(SQLModel):
    model: str
    people: int
    faces: int
    impostor_pairs: int
    genuine_pairs: int
    target_far: float
    recommended_threshold: float | None
    """Lowest threshold whose measured FAR is at most the target (None: no impostor pairs)."""
    reliable: bool
    """False when there are too few different-person pairs to measure the target FAR."""
    active_threshold: float
    default_threshold: float
    table: list[TradeOff]
    look_alikes: list[LookAlike]
    """Pairs of different people whose best faces score at or above the active threshold."""
    warnings: list[str]
    notes: list[CalibrationNote] = Field(default_factory=list)
    """``warnings`` with codes and values, in the same order."""


class ThresholdIn(SQLModel):
    threshold: float = Field(ge=0.0, le=1.0)


class ThresholdOut(SQLModel):
    active_threshold: float
    default_threshold: float
    source: str
    """``calibrated`` (stored by an operator) or ``settings`` (FACEREC_MATCH_THRESHOLD)."""
