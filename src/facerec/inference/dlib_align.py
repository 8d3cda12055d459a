"""dlib's face alignment: the 150x150 chips its ResNet descriptor was trained on.

``dlib.get_face_chips`` maps dlib's mean 5-point face (padded by 0.25) onto the face's
points with a similarity transform and samples the chip (bilinear, after dlib's image
pyramid when the face is over twice the chip's size). Both engines align with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from facerec.inference.mean_face import CHIP_PADDING, CHIP_SIZE
from facerec.inference.types import Landmarks, RGBImage


def dlib_chips(image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.uint8]:
    """dlib's aligned 150x150 chips (padding 0.25) for 5-point shapes in dlib's order,
    one row per shape (points rounded to whole pixels, as ``dlib.point`` holds them)."""
    if not landmarks:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    import dlib

    shapes = dlib.full_object_detections()
    for points in landmarks:
        parts = [dlib.point(round(float(x)), round(float(y))) for x, y in points]
        xs, ys = points[:, 0], points[:, 1]
        rect = dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        shapes.append(dlib.full_object_detection(rect, parts))
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    chips = dlib.get_face_chips(pixels, shapes, size=CHIP_SIZE, padding=CHIP_PADDING)
    return np.stack([np.asarray(chip, dtype=np.uint8) for chip in chips])
