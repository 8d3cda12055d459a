"""The embedded default engine: the dlib models that ``face_recognition_models`` ships.

- detector: dlib's HOG+SVM frontal face detector (built into dlib), or the MMOD CNN
  (``mmod_human_face_detector.dat``);
- landmarker: the 5-point shape predictor (``shape_predictor_5_face_landmarks.dat``);
- embedder: the ResNet descriptor (``dlib_face_recognition_resnet_model_v1.dat``,
  150x150 chips with 0.25 padding, 128-d, LFW 99.38%).

dlib's network objects keep per-call buffers, so each inference thread gets its own
copy (``threading.local``); loading one takes well under a second.
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
from facerec.inference.types import Detection, Landmarks, RGBImage

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


def detection_scale(width: int, height: int, settings: DetectorSettings) -> float:
    """How much to resize an image before detection so that faces of ``min_face_px``
    become findable, without scanning more than ``max_detect_pixels``."""
    wanted = NATIVE_MIN_FACE[settings.model] / settings.min_face_px
    cap = (settings.max_detect_pixels / max(1, width * height)) ** 0.5
    return float(min(wanted, cap))


class _ThreadModels(threading.local):
    """Lazily loaded dlib objects, one set per thread."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}


class DlibEngine:
    """Detector, landmarker and embedder backed by dlib."""

    name = "dlib"

    def __init__(self, detector: DetectorSettings | None = None) -> None:
        self.settings = detector or DetectorSettings()
        self._local = _ThreadModels()

    # -- lifecycle -------------------------------------------------------------------
    def load(self) -> None:
        """Load every model in the calling thread (fails loudly if a file is missing)."""
        self._get("landmarks")
        self._get("embedder")
        self._get("detector")

    def _get(self, kind: str) -> Any:
        objects = self._local.objects
        if kind not in objects:
            objects[kind] = self._build(kind)
        return objects[kind]

    def _build(self, kind: str) -> Any:
        import dlib

        try:
            if kind == "landmarks":
                return dlib.shape_predictor(str(model_path("landmarks")))
            if kind == "embedder":
                return dlib.face_recognition_model_v1(str(model_path("embedder")))
            if self.settings.model == "cnn":
                return dlib.cnn_face_detection_model_v1(str(model_path("cnn")))
            return dlib.get_frontal_face_detector()
        except RuntimeError as exc:  # dlib's deserialisation errors
            raise NotReady(f"could not load the {kind} model: {exc}") from exc

    # -- the three parts ---------------------------------------------------------------
    @property
    def detector(self) -> DlibEngine:
        return self

    @property
    def landmarker(self) -> DlibEngine:
        return self

    @property
    def embedder(self) -> DlibEngine:
        return self

    model_id = EMBEDDER_MODEL_ID
    dim = 128

    def detect(self, image: RGBImage) -> list[Detection]:
        height, width = image.shape[:2]
        scale = detection_scale(width, height, self.settings)
        scanned = image
        if abs(scale - 1.0) > 1e-3:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            scanned = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        found = self._raw_detect(scanned)
        detections = [
            Detection(x1=x1 / scale, y1=y1 / scale, x2=x2 / scale, y2=y2 / scale, score=s)
            for (x1, y1, x2, y2, s) in found
            if s >= self.settings.min_score
        ]
        return _drop_overlaps(detections)

    def _raw_detect(self, image: RGBImage) -> list[tuple[float, float, float, float, float]]:
        detector = self._get("detector")
        if self.settings.model == "cnn":
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

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        import dlib

        predictor = self._get("landmarks")
        result: list[Landmarks] = []
        for det in detections:
            rect = dlib.rectangle(
                round(det.x1), round(det.y1), round(det.x2) - 1, round(det.y2) - 1
            )
            shape = predictor(image, rect)
            points = [(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)]
            result.append(np.asarray(points, dtype=np.float32))
        return result

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        if not landmarks:
            return np.zeros((0, self.dim), dtype=np.float32)
        chips = self.chips(image, landmarks)
        descriptors = self._get("embedder").compute_face_descriptor(chips)
        return np.asarray([list(d) for d in descriptors], dtype=np.float32)

    def chips(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> list[RGBImage]:
        """dlib's aligned 150x150 chips (padding 0.25) for the given 5-point shapes."""
        import dlib

        shapes = dlib.full_object_detections()
        for points in landmarks:
            parts = [dlib.point(round(float(x)), round(float(y))) for x, y in points]
            xs, ys = points[:, 0], points[:, 1]
            rect = dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
            shapes.append(dlib.full_object_detection(rect, parts))
        return [np.asarray(c) for c in dlib.get_face_chips(image, shapes, size=150, padding=0.25)]


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
