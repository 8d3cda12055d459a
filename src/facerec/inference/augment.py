"""Test-time augmentation of aligned face chips: the mirror image, and dlib-style jitter.

A descriptor averaged over a few perturbed copies of a chip is steadier than one from
the chip alone: small alignment errors and left/right asymmetries average out. Jitter
follows what dlib's ``jitter_image`` (``dlib/image_transforms/interpolation.h``) does
for ``compute_face_descriptor(..., num_jitters)``: the chip's rectangle, shrunk by 3
pixels, is moved by up to 2% of its size, shrunk to 97-100%, turned by up to 3 degrees,
resampled bilinearly, and mirrored half the time. Here the random draws come from a
seeded generator, so the same chip always gives the same copies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.inference.dlib_align import dlib_chips
from facerec.inference.types import Align, ChipEmbedder, Embedder, Landmarks, RGBImage

Chips = NDArray[np.uint8]
"""(n, rows, cols, 3) uint8 face chips."""

MAX_ROTATION_DEGREES = 3.0
SCALE_RANGE = (0.97, 1.0)
TRANSLATE = 0.02
BORDER = 3


def mirrored(chips: Chips) -> Chips:
    """Each chip flipped left to right."""
    return np.ascontiguousarray(chips[:, :, ::-1])


def jittered(chip: NDArray[np.uint8], count: int, seed: int = 0) -> Chips:
    """``count`` randomly moved, scaled, turned and (half of them) mirrored copies of
    one square chip, reproducible for a given ``seed``."""
    rows, cols = chip.shape[:2]
    rng = np.random.default_rng(seed)
    source = Image.fromarray(chip)
    side = min(rows, cols) - 2 * BORDER
    out = np.empty((count, rows, cols, 3), dtype=np.uint8)
    for i in range(count):
        shift_x, shift_y = rng.uniform(-TRANSLATE, TRANSLATE, size=2) * side
        scale = rng.uniform(*SCALE_RANGE) * side / cols
        angle = math.radians(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES))
        cos, sin = scale * math.cos(angle), scale * math.sin(angle)
        # Output pixel (x, y) samples the source at centre + R(angle) * scale * (p - centre).
        cx, cy = (cols - 1) / 2, (rows - 1) / 2
        sx, sy = cx + shift_x, cy + shift_y
        coefficients = (cos, -sin, sx - cos * cx + sin * cy, sin, cos, sy - sin * cx - cos * cy)
        warped = source.transform(
            (cols, rows), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR
        )
        pixels = np.asarray(warped)
        out[i] = pixels[:, ::-1] if rng.random() < 0.5 else pixels
    return out


def with_tta(embedder: ChipEmbedder, tta: str) -> Embedder:
    """``embedder`` as ``inference.tta`` asks: mirror-averaged, or as it is."""
    return MirrorAveraged(embedder) if tta == "mirror" else embedder


class MirrorAveraged:
    """An :class:`~facerec.inference.types.Embedder` whose descriptor is the sum of the
    chip's and its mirror image's (one network call for both). Its descriptors live in
    the inner model's space but are steadier, so they carry their own model id (scores,
    and so thresholds, differ slightly). Chosen by ``bench/eval_lfw.py``."""

    def __init__(self, inner: ChipEmbedder) -> None:
        self.inner = inner
        self.model_id = f"{inner.model_id}+mirror"
        self.dim = inner.dim
        self.align: Align = getattr(inner, "align", dlib_chips)

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        if not landmarks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_chips(self.align(image, landmarks))

    def embed_chips(self, chips: Chips) -> NDArray[np.float32]:
        both = self.inner.embed_chips(np.concatenate([chips, mirrored(chips)]))
        summed: NDArray[np.float32] = both[: len(chips)] + both[len(chips) :]
        return summed
