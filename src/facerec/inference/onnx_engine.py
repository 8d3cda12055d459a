"""The fast engine: dlib's networks converted to ONNX Runtime, or registry models.

- detector: dlib's HOG (``detector.model=hog``: no network, fast on CPU; runs in dlib), the
  MMOD CNN converted to ONNX (``cnn``), or an installed YuNet (registry); with ``hog`` or
  YuNet the converted CNN is the fallback when it finds nothing;
- landmarker: dlib's 5-point shape predictor (in dlib: under a millisecond a face), or
  YuNet's own points for an ArcFace recogniser;
- embedder: the ResNet converted to ONNX (``recogniser.model=dlib-resnet``; dlib's own
  chips) or an installed ArcFace-style recogniser, with micro-batching across concurrent
  requests.

Converted models are cached under ``<data_dir>/models``, keyed by the source file's hash.
"""

from __future__ import annotations

from pathlib import Path

from facerec.config import DetectorSettings, InferenceSettings, Settings
from facerec.inference.arcface import ArcFaceEmbedder
from facerec.inference.augment import with_tta
from facerec.inference.batching import BatchedEmbedder, MicroBatcher
from facerec.inference.dlib_engine import (
    DlibDetector,
    DlibLandmarker,
    ThreadModels,
    detection_scale,
)
from facerec.inference.onnx_detector import OnnxMmodDetector
from facerec.inference.onnx_embedder import OnnxEmbedder
from facerec.inference.parts import (
    DLIB_RECOGNISER,
    ArcFacePoints,
    DlibPoints,
    arcface_embedder,
    yunet_detector,
)
from facerec.inference.types import Detector, Embedder, LandmarkOrder


def cnn_detector(
    cache: Path, settings: DetectorSettings, inference: InferenceSettings, *, max_pixels: int
) -> OnnxMmodDetector:
    """The converted MMOD CNN, scaled so ``min_face_px`` faces are found within ``max_pixels``."""

    def policy(width: int, height: int) -> float:
        return detection_scale(
            width, height, kind="cnn", min_face_px=settings.min_face_px, max_pixels=max_pixels
        )

    return OnnxMmodDetector(
        cache,
        scale=policy,
        adjust_threshold=max(0.0, settings.min_score),
        intra_op_threads=inference.onnx_intra_threads,
        inter_op_threads=1,
        providers=inference.onnx_providers or None,
    )


class OnnxEngine:
    """Built from parts (``inference/parts.py``): the detector and recogniser the settings
    name, each registry model read from its manifest."""

    name = "onnx"

    def __init__(self, settings: Settings) -> None:
        detector, inference = settings.detector, settings.inference
        cache = settings.data_dir / "models"
        self._dlib_models = ThreadModels()
        self.detector: Detector
        if detector.model == "cnn":
            self.detector = cnn_detector(
                cache, detector, inference, max_pixels=detector.max_detect_pixels
            )
        elif detector.model == "hog":
            self.detector = DlibDetector("hog", detector, self._dlib_models)
        else:
            self.detector = yunet_detector(settings)
        self.fallback_detector: Detector | None = None
        if detector.model != "cnn" and detector.fallback == "cnn":
            limit = min(detector.max_detect_pixels, max(1, detector.fallback_max_pixels))
            self.fallback_detector = cnn_detector(cache, detector, inference, max_pixels=limit)
        self.network: OnnxEmbedder | ArcFaceEmbedder
        self.landmarker: DlibPoints | ArcFacePoints
        if settings.recogniser.model == DLIB_RECOGNISER:
            self.network = OnnxEmbedder(
                cache,
                intra_op_threads=inference.onnx_intra_threads,
                inter_op_threads=1,
                providers=inference.onnx_providers or None,
                max_batch=inference.batch_size,
            )
            self.landmarker = DlibPoints(DlibLandmarker(self._dlib_models))
        else:
            self.network = arcface_embedder(settings)
            self.landmarker = ArcFacePoints(DlibLandmarker(self._dlib_models))
        self.landmark_order: LandmarkOrder = self.landmarker.order
        self.default_threshold: float | None = getattr(self.network, "default_threshold", None)
        """The recogniser's own match threshold (a registry manifest's), or None."""
        self.batcher = MicroBatcher(
            self.network.embed_chips,
            max_batch=inference.batch_size,
            max_wait_ms=inference.batch_wait_ms,
            max_queue=inference.max_pending,
        )
        batched = BatchedEmbedder(
            self.network.model_id, self.network.dim, self.batcher, align=self.network.align
        )
        self.embedder: Embedder = with_tta(batched, inference.tta)

    def load(self) -> None:
        """Convert or verify the cached models; idempotent, callable from every thread."""
        self.network.load()
        self.landmarker.load()
        for part in (self.detector, self.fallback_detector):
            loader = getattr(part, "load", None)
            if callable(loader):
                loader()

    def close(self) -> None:
        self.batcher.close()
