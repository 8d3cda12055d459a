"""dlib's face alignment for 5-point shapes, in numpy (no dlib at run time).

This reproduces what ``dlib.get_face_chips`` / ``compute_face_descriptor`` do
(``dlib/image_transforms/interpolation.h``, ``image_pyramid.h``):

1. ``get_face_chip_details``: the similarity transform (Umeyama) from dlib's mean 5-point
   face, padded and scaled to the chip, onto the image points gives a rotation angle and a
   rectangle in the image;
2. ``extract_image_chips``: when that rectangle is over twice the chip's size, it is first
   shrunk with dlib's ``pyramid_down<2>`` (5x5 binomial filter, integer arithmetic) built
   over the crop that holds *all* the image's faces, then every chip pixel is sampled with
   dlib's bilinear rule: truncated to uint8, and black wherever the 2x2 neighbourhood
   leaves the image.

Points are rounded to whole pixels first, as ``dlib.point`` (and :class:`DlibEngine`) do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facerec.inference.types import Landmarks, RGBImage

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# dlib's mean face for the 5-point model, in (x, y) on a unit square.
MEAN_FACE_5 = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
Rect = tuple[float, float, float, float]
"""left, top, right, bottom, inclusive like dlib's rectangles (empty when left > right)."""
Points = NDArray[np.float64]


@dataclass(frozen=True)
class ChipDetails:
    """Where a chip lies in the image: ``rect`` turned by ``angle`` about its centre."""

    rect: Rect
    angle: float
    rows: int
    cols: int


