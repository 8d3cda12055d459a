"""The one object that owns the face models and schedules inference.

``FaceRuntime.analyze`` is the whole pipeline for one image (decode, detect,
landmarks, quality, embed, normalise). ``FaceRuntime.run`` calls it from async
code on a bounded thread pool, so the event loop never blocks, at most
``inference.threads`` images are analysed at once, and at most
``inference.max_pending`` wait; past that the caller gets :class:`Busy`.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from numpy.typing import NDArray

from facerec.config import Settings
from facerec.errors import Busy
from facerec.inference.decode import DecodedImage, decode_image
from facerec.inference.quality import face_quality
from facerec.inference.types import AnalyzedFace, AnalyzedImage, FaceEngine, Landmarks, RGBImage


def l2_normalise(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """The single place embeddings are normalised."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised


class FaceRuntime:
    def __init__(self, engine: FaceEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0
        self._lock = threading.Lock()
        self.loaded = False

    @property
    def model(self) -> str:
        return self.engine.embedder.model_id

    @property
    def dim(self) -> int:
        return self.engine.embedder.dim

    def load(self) -> None:
        """Load the models (in this thread) and start the inference pool."""
        self.engine.load()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.settings.inference.threads,
                thread_name_prefix="facerec-inference",
                initializer=self.engine.load,
            )
        self.loaded = True

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        closer = getattr(self.engine, "close", None)
        if callable(closer):
            closer()
        self.loaded = False

    # -- synchronous pipeline ---------------------------------------------------------------
    def analyze(self, data: bytes, *, embed: bool = True, fallback: bool = True) -> AnalyzedImage:
        decoded = self.decode(data)
        result = self.analyze_pixels(decoded.pixels, embed=embed, fallback=fallback)
        result.format = decoded.format
        return result

    def decode(self, data: bytes) -> DecodedImage:
        """The upload's pixels, within the configured size limits (EXIF rotation applied)."""
        limits = self.settings.upload
        return decode_image(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)

    def analyze_pixels(
        self, pixels: RGBImage, *, embed: bool = True, fallback: bool = True
    ) -> AnalyzedImage:
        detections = self.engine.detector.detect(pixels)
        second = self.engine.fallback_detector
        if not detections and fallback and second is not None and self._fallback_allowed(pixels):
            detections = second.detect(pixels)
        points = self.engine.landmarker.landmarks(pixels, detections)
        faces = [
            AnalyzedFace(detection=d, landmarks=p, quality=face_quality(pixels, d, p))
            for d, p in zip(detections, points, strict=True)
        ]
        if embed and faces:
            vectors = self.embed_landmarks(pixels, points)
            for face, vector in zip(faces, vectors, strict=True):
                face.embedding = vector
        height, width = pixels.shape[:2]
        return AnalyzedImage(
            width=int(width), height=int(height), faces=faces, model=self.model, pixels=pixels
        )

    def embed_landmarks(self, pixels: RGBImage, points: list[Landmarks]) -> NDArray[np.float32]:
        """Unit descriptors of the faces at ``points`` (no detection)."""
        return l2_normalise(self.engine.embedder.embed(pixels, points))

    def _fallback_allowed(self, pixels: RGBImage) -> bool:
        height, width = pixels.shape[:2]
        return int(height) * int(width) <= self.settings.detector.fallback_max_pixels

    # -- async entry point -------------------------------------------------------------
    async def run(self, data: bytes, *, embed: bool = True, fallback: bool = True) -> AnalyzedImage:
        """``analyze`` off the event loop, with bounded concurrency and queue."""
        if self._executor is None:
            self.load()
        assert self._executor is not None
        with self._lock:
            if self._pending >= self.settings.inference.max_pending:
                raise Busy("the server is busy analysing other images; retry shortly")
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, partial(self.analyze, data, embed=embed, fallback=fallback)
            )
        finally:
            with self._lock:
                self._pending -= 1
