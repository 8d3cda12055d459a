"""What the API and /status show of the models in use and of a switch."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from facerec.switch.choice import Choice
from facerec.switch.models import ModelSwitch
from facerec.switch.service import is_running


class SwitchProgress(BaseModel):
    recogniser: str
    detector: str
    model: str
    status: str
    """``running``, ``interrupted`` (a running pass that stopped beating: run it again),
    ``failed`` (the old models serve) or ``done``."""
    done: int
    total: int
    failed: int
    error: str
    actor: str
    started_at: datetime
    updated_at: datetime


class ModelsInUse(BaseModel):
    recogniser: str
    detector: str
    model: str | None
    """The active recogniser's model id (None: no switch was made; the settings' models)."""
    switches: int
    switch: SwitchProgress | None
    """The newest switch, pending, failed or done."""


def progress_of(row: ModelSwitch | None, now: datetime) -> SwitchProgress | None:
    if row is None:
        return None
    status = row.status
    if status == "running" and not is_running(row, now):
        status = "interrupted"
    return SwitchProgress.model_validate(row, from_attributes=True).model_copy(
        update={"status": status}
    )


def in_use(choice: Choice, row: ModelSwitch | None, now: datetime) -> ModelsInUse:
    return ModelsInUse(
        recogniser=choice.recogniser,
        detector=choice.detector,
        model=choice.model,
        switches=choice.switches,
        switch=progress_of(row, now),
    )
