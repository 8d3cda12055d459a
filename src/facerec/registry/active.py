"""The models a running server uses, as ``/status`` shows them: name, kind, licence, and
for the recogniser its model id and the match threshold in force.

The recogniser is read from the running runtime's model id (``dlib-resnet-v1+mirror``,
``mobilefacenet@85cdeb73+mirror``), the detector from the settings the engine was built
with. Registry models take their licence from their manifest; dlib's from what their
packages declare: the HOG detector is code inside dlib (``dlib-bin``: Boost Software
License), the CNN detector, the 5-point shape predictor and the ResNet are the files of
``face_recognition_models`` 0.3.0, whose README and LICENSE file say "public domain or
CC0 1.0 Universal" (its ``License: MIT`` metadata line is the package's boilerplate).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from facerec.config import Settings
from facerec.inference.parts import DLIB_DETECTORS, DLIB_RECOGNISER
from facerec.registry.store import ModelStore

DLIB_LICENCE = "Boost Software License 1.0 (dlib)"
DLIB_MODELS_LICENCE = "CC0 1.0 Universal (face_recognition_models: Davis King's dlib-models)"
ModelRole = Literal["detector", "fallback_detector", "landmarks", "recogniser"]
ModelKind = Literal["detector", "landmarks", "recogniser"]
KIND_OF: dict[ModelRole, ModelKind] = {
    "detector": "detector",
    "fallback_detector": "detector",
    "landmarks": "landmarks",
    "recogniser": "recogniser",
}


class ActiveModel(BaseModel):
    """One model the server runs."""

    role: ModelRole
    name: str
    kind: ModelKind
    licence: str
    model_id: str | None = None
    """The recogniser's id as answers carry it (with its recipe, e.g. ``+mirror``)."""
    threshold: float | None = None
    """The recogniser's match threshold in force (``calibration.threshold_value``)."""


BUILTIN: dict[str, tuple[str, str]] = {
    "hog": ("dlib-hog", DLIB_LICENCE),
    "cnn": ("dlib-cnn", DLIB_MODELS_LICENCE),
    "landmarks": ("dlib-shape-predictor-5", DLIB_MODELS_LICENCE),
    DLIB_RECOGNISER: (DLIB_RECOGNISER, DLIB_MODELS_LICENCE),
}


def active_models(
    settings: Settings, *, model_id: str, fallback: bool, threshold: float
) -> list[ActiveModel]:
    """What runs: the detector (and the CNN when it is the ``fallback``), the shape
    predictor where points come from it (dlib's descriptor, dlib's boxes: the fallback's
    too), and the recogniser of ``model_id``."""
    detector = settings.detector.model
    recogniser = recogniser_name(model_id)
    models = [_model(settings, "detector", detector)]
    if fallback:
        models.append(_model(settings, "fallback_detector", "cnn"))
    if recogniser == DLIB_RECOGNISER or detector in DLIB_DETECTORS or fallback:
        models.append(_model(settings, "landmarks", "landmarks"))
    found = _model(settings, "recogniser", recogniser)
    models.append(found.model_copy(update={"model_id": model_id, "threshold": threshold}))
    return models


def recogniser_name(model_id: str) -> str:
    """``dlib-resnet-v1+mirror`` -> ``dlib-resnet``; ``mobilefacenet@85cdeb73`` ->
    ``mobilefacenet`` (``parts.Installed.model_id`` and the TTA's suffix)."""
    base = model_id.split("+", 1)[0]
    if base.startswith(DLIB_RECOGNISER):
        return DLIB_RECOGNISER
    return base.split("@", 1)[0]


def _model(settings: Settings, role: ModelRole, name: str) -> ActiveModel:
    kind = KIND_OF[role]
    if name in BUILTIN:
        shown, licence = BUILTIN[name]
        return ActiveModel(role=role, name=shown, kind=kind, licence=licence)
    manifest = ModelStore(settings.models_dir).find(name)
    licence = manifest.licence if manifest is not None else "unknown (no manifest)"
    return ActiveModel(role=role, name=name, kind=kind, licence=licence)