def similarity_transform(src: Points, dst: Points) -> tuple[Points, Points]:
    """Least-squares ``dst ~ m @ src + t`` with ``m`` a scaled rotation (Umeyama 1991)."""
    mean_src, mean_dst = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - mean_src, dst - mean_dst
    sigma_src = float((src_c**2).sum(axis=1).mean())
    cov = dst_c.T @ src_c / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.ones(2)
    det_cov = np.linalg.det(cov)
    if det_cov < 0 or (det_cov == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[int(d[1] >= d[0])] = -1  # flip the smaller singular direction
    rotation = u @ np.diag(s) @ vt
    scale = float((d * s).sum()) / sigma_src if sigma_src else 1.0
    return scale * rotation, mean_dst - scale * rotation @ mean_src


def face_chip_details(
    points: Landmarks, size: int = CHIP_SIZE, padding: float = CHIP_PADDING
) -> ChipDetails:
    """dlib's ``get_face_chip_details`` for a 5-point shape."""
    if points.shape != (5, 2):
        raise ValueError(f"expected 5 (x, y) points, got shape {points.shape}")
    template = (padding + MEAN_FACE_5) / (2 * padding + 1) * size
    m, t = similarity_transform(template, np.rint(points.astype(np.float64)))
    angle = math.atan2(m[1, 0], m[0, 0])
    scale = math.hypot(m[0, 0], m[1, 0])
    cx, cy = m @ np.array([size / 2, size / 2]) + t
    half = (size * scale - 1) / 2
    return ChipDetails((cx - half, cy - half, cx + half, cy + half), angle, size, size)


def _area(rect: Rect) -> float:
    left, top, right, bottom = rect
    if left > right or top > bottom:
        return 0.0
    return (right - left + 1) * (bottom - top + 1)


def _rect_down(rect: Rect) -> Rect:
    """``pyramid_down<2>::rect_down``: a rectangle's place one pyramid level down."""
    left, top, right, bottom = rect
    return (left / 2 - 1.25, top / 2 - 0.75, right / 2 - 1.25, bottom / 2 - 0.75)


def _corners(rect: Rect, angle: float) -> Points:
    """Top-left, top-right, bottom-left and bottom-right corners turned about the centre."""
    left, top, right, bottom = rect
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x = np.array([left, right, left, right]) - cx
    y = np.array([top, top, bottom, bottom]) - cy
    cos, sin = math.cos(angle), math.sin(angle)
    return np.stack([cos * x - sin * y + cx, sin * x + cos * y + cy], axis=1)


def _lround(value: float) -> int:
    """C's ``lround``: halves away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _crop_box(image_shape: tuple[int, ...], details: Sequence[ChipDetails]) -> tuple[Rect, int]:
    """The integer crop around every chip (with dlib's margins) and the pyramid depth."""
    height, width = image_shape[:2]
    box: Rect = (0.0, 0.0, -1.0, -1.0)
    max_depth = 0
    for chip in details:
        depth, grow = 0, 2.0
        rect = _rect_down(chip.rect)
        while _area(rect) > chip.rows * chip.cols:
            rect, depth, grow = _rect_down(rect), depth + 1, grow * 2 + 2
        corners = _corners(chip.rect, chip.angle)
        (x1, y1), (x2, y2) = corners.min(axis=0), corners.max(axis=0)
        # grown by the margin, clipped to the image, then rounded to whole pixels
        left, top = _lround(max(x1 - grow, 0)), _lround(max(y1 - grow, 0))
        right, bottom = _lround(min(x2 + grow, width - 1)), _lround(min(y2 + grow, height - 1))
        box = _union(box, (left, top, right, bottom))
        max_depth = max(depth, max_depth)
    return box, max_depth


def _union(a: Rect, b: Rect) -> Rect:
    if _area(b) == 0:
        return a
    if _area(a) == 0:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def pyramid_down(image: RGBImage) -> RGBImage:
    """dlib's ``pyramid_down<2>`` on an RGB image: 5x5 binomial blur, every other pixel."""
    height, width = image.shape[:2]
    if height <= 8 or width <= 8:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    out_h, out_w = (height - 3) // 2, (width - 3) // 2
    x = image.astype(np.uint16)  # as dlib: 16 * 16 * 255 still fits
    rows = _binomial(x[:, 0 : 2 * out_w + 4], axis=1)
    both = _binomial(rows[0 : 2 * out_h + 4], axis=0)
    return np.asarray(both >> 8, dtype=np.uint8)


def _binomial(x: NDArray[np.uint16], axis: int) -> NDArray[np.uint16]:
    """``[1 4 6 4 1]`` weighted sums at every other position along ``axis``."""

    def tap(i: int) -> NDArray[np.uint16]:
        index = [slice(None)] * x.ndim
        index[axis] = slice(i, x.shape[axis] - 4 + i, 2)
        return x[tuple(index)]

    out = tap(0) + tap(4)
    out += 4 * (tap(1) + tap(3))
    out += 6 * tap(2)
    return out


def sample_bilinear(image: RGBImage, xs: Points, ys: Points) -> RGBImage:
    """dlib's ``interpolate_bilinear`` at each (x, y): truncated, 0 outside the image."""
    height, width = image.shape[:2]
    left, top = np.floor(xs), np.floor(ys)
    inside = (left >= 0) & (top >= 0) & (left + 1 < width) & (top + 1 < height)
    if not inside.any():
        return np.zeros((*xs.shape, 3), dtype=np.uint8)
    lf, tf = (xs - left).ravel(), (ys - top).ravel()
    # One gather per corner from the channel-first flattened image (long contiguous rows
    # for numpy); outside points read pixel 0 and are zeroed at the end (the image is at
    # least 2x2 here, so every index is in range).
    corner = np.where(inside, top * width + left, 0).astype(np.intp).ravel()
    channels = np.ascontiguousarray(image.reshape(height * width, -1).T)

    def at(offset: int) -> NDArray[np.float64]:
        return np.take(channels, corner + offset, axis=1).astype(np.float64)

    # (1 - tf) * ((1 - lf) * tl + lf * tr) + tf * ((1 - lf) * bl + lf * br), in place
    lr = 1 - lf
    upper = at(0)
    upper *= lr
    upper += at(1) * lf
    upper *= 1 - tf
    lower = at(width)
    lower *= lr
    lower += at(width + 1) * lf
    lower *= tf
    upper += lower
    upper *= inside.ravel()
    return np.ascontiguousarray(upper.astype(np.uint8).T).reshape(*xs.shape, -1)


def _extract_one(source: RGBImage, rect: Rect, chip: ChipDetails) -> RGBImage:
    """Sample a chip whose rectangle is given in ``source``'s coordinates."""
    tl, tr, bl, _ = _corners(rect, chip.angle)
    cols = np.arange(chip.cols, dtype=np.float64) / max(chip.cols - 1, 1)
    rows = np.arange(chip.rows, dtype=np.float64) / max(chip.rows - 1, 1)
    points = tl + cols[None, :, None] * (tr - tl) + rows[:, None, None] * (bl - tl)
    return sample_bilinear(source, points[..., 0], points[..., 1])


def extract_chips(image: RGBImage, details: Sequence[ChipDetails]) -> NDArray[np.uint8]:
    """dlib's ``extract_image_chips`` with bilinear interpolation: ``n x rows x cols x 3``."""
    if not details:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    box, depth = _crop_box(image.shape, details)
    left, top, right, bottom = (int(v) for v in box)
    crop = image[top : bottom + 1, left : right + 1] if _area(box) else image[:0, :0]
    levels = [crop]
    for _ in range(depth):
        levels.append(pyramid_down(levels[-1]))
    chips = []
    for chip in details:
        x1, y1, x2, y2 = chip.rect
        rect: Rect = (x1 - left, y1 - top, x2 - left, y2 - top)
        level = 0
        while _area(_rect_down(rect)) > chip.rows * chip.cols:
            rect, level = _rect_down(rect), level + 1
        chips.append(_extract_one(levels[level], rect, chip))
    return np.stack(chips)


def face_chips(image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.uint8]:
    """Aligned 150x150 chips (padding 0.25) for 5-point shapes, as dlib makes them."""
    return extract_chips(image, [face_chip_details(points) for points in landmarks])
