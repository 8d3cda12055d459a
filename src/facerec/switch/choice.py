"""The active models: the database's choice, else the settings'.

Every worker and host reads the choice from ``index_state`` (the row each search
already reads), so one ``facerec models use`` changes all of them. Until a choice is
made, the settings (``FACEREC_RECOGNISER__MODEL``, ``FACEREC_DETECTOR__MODEL``) name
the models.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from facerec.config import Settings
from facerec.index.models import IndexState
from facerec.inference.parts import DLIB_DETECTORS, DLIB_RECOGNISER


@dataclass(frozen=True, slots=True)
class Choice:
    recogniser: str
    detector: str
    model: str | None
    """The active recogniser's model id; None until a switch stored one."""
    switches: int


def read_choice(session: Session, settings: Settings) -> Choice:
    row = session.exec(select(IndexState).where(IndexState.id == 1)).one()
    return Choice(
        recogniser=row.recogniser or settings.recogniser.model,
        detector=row.detector or settings.detector.model,
        model=row.model,
        switches=row.switches,
    )


def settings_for(settings: Settings, *, recogniser: str, detector: str) -> Settings:
    """``settings`` naming these models; registry models run on the fast engine."""
    update: dict[str, object] = {
        "recogniser": settings.recogniser.model_copy(update={"model": recogniser}),
        "detector": settings.detector.model_copy(update={"model": detector}),
    }
    if recogniser != DLIB_RECOGNISER or detector not in DLIB_DETECTORS:
        update["engine"] = "onnx"
    return settings.model_copy(update=update)
