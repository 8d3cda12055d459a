"""The one factory that turns settings into a face engine."""

from __future__ import annotations

from facerec.config import Settings
from facerec.inference.types import FaceEngine


def build_engine(settings: Settings) -> FaceEngine:
    if settings.engine == "dlib":
        from facerec.inference.dlib_engine import DlibEngine

        return DlibEngine(settings.detector, tta=settings.inference.tta)
    from facerec.inference.onnx_engine import OnnxEngine

    return OnnxEngine(settings)
