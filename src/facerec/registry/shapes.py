"""The public shapes of the model registry (API answers and bodies)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from facerec.registry.contract import Family, InputContract, Kind

ENGINE_NOTE = (
    "The choice is recorded (every worker reads it, and `remove` refuses the chosen "
    "models) but not active yet: the running engine is still the one the settings name "
    "(FACEREC_ENGINE, FACEREC_DETECTOR__MODEL). Switching engines and re-embedding the "
    "gallery come with issue #14 items 2-3."
)


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
    selected: bool


class BuiltinPublic(BaseModel):
    """A packaged dlib model: always installed, never removed."""

    name: str
    kind: Kind
    description: str
    selected: bool


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


class Selection(BaseModel):
    """The models chosen with ``models use`` (None: the settings' default)."""

    detector: str | None
    recogniser: str | None
    active: bool = False
    """Always false for now: see ``note``."""
    note: str = ENGINE_NOTE


class ModelList(BaseModel):
    models: list[ModelPublic]
    builtin: list[BuiltinPublic]
    packs: list[PackPublic]
    selection: Selection


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


class UseRequest(BaseModel):
    role: Kind | None = Field(
        None, description="Check that the model is of this kind (default: its own kind)"
    )
