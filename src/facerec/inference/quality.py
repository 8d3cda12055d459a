"""Per-face quality figures: cheap numbers that tell a usable face from a poor one."""

from __future__ import annotations

import numpy as np

from facerec.inference.types import Detection, LandmarkOrder, Landmarks, RGBImage


def face_quality(
    image: RGBImage, detection: Detection, landmarks: Landmarks, order: LandmarkOrder = "dlib5"
) -> dict[str, float]:
    """Size, sharpness, brightness, frontalness and how much of the box lies inside the image.

    - ``size``: the shorter side of the face box, in pixels.
    - ``sharpness``: variance of a Laplacian over the face crop resized to 64 px
      (scale-independent; below ~50 is visibly blurred).
    - ``brightness``: mean gray level of the face crop, 0-255.
    - ``frontal``: 1.0 when the nose sits between the eyes, towards 0 when the head turns.
    - ``inside``: share of the face box inside the image (below 1.0: cut off by the edge).
    """
    height, width = image.shape[:2]
    x1, y1 = max(0, int(detection.x1)), max(0, int(detection.y1))
    x2, y2 = min(width, int(np.ceil(detection.x2))), min(height, int(np.ceil(detection.y2)))
    inside = ((x2 - x1) * (y2 - y1)) / detection.area if detection.area > 0 else 0.0
    crop = image[y1:y2, x1:x2]
    return {
        "size": round(float(min(detection.width, detection.height)), 1),
        "sharpness": round(_sharpness(crop), 1),
        "brightness": round(float(crop.mean()), 1) if crop.size else 0.0,
        "frontal": round(_frontal(landmarks, order), 3),
        "inside": round(float(min(1.0, max(0.0, inside))), 3),
    }


def _sharpness(crop: RGBImage) -> float:
    """The Laplacian's variance over 64 x 64 grey pixels picked evenly from the crop."""
    if crop.shape[0] < 3 or crop.shape[1] < 3:
        return 0.0
    rows = np.linspace(0, crop.shape[0] - 1, 64).astype(int)
    cols = np.linspace(0, crop.shape[1] - 1, 64).astype(int)
    small = crop[np.ix_(rows, cols)].mean(axis=2)  # grey: the mean of R, G and B
    lap = (
        -4 * small[1:-1, 1:-1]
        + small[:-2, 1:-1]
        + small[2:, 1:-1]
        + small[1:-1, :-2]
        + small[1:-1, 2:]
    )
    return float(lap.var())


def _frontal(landmarks: Landmarks, order: LandmarkOrder = "dlib5") -> float:
    """1 - |offset of the nose from the eyes' midpoint| / half the eye distance."""
    if order == "arcface5":  # eye centres and the nose tip
        right_eye, left_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    else:  # eye corners and the base of the nose
        right_eye = landmarks[0:2].mean(axis=0)
        left_eye = landmarks[2:4].mean(axis=0)
        nose = landmarks[4]
    half = float(np.linalg.norm(left_eye - right_eye)) / 2
    if half <= 0:
        return 0.0
    axis = (left_eye - right_eye) / (2 * half)
    offset = float(np.dot(nose - (left_eye + right_eye) / 2, axis))
    return float(max(0.0, 1.0 - abs(offset) / half))
