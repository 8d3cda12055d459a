"""Typed data passed between pipeline stages, and the engine interface.

An engine is three small parts: a :class:`Detector` (image -> boxes), a
:class:`Landmarker` (image + boxes -> 5 points) and an :class:`Embedder`
(image + 5 points -> descriptors; it owns its own alignment, because the chip a
network expects is part of that network). Any implementation of these can
replace the dlib one without touching the rest of FaceRec.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

RGBImage = NDArray[np.uint8]
"""H x W x 3, uint8, RGB, C-contiguous."""
Landmarks = NDArray[np.float32]
"""5 x 2 (x, y) in image pixels, dlib's 5-point order: right eye outer, right eye inner,
left eye outer, left eye inner, nose base (subject's right/left)."""
Embedding = NDArray[np.float32]
LandmarkOrder = Literal["dlib5", "arcface5"]
"""``dlib5``: the order above; ``arcface5``: the subject's right eye, left eye, nose tip,
right and left mouth corners (YuNet's, and the ArcFace template's)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One face box in image pixels, ``x2``/``y2`` exclusive."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    points: Landmarks | None = field(default=None, compare=False, repr=False)
    """The detector's own 5 points (ArcFace order: YuNet), or None (dlib's detectors)."""

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def box(self) -> list[int]:
        return [round(self.x1), round(self.y1), round(self.x2), round(self.y2)]


@dataclass(slots=True)
class AnalyzedFace:
    """A detected face with everything the pipeline computed for it."""

    detection: Detection
    landmarks: Landmarks
    quality: dict[str, float]
    embedding: Embedding | None = None
    """L2-normalised descriptor, or None when only detection was asked for."""


@dataclass(slots=True)
class AnalyzedImage:
    """The outcome of running the pipeline over one image."""

    width: int
    height: int
    faces: list[AnalyzedFace] = field(default_factory=list)
    model: str = ""
    format: str = ""
    """The decoded file's format (``JPEG``, ``PNG``...); empty for raw pixels."""
    pixels: RGBImage | None = field(default=None, repr=False)
    """The upright RGB pixels the faces were found in (for crops)."""


class Detector(Protocol):
    def detect(self, image: RGBImage) -> list[Detection]: ...


class Landmarker(Protocol):
    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]: ...


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        """Descriptors, one row per face (not necessarily normalised)."""
        ...


Align = Callable[[RGBImage, Sequence[Landmarks]], NDArray[np.uint8]]
"""Image and 5-point shapes -> the network's aligned chips."""


class ChipEmbedder(Embedder, Protocol):
    """An embedder that also takes aligned chips (``(n, 150, 150, 3)`` uint8) directly."""

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]: ...


class FaceEngine(Protocol):
    """A loaded set of models. ``load`` is idempotent and may be slow."""

    name: str

    def load(self) -> None: ...

    @property
    def fallback_detector(self) -> Detector | None:
        """Tried when ``detector`` finds nothing (None: no second try)."""
        ...

    @property
    def detector(self) -> Detector: ...

    @property
    def landmarker(self) -> Landmarker: ...

    @property
    def embedder(self) -> Embedder: ...
