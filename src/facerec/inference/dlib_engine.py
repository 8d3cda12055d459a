"""The embedded default engine: the dlib models that ``face_recognition_models`` ships.

- detector: dlib's HOG+SVM frontal face detector (built into dlib), or the MMOD CNN
  (``mmod_human_face_detector.dat``);
- landmarker: the 5-point shape predictor (``shape_predictor_5_face_landmarks.dat``);
- embedder: the ResNet descriptor (``dlib_face_recognition_resnet_model_v1.dat``,
  150x150 chips with 0.25 padding, 128-d, LFW 99.38%).

dlib's network objects keep per-call buffers, so each inference thread gets its own
copy (``threading.local``); loading one takes well under a second.

The fast engine (``onnx_engine.py``) shares two parts with this one: the shape predictor
(:class:`DlibLandmarker`) and the chip extraction (:func:`dlib_chips`), dlib's own code,
well under a millisecond per face.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.config import DetectorSettings
from facerec.errors import NotReady
from facerec.inference.augment import with_tta
from facerec.inference.dlib_align import dlib_chips
from facerec.inference.types import Detection, Embedder, Landmarks, RGBImage

MODEL_FILES = {
    "landmarks": "shape_predictor_5_face_landmarks.dat",
    "embedder": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}
EMBEDDER_MODEL_ID = "dlib-resnet-v1"
# The smallest face (box side, pixels) each detector finds in an image at its native scale.
NATIVE_MIN_FACE = {"hog": 80, "cnn": 80}


def models_dir() -> Path:
    """Where ``face_recognition_models`` keeps its files, found without importing it
    (its ``__init__`` needs setuptools' ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise NotReady("the face_recognition_models package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(kind: str) -> Path:
    path = models_dir() / MODEL_FILES[kind]
    if not path.is_file():
        raise NotReady(f"model file missing: {path}")
    return path


def detection_scale(
    width: int, height: int, *, kind: str, min_face_px: int, max_pixels: int
) -> float:
    """How much a detector of ``kind`` resizes an image so that faces of ``min_face_px``
    become findable, without scanning more than ``max_pixels``."""
    wanted = NATIVE_MIN_FACE[kind] / min_face_px
    cap = (max_pixels / max(1, width * height)) ** 0.5
    return float(min(wanted, cap))


class ThreadModels(threading.local):
    """Lazily loaded dlib objects, one set per thread."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}


class DlibDetector:
    """dlib's HOG or MMOD CNN face detector, run on a rescaled copy of the image so that
    faces of ``min_face_px`` are found without scanning more than ``max_pixels``."""

    def __init__(self, kind: str, settings: DetectorSettings, models: ThreadModels) -> None:
        self.kind = kind
        self.settings = settings
        self.max_pixels = settings.max_detect_pixels
        if kind == "cnn" and settings.model != "cnn":  # as a fallback: bounded cost
            self.max_pixels = min(settings.max_detect_pixels, max(1, settings.fallback_max_pixels))
        self._models = models

    def load(self) -> None:
        self._detector()

    def _detector(self) -> Any:
        objects = self._models.objects
        key = f"detector-{self.kind}"
        if key not in objects:
            import dlib

            try:
                objects[key] = (
                    dlib.cnn_face_detection_model_v1(str(model_path("cnn")))
                    if self.kind == "cnn"
                    else dlib.get_frontal_face_detector()
                )
            except RuntimeError as exc:
                raise NotReady(f"could not load the {self.kind} detector: {exc}") from exc
        return objects[key]

    def detect(self, image: RGBImage) -> list[Detection]:
        height, width = image.shape[:2]
        scale = detection_scale(
            width,
            height,
            kind=self.kind,
            min_face_px=self.settings.min_face_px,
            max_pixels=self.max_pixels,
        )
        scanned = image
        gray = self.kind == "hog" and self.settings.hog_gray
        if gray or abs(scale - 1.0) > 1e-3:
            picture = Image.fromarray(image)
            if gray:  # before resizing: a third of the pixels to interpolate
                picture = picture.convert("L")
            if abs(scale - 1.0) > 1e-3:
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                picture = picture.resize(size, Image.Resampling.BILINEAR)
            scanned = np.asarray(picture)
        detections = [
            Detection(x1=x1 / scale, y1=y1 / scale, x2=x2 / scale, y2=y2 / scale, score=s)
            for (x1, y1, x2, y2, s) in self._raw_detect(scanned)
            if s >= self.settings.min_score
        ]
        return _drop_overlaps(detections)

    def _raw_detect(self, image: RGBImage) -> list[tuple[float, float, float, float, float]]:
        detector = self._detector()
        if self.kind == "cnn":
            return [
                (
                    d.rect.left(),
                    d.rect.top(),
                    d.rect.right() + 1,
                    d.rect.bottom() + 1,
                    float(d.confidence),
                )
                for d in detector(image, 0)
            ]
        rects, scores, _ = detector.run(image, 0, min(0.0, self.settings.min_score))
        return [
            (r.left(), r.top(), r.right() + 1, r.bottom() + 1, float(s))
            for r, s in zip(rects, scores, strict=True)
        ]


class DlibLandmarker:
    """dlib's 5-point shape predictor, one per thread, on each detection's box."""

    def __init__(self, models: ThreadModels | None = None) -> None:
        self._models = models or ThreadModels()

    def load(self) -> None:
        self._predictor()

    def _predictor(self) -> Any:
        objects = self._models.objects
        if "landmarks" not in objects:
            import dlib

            try:
                objects["landmarks"] = dlib.shape_predictor(str(model_path("landmarks")))
            except RuntimeError as exc:  # dlib's deserialisation errors
                raise NotReady(f"could not load the landmarks model: {exc}") from exc
        return objects["landmarks"]

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        import dlib

        predictor = self._predictor()
        result: list[Landmarks] = []
        for det in detections:
            rect = dlib.rectangle(
                round(det.x1), round(det.y1), round(det.x2) - 1, round(det.y2) - 1
            )
            shape = predictor(image, rect)
            points = [(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)]
            result.append(np.asarray(points, dtype=np.float32))
        return result


class DlibEngine:
    """Detector (plus a CNN fallback), landmarker and embedder backed by dlib."""

    name = "dlib"
    model_id = EMBEDDER_MODEL_ID
    dim = 128

    def __init__(self, detector: DetectorSettings | None = None, *, tta: str = "none") -> None:
        self.settings = detector or DetectorSettings()
        self._embedder = with_tta(self, tta)
        self._local = ThreadModels()
        self._landmarker = DlibLandmarker(self._local)
        self.detector = DlibDetector(self.settings.model, self.settings, self._local)
        self.fallback_detector: DlibDetector | None = None
        if self.settings.fallback == "cnn" and self.settings.model != "cnn":
            self.fallback_detector = DlibDetector("cnn", self.settings, self._local)

    # -- lifecycle -------------------------------------------------------------------
    def load(self) -> None:
        """Load every model in the calling thread (fails loudly if a file is missing)."""
        self._landmarker.load()
        self._get("embedder")
        self.detector.load()
        if self.fallback_detector is not None:
            self.fallback_detector.load()

    def load_landmarks(self) -> None:
        """Only the shape predictor (engines that embed elsewhere need no more of dlib)."""
        self._landmarker.load()

    def _get(self, kind: str) -> Any:
        objects = self._local.objects
        if kind not in objects:
            objects[kind] = self._build(kind)
        return objects[kind]

    def _build(self, kind: str) -> Any:
        import dlib

        try:
            return dlib.face_recognition_model_v1(str(model_path("embedder")))
        except RuntimeError as exc:  # dlib's deserialisation errors
            raise NotReady(f"could not load the {kind} model: {exc}") from exc

    # -- the parts -------------------------------------------------------------------------
    @property
    def landmarker(self) -> DlibEngine:
        return self

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def detect(self, image: RGBImage) -> list[Detection]:
        """The primary detector (kept for callers that hold the engine)."""
        return self.detector.detect(image)

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        return self._landmarker.landmarks(image, detections)

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        if not landmarks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_chips(dlib_chips(image, landmarks))

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        descriptors = self._get("embedder").compute_face_descriptor(list(chips))
        return np.asarray([list(d) for d in descriptors], dtype=np.float32)

    def chips(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> list[RGBImage]:
        """dlib's aligned 150x150 chips (padding 0.25) for the given 5-point shapes."""
        return list(dlib_chips(image, landmarks))


def _drop_overlaps(detections: list[Detection], iou_limit: float = 0.5) -> list[Detection]:
    """Keep the higher-scoring box of any pair overlapping more than ``iou_limit``."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: d.score, reverse=True):
        if all(_iou(det, other) <= iou_limit for other in kept):
            kept.append(det)
    return kept


def _iou(a: Detection, b: Detection) -> float:
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.area + b.area - inter)
