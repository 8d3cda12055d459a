"""The one factory that turns settings into a face engine."""

from __future__ import annotations

from facerec.config import Settings
from facerec.errors import NotReady
from facerec.inference.types import FaceEngine


def build_engine(settings: Settings) -> FaceEngine:
    if settings.engine == "dlib":
        from facerec.inference.dlib_engine import DlibEngine
        from facerec.inference.parts import uses_registry

        if uses_registry(settings):
            raise NotReady(
                "registry models (detector.model, recogniser.model) run on the fast engine: "
                "set FACEREC_ENGINE=onnx"
            )

        return DlibEngine(settings.detector, tta=settings.inference.tta)
    from facerec.inference.onnx_engine import OnnxEngine

    return OnnxEngine(settings)


def with_model_threshold(settings: Settings, engine: object) -> Settings:
    """``settings`` with the recogniser's own match threshold (its registry manifest's
    ``default_threshold``) unless the operator set ``match_threshold``."""
    threshold = getattr(engine, "default_threshold", None)
    if threshold is None or "match_threshold" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"match_threshold": float(threshold)})
