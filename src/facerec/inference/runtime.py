"""The one object that owns the face models and schedules inference.

``FaceRuntime.analyze`` is the whole pipeline for one image (decode, detect,
landmarks, quality, embed, normalise). ``FaceRuntime.run`` calls it from async
code on a bounded thread pool, so the event loop never blocks, at most
``inference.threads`` images are analysed at once, and at most
``inference.max_pending`` wait; past that the caller gets :class:`Busy`. Decoded
pixels count against a process-wide :class:`PixelBudget` while they are held.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from time import perf_counter
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from facerec.config import Settings
from facerec.errors import Busy, NotReady
from facerec.inference.batching import MicroBatcher
from facerec.inference.budget import PixelBudget, image_pixels
from facerec.inference.classifying import Classified, Classifier
from facerec.inference.decode import DecodedImage, decode_image
from facerec.inference.memory import trim
from facerec.inference.quality import face_quality
from facerec.inference.types import (
    AnalyzedFace,
    AnalyzedImage,
    FaceEngine,
    LandmarkOrder,
    Landmarks,
    RGBImage,
)
from facerec.metrics.instruments import QUEUE_DEPTH, observe_stage, shed

T = TypeVar("T")
TRIM_AFTER_PIXELS = 4_000_000
"""Once the last image of at least this size is let go, freed memory goes back to the
system (``memory.trim``; measured by ``bench/overload.py``)."""


def l2_normalise(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """The single place embeddings are normalised."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised


class FaceRuntime:
    def __init__(
        self, engine: FaceEngine, settings: Settings, *, classifier: Classifier | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.classifier = classifier
        """ImageNet classification (``classify``), through the same stage as faces."""
        self._class_batcher: MicroBatcher | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0
        self._lock = threading.Lock()
        self.budget = PixelBudget(settings.inference.max_pixels_in_flight)
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
        if self.classifier is not None and self.settings.classify.preload:
            self.classifier.load()
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
        if self._class_batcher is not None:
            self._class_batcher.close()
            self._class_batcher = None
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
        start = perf_counter()
        decoded = decode_image(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
        observe_stage("decode", start)
        return decoded

    def analyze_pixels(
        self, pixels: RGBImage, *, embed: bool = True, fallback: bool = True
    ) -> AnalyzedImage:
        start = perf_counter()
        detections = self.engine.detector.detect(pixels)
        second = self.engine.fallback_detector
        if not detections and fallback and second is not None and self._fallback_allowed(pixels):
            detections = second.detect(pixels)
        start = observe_stage("detect", start)
        points = self.engine.landmarker.landmarks(pixels, detections)
        observe_stage("landmarks", start)
        arcface = getattr(self.engine, "landmark_order", "dlib5") == "arcface5"
        order: LandmarkOrder = "arcface5" if arcface else "dlib5"
        faces = [
            AnalyzedFace(detection=d, landmarks=p, quality=face_quality(pixels, d, p, order))
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
        start = perf_counter()
        vectors = l2_normalise(self.engine.embedder.embed(pixels, points))
        observe_stage("embed", start)
        return vectors

    def classify_image(self, data: bytes) -> Classified:
        """Decode ``data`` and give every class's probability (synchronous; the CLI's path).

        Images from concurrent callers run through the network together
        (``inference.batch_size``, as faces do)."""
        classifier = self._classifier()
        decoded = self.decode(data)
        start = perf_counter()
        prepared = classifier.prepare(decoded.pixels)
        del decoded
        probabilities = self._classify_batcher(classifier).submit(prepared[np.newaxis])
        observe_stage("classify", start)
        return Classified(model=classifier.model_id, probabilities=probabilities[0])

    def _classifier(self) -> Classifier:
        if self.classifier is None:
            raise NotReady("this server has no image classifier")
        return self.classifier

    def _classify_batcher(self, classifier: Classifier) -> MicroBatcher:
        with self._lock:
            if self._class_batcher is None:
                inference = self.settings.inference
                self._class_batcher = MicroBatcher(
                    classifier.probabilities,
                    max_batch=inference.batch_size,
                    max_wait_ms=inference.batch_wait_ms,
                    max_queue=inference.max_pending,
                )
            return self._class_batcher

    def _fallback_allowed(self, pixels: RGBImage) -> bool:
        height, width = pixels.shape[:2]
        return int(height) * int(width) <= self.settings.detector.fallback_max_pixels

    # -- async entry points ------------------------------------------------------------
    async def run(self, data: bytes, *, embed: bool = True, fallback: bool = True) -> AnalyzedImage:
        """``analyze`` off the event loop, with bounded concurrency, queue and pixels.

        The result carries no pixels: they are let go (and their budget given back)
        before it is returned; :meth:`analysis` keeps them for callers that need them."""
        async with self.analysis(data, embed=embed, fallback=fallback) as analyzed:
            analyzed.pixels = None
            return analyzed

    async def classify(self, data: bytes) -> Classified:
        """``classify_image`` in the inference stage faces use: the same threads, the same
        ``max_pending`` bound (``Busy`` past it) and the same pixel budget."""
        self._classifier()  # no classifier: NotReady before any queueing
        async with self._stage(data, self.classify_image) as (classified, _):
            return classified

    @asynccontextmanager
    async def analysis(
        self, data: bytes, *, embed: bool = True, fallback: bool = True
    ) -> AsyncIterator[AnalyzedImage]:
        """``run``, but the decoded pixels stay available (``pixels``), and counted against
        the pixel budget, until the ``async with`` block ends."""
        work = partial(self.analyze, embed=embed, fallback=fallback)
        async with self._stage(data, work) as (analyzed, _):
            try:
                yield analyzed
            finally:
                analyzed.pixels = None

    @asynccontextmanager
    async def _stage(self, data: bytes, work: Callable[[bytes], T]) -> AsyncIterator[tuple[T, int]]:
        """``work(data)`` on the inference pool, within ``max_pending`` and the pixel
        budget; the pixels taken are given back when the block ends."""
        if self._executor is None:
            self.load()
        assert self._executor is not None
        with self._lock:
            if self._pending >= self.settings.inference.max_pending:
                shed("inference_queue")
                raise Busy("the server is busy analysing other images; retry shortly")
            self._pending += 1
        QUEUE_DEPTH.inc()
        try:
            taken = await self.budget.acquire(self._pixels(data))
            result = await self._within(taken, work, data)
        finally:
            with self._lock:
                self._pending -= 1
            QUEUE_DEPTH.dec()
        try:
            yield result, taken
        finally:
            self.budget.release(taken)
            if taken >= TRIM_AFTER_PIXELS and self.budget.used == 0:  # a burst's end
                asyncio.get_running_loop().run_in_executor(None, trim)

    async def _within(self, taken: int, work: Callable[[bytes], T], data: bytes) -> T:
        """``work(data)`` on the pool; on failure the ``taken`` pixels are given back once
        the pool thread is done with them (a cancelled wait does not stop a running thread)."""
        assert self._executor is not None
        try:
            # in the caller's context: log lines from the pool carry the request id
            run = contextvars.copy_context().run
            future = self._executor.submit(run, work, data)
        except BaseException:
            self.budget.release(taken)
            raise
        try:
            return await asyncio.wrap_future(future)
        except BaseException:
            future.add_done_callback(lambda _: self.budget.release(taken))
            raise

    def _pixels(self, data: bytes) -> int:
        """What decoding ``data`` will hold; 0 for what decoding refuses before any pixel."""
        pixels = image_pixels(data)
        return pixels if pixels <= self.settings.upload.max_pixels else 0
