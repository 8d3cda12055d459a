"""Inference: numpy in, numpy out. Knows nothing of HTTP or the database."""

from facerec.inference.runtime import FaceRuntime
from facerec.inference.types import AnalyzedFace, AnalyzedImage, Detection, FaceEngine

__all__ = ["AnalyzedFace", "AnalyzedImage", "Detection", "FaceEngine", "FaceRuntime"]
