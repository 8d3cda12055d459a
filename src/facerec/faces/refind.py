"""Finding an enrolled face again in its photo: of the faces this engine detects, the one
that overlaps the stored box most (IoU >= ``MIN_IOU``). For when the stored points cannot
serve the engine (an ArcFace recogniser's five points cannot become dlib's) or came from
another installation (a gallery import)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from facerec.errors import NoFace, NotReady
from facerec.faces.models import Face
from facerec.inference.parts import points_in_order
from facerec.inference.runtime import FaceRuntime
from facerec.inference.types import AnalyzedFace, Detection, LandmarkOrder, Landmarks, RGBImage

MIN_IOU = 0.5


def iou(det: Detection, box: Iterable[int]) -> float:
    """Intersection over union of a detection and an ``[x1, y1, x2, y2]`` box."""
    x1, y1, x2, y2 = box
    w = min(det.x2, x2) - max(det.x1, x1)
    h = min(det.y2, y2) - max(det.y1, y1)
    inter = max(0.0, w) * max(0.0, h)
    union = det.area + max(0, x2 - x1) * max(0, y2 - y1) - inter
    return inter / union if union > 0 else 0.0


def refind(runtime: FaceRuntime, pixels: RGBImage, box: list[int]) -> AnalyzedFace:
    """The face ``runtime`` detects at ``box`` (not embedded); ``NoFace`` when none does."""
    faces = runtime.analyze_pixels(pixels, embed=False).faces
    scored = [(iou(f.detection, box), i) for i, f in enumerate(faces)]
    best = max(scored, default=(0.0, -1))
    if best[0] < MIN_IOU:
        raise NoFace("no face was found where the stored box says", box=list(box))
    return faces[best[1]]


def points_for(
    runtime: FaceRuntime, pixels: RGBImage, face: Face, order: LandmarkOrder
) -> Landmarks:
    """The points ``runtime``'s recogniser (``order``) takes for an enrolled face: its
    stored points (kept in its model's order) in that order, else, where they cannot be
    converted (ArcFace's five points to dlib's), the face found again in ``pixels``."""
    stored = np.asarray(face.landmarks, dtype=np.float32)
    try:
        return points_in_order(stored, face.model, order)
    except NotReady:
        return refind(runtime, pixels, face.box).landmarks
