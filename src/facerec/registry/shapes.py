"""The public shapes of the model registry (API answers and bodies)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from facerec.registry.contract import Family, InputContract, Kind


class ModelPublic(BaseModel):
    name: str
    kind: Kind
    family: Family
    contract: InputContract
    sha256: str
    size: int
    source: str
    pack: str | None
    licence: str
    licence_accepted: bool
    default_threshold: float | None
    threshold_source: str
    installed_at: datetime
    installed_by: str


class BuiltinPublic(BaseModel):
    """A packaged dlib model: always installed, never removed."""

    name: str
    kind: Kind
    description: str


class PackPublic(BaseModel):
    name: str
    title: str
    url: str
    """Where ``pull`` downloads it (the mirror's URL when ``models.mirror_url`` is set)."""
    sha256: str
    size: int | None
    licence: str
    licence_url: str
    accept_licence: bool
    """``pull`` needs ``accept_licence=true`` (``licence_note`` says why)."""
    licence_note: str
    models: list[str]
    installed: bool


class ModelList(BaseModel):
    models: list[ModelPublic]
    builtin: list[BuiltinPublic]
    packs: list[PackPublic]


class InstallResult(BaseModel):
    models: list[ModelPublic]
    """The pack's (or the file's) models, installed now or before."""
    installed: list[str]
    """Names installed by this call (empty: everything was there already)."""


class PullRequest(BaseModel):
    pack: str = Field(max_length=64, description="A known pack (GET /models lists them)")
    accept_licence: bool = Field(
        False, description="The operator accepts the pack's licence (needed for some)"
    )
