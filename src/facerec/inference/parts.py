"""Engines from parts: the detector and the recogniser the settings name.

``detector.model``: ``hog`` | ``cnn`` (dlib's) | an installed registry detector of the
YuNet family. ``recogniser.model``: ``dlib-resnet`` | an installed ArcFace-style registry
recogniser. Registry models are read from ``<data_dir>/models/registry`` with their
manifest's contract; a name that is not installed (or of the wrong kind or family) is
``NotReady`` when the engine is built, so the app refuses to start and ``facerec doctor``
says why.

The 5 points each recogniser is fed:

- dlib's descriptor keeps dlib's alignment: its 5-point shape predictor runs on every
  box. A YuNet box is first mapped onto the box dlib's HOG detector gives the same face
  (``hog_box``, ``YUNET_TO_HOG``);
- an ArcFace recogniser takes YuNet's own 5 points, or, for HOG/CNN boxes, the shape
  predictor's points placed in ArcFace order (``arcface.arcface_points_from_dlib``).

Measured on LFW-dev pairsDevTrain (``bench/eval_lfw.py --pairs-only``, 10-fold, 3,443
images, no image without a face for any of them), chip / chip + mirror: HOG + dlib
98.95% / 99.32%; YuNet + dlib 98.86% / 99.23%; YuNet + MobileFaceNet 98.82% / 99.00%
(outside the service, ``bench/arcface_outside.py``: 98.77% / 98.95%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facerec.config import Settings
from facerec.errors import NotReady
from facerec.inference.arcface import ArcFaceEmbedder, arcface_points_from_dlib
from facerec.inference.dlib_engine import DlibLandmarker
from facerec.inference.types import Detection, Landmarker, LandmarkOrder, Landmarks, RGBImage
from facerec.inference.yunet import YuNetDetector
from facerec.registry.contract import Family, Kind
from facerec.registry.store import ModelManifest, ModelStore

DLIB_DETECTORS = ("hog", "cnn")
DLIB_RECOGNISER = "dlib-resnet"
YUNET_TO_HOG = (-0.0995, -0.0648, 1.1200)
"""The HOG box of a face YuNet found: centre = the centre of YuNet's 5 points + (dx, dy) x
their RMS distance from it; side = 1.12 x YuNet's box width. Measured by
``bench/yunet_alignment.py`` on 600 LFW-dev images (596 faces both found, IoU >= 0.3):
mean absolute error per HOG side 0.028 (centre x), 0.027 (centre y), 0.064 (side)
(from YuNet's box alone: 0.057, 0.032); the shape predictor's points from this box are
0.33 px (median 0.20 px, 0.82% of the inter-ocular distance) from those it finds in the
HOG box (0.39 px, 1.03% from the box-only mapping)."""


@dataclass(frozen=True, slots=True)
class Installed:
    """A registry model the settings name: its manifest and file."""

    manifest: ModelManifest
    path: Path

    @property
    def model_id(self) -> str:
        """Name and content: ``mobilefacenet@85cdeb73``."""
        return f"{self.manifest.name}@{self.manifest.sha256[:8]}"


def installed(settings: Settings, name: str, kind: Kind, family: Family) -> Installed:
    """The installed model ``name``; ``NotReady`` (with what to do) when it cannot serve."""
    setting = "FACEREC_DETECTOR__MODEL" if kind == "detector" else "FACEREC_RECOGNISER__MODEL"
    store = ModelStore(settings.models_dir)
    manifest = store.find(name)
    if manifest is None:
        builtin = " | ".join(DLIB_DETECTORS) if kind == "detector" else DLIB_RECOGNISER
        raise NotReady(
            f"{setting}={name}: no such {kind} ({builtin}, or a model installed under "
            f"{settings.models_dir}: see `facerec models list`, `facerec models pull|import`)"
        )
    if manifest.kind != kind or manifest.contract.family != family:
        raise NotReady(
            f"{setting}={name}: the installed model is a {manifest.contract.family} "
            f"{manifest.kind}; this setting takes a {family} {kind}"
        )
    return Installed(manifest, store.path_of(name))


def uses_registry(settings: Settings) -> bool:
    return (
        settings.detector.model not in DLIB_DETECTORS
        or settings.recogniser.model != DLIB_RECOGNISER
    )


def yunet_detector(settings: Settings) -> YuNetPoints:
    model = installed(settings, settings.detector.model, "detector", "yunet")
    threads = settings.inference.onnx_intra_threads or 1
    yunet = YuNetDetector(model.path, max_side=settings.detector.max_side, threads=threads)
    return YuNetPoints(yunet, min_face_px=settings.detector.min_face_px)


def arcface_embedder(settings: Settings) -> ArcFaceEmbedder:
    model = installed(settings, settings.recogniser.model, "recogniser", "arcface")
    contract = model.manifest.contract
    if not contract.embedding_size:
        raise NotReady(f"the manifest of {model.manifest.name!r} gives no embedding size")
    inference = settings.inference
    return ArcFaceEmbedder(
        model.path,
        contract,
        model_id=model.model_id,
        dim=contract.embedding_size,
        default_threshold=model.manifest.default_threshold,
        intra_op_threads=inference.onnx_intra_threads,
        providers=inference.onnx_providers or None,
        max_batch=inference.batch_size,
    )


class YuNetPoints:
    """YuNet as a :class:`~facerec.inference.types.Detector` whose detections carry
    their 5 points. Faces whose box is smaller than ``min_face_px`` are dropped, as dlib's
    detectors never find them (``detector.min_face_px``): YuNet sees small background
    faces that would cost a descriptor each."""

    def __init__(self, yunet: YuNetDetector, *, min_face_px: int = 0) -> None:
        self.yunet = yunet
        self.min_face_px = min_face_px

    def load(self) -> None:
        self.yunet.load()

    def detect(self, image: RGBImage) -> list[Detection]:
        return [
            replace(f.detection, points=f.points)
            for f in self.yunet.faces(image)
            if min(f.detection.width, f.detection.height) >= self.min_face_px
        ]


def hog_box(detection: Detection) -> Detection:
    """The box dlib's HOG detector would give the face YuNet found (``YUNET_TO_HOG``)."""
    if detection.points is None:
        return detection
    dx, dy, side = YUNET_TO_HOG
    points = detection.points.astype(np.float64)
    centre = points.mean(axis=0)
    spread = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))
    cx, cy = centre[0] + dx * spread, centre[1] + dy * spread
    half = side * detection.width / 2
    return Detection(cx - half, cy - half, cx + half, cy + half, detection.score)


