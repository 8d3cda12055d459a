"""Small fakes injected into ``create_app`` for fast tests (no model files, no dlib).

``FakeEngine`` treats an image as a grid of 100x100 cells: each cell with enough
non-black pixels holds one "face", boxed by those pixels. A face's identity is its
colour: the descriptor is a fixed random unit vector seeded by the colour, so the
same colour means the same person and different colours are strangers (cosine ~ 0).
``picture`` draws such images.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.inference.types import Detection, Landmarks, RGBImage

CELL = 100
Colour = tuple[int, int, int]


def picture(faces: Sequence[tuple[Colour, int]], fmt: str = "PNG", height: int = CELL) -> bytes:
    """An image with one square "face" per cell: ``(colour, side)`` each, left to right."""
    width = CELL * max(1, len(faces))
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    for i, (colour, side) in enumerate(faces):
        top, left = (CELL - side) // 2, i * CELL + (CELL - side) // 2
        pixels[top : top + side, left : left + side] = colour
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


class FakeEngine:
    name = "fake"
    fallback_detector = None
    model_id = "fake-colour-v1"
    dim = 16

    def __init__(self) -> None:
        self.loads = 0
        self.calls = 0

    def load(self) -> None:
        self.loads += 1

    @property
    def detector(self) -> FakeEngine:
        return self

    @property
    def landmarker(self) -> FakeEngine:
        return self

    @property
    def embedder(self) -> FakeEngine:
        return self

    def detect(self, image: RGBImage) -> list[Detection]:
        self.calls += 1
        found = []
        for top in range(0, image.shape[0] - CELL + 1, CELL):
            for left in range(0, image.shape[1] - CELL + 1, CELL):
                mask = image[top : top + CELL, left : left + CELL].max(axis=2) > 30
                if mask.sum() < 25:
                    continue
                rows, cols = np.nonzero(mask)
                found.append(
                    Detection(
                        x1=float(left + cols.min()),
                        y1=float(top + rows.min()),
                        x2=float(left + cols.max() + 1),
                        y2=float(top + rows.max() + 1),
                        score=1.0,
                    )
                )
        return found

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        result = []
        for d in detections:
            w, h = d.width, d.height
            points = [(0.7, 0.4), (0.6, 0.4), (0.3, 0.4), (0.4, 0.4), (0.5, 0.7)]
            result.append(
                np.asarray([(d.x1 + px * w, d.y1 + py * h) for px, py in points], dtype=np.float32)
            )
        return result

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        rows = []
        for points in landmarks:
            x, y = (int(v) for v in points[4])  # the "nose" lies inside the square
            colour = tuple(int(c) // 32 for c in image[y, x])
            seed = colour[0] * 10_000 + colour[1] * 100 + colour[2]
            rows.append(np.random.default_rng(seed).normal(size=self.dim))
        return np.asarray(rows, dtype=np.float32)