def load_predictor(predictor: Landmarker) -> None:
    """Read the shape predictor's file in the calling thread (a landmarker without a
    ``load`` needs none)."""
    loader = getattr(predictor, "load", None)
    if callable(loader):
        loader()


class DlibPoints:
    """dlib's 5 points for any box: a detector's box with points (YuNet) is mapped to
    HOG's first; dlib's own boxes go to the shape predictor as they are."""

    order: LandmarkOrder = "dlib5"

    def __init__(self, predictor: Landmarker | None = None) -> None:
        self.predictor = predictor or DlibLandmarker()

    def load(self) -> None:
        load_predictor(self.predictor)

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        boxes = [hog_box(d) for d in detections]
        return self.predictor.landmarks(image, boxes)


class ArcFacePoints:
    """ArcFace-order points: the detector's own, else dlib's placed in ArcFace order."""

    order: LandmarkOrder = "arcface5"

    def __init__(self, predictor: Landmarker | None = None) -> None:
        self.predictor = predictor or DlibLandmarker()

    def load(self) -> None:
        load_predictor(self.predictor)

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        without = [d for d in detections if d.points is None]
        found = iter(self.predictor.landmarks(image, without) if without else [])
        return [
            d.points if d.points is not None else arcface_points_from_dlib(next(found))
            for d in detections
        ]


def stored_order(model: str) -> LandmarkOrder:
    """The order of the points a face row keeps: a registry recogniser's model id
    (``name@sha8``) means ArcFace order, any other (dlib's) dlib's."""
    return "arcface5" if "@" in model else "dlib5"


def points_in_order(points: Landmarks, model: str, order: LandmarkOrder) -> Landmarks:
    """A face row's points (stored by ``model``) as a recogniser of ``order`` takes them
    (``reembed``): dlib's become ArcFace's; ArcFace's cannot become dlib's (no eye corners):
    ``NotReady``, the photo must be detected again."""
    have = stored_order(model)
    if have == order:
        return points
    if order == "arcface5":
        return arcface_points_from_dlib(points)
    raise NotReady(
        f"the face's points come from {model} (ArcFace order); dlib's descriptor needs "
        "dlib's points: enrol the photo again"
    )
