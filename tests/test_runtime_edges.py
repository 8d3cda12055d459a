"""Edges of ``FaceRuntime``: ``l2_normalise``, the load/close life cycle, the inference
pool (size, thread names, per-thread load), the Busy bound at exactly
``max_pending``, the fallback detector and the ``embed``/``fallback`` switches."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from facerec.config import Settings
from facerec.errors import Busy
from facerec.inference.runtime import FaceRuntime, l2_normalise
from facerec.inference.types import Detection, Detector, Landmarks, RGBImage
from tests.fakes import FakeEngine, picture

RED = (200, 40, 40)
BUSY = "the server is busy analysing other images; retry shortly"
SECOND_FACE = Detection(x1=20.0, y1=20.0, x2=80.0, y2=80.0, score=0.5)
WAIT = 10.0  # the bound on every wait for something that must happen


class SecondLook:
    """A fallback detector that records the images it was given and finds one face."""

    def __init__(self) -> None:
        self.images: list[RGBImage] = []

    def detect(self, image: RGBImage) -> list[Detection]:
        self.images.append(image)
        return [SECOND_FACE]


class ProbeEngine:
    """``FakeEngine``'s models, recording who called what; detection can be held."""

    name = "probe"
    model_id = FakeEngine.model_id
    dim = FakeEngine.dim

    def __init__(
        self,
        *,
        fallback: Detector | None = None,
        extra_landmarks: bool = False,
        extra_rows: bool = False,
    ) -> None:
        self._fake = FakeEngine()
        self._fallback = fallback
        self._extra_landmarks = extra_landmarks
        self._extra_rows = extra_rows
        self._lock = threading.Lock()
        self._entered = threading.Condition(self._lock)
        self._gate: threading.Event | None = None
        self.load_threads: list[threading.Thread] = []
        self.detects: list[tuple[threading.Thread, bool]] = []
        """Per detect call: the calling thread, and whether that thread had loaded first."""
        self.finished = 0
        self.landmark_images: list[RGBImage] = []
        self.embeds = 0
        self.closes: list[int] = []
        """Per close call: how many detections had finished by then."""

    # -- engine -------------------------------------------------------------------------
    def load(self) -> None:
        with self._lock:
            self.load_threads.append(threading.current_thread())

    def close(self) -> None:
        with self._lock:
            self.closes.append(self.finished)

    @property
    def fallback_detector(self) -> Detector | None:
        return self._fallback

    @property
    def detector(self) -> ProbeEngine:
        return self

    @property
    def landmarker(self) -> ProbeEngine:
        return self

    @property
    def embedder(self) -> ProbeEngine:
        return self

    def detect(self, image: RGBImage) -> list[Detection]:
        me = threading.current_thread()
        with self._entered:
            self.detects.append((me, me in self.load_threads))
            self._entered.notify_all()
        gate = self._gate
        if gate is not None:
            assert gate.wait(timeout=30), "the test never released the engine"
        found = self._fake.detect(image)
        with self._lock:
            self.finished += 1
        return found

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        self.landmark_images.append(image)
        points = self._fake.landmarks(image, detections)
        return points + points[:1] if self._extra_landmarks else points

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        self.embeds += 1
        rows = self._fake.embed(image, landmarks)
        return np.concatenate([rows, rows[:1]]) if self._extra_rows else rows

    # -- test controls ------------------------------------------------------------------
    def hold(self) -> threading.Event:
        """From now on each detection waits until the returned event is set."""
        gate = threading.Event()
        self._gate = gate
        return gate

    def wait_entered(self, count: int) -> bool:
        """Whether ``count`` detections have started (waits at most ``WAIT`` seconds)."""
        with self._entered:
            return self._entered.wait_for(lambda: len(self.detects) >= count, WAIT)

    def entered(self) -> int:
        with self._lock:
            return len(self.detects)


def _tuned(
    settings: Settings,
    *,
    threads: int = 2,
    max_pending: int = 64,
    fallback_max_pixels: int = 1_000_000,
) -> Settings:
    inference = settings.inference.model_copy(
        update={"threads": threads, "max_pending": max_pending}
    )
    detector = settings.detector.model_copy(update={"fallback_max_pixels": fallback_max_pixels})
    return settings.model_copy(update={"inference": inference, "detector": detector})


def _blank(height: int = 100, width: int = 100) -> RGBImage:
    """Pixels in which the first detector finds nothing."""
    return np.zeros((height, width, 3), dtype=np.uint8)


# -- l2_normalise ------------------------------------------------------------------------
def test_l2_normalise_scales_each_row_to_unit_length() -> None:
    vectors = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, -2.0]], dtype=np.float32)
    out = l2_normalise(vectors)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.6, 0.8], [0.0, -1.0]], rtol=1e-6)


def test_l2_normalise_leaves_a_zero_vector_zero() -> None:
    out = l2_normalise(np.zeros((1, 3), dtype=np.float32))
    assert out.tolist() == [[0.0, 0.0, 0.0]]


def test_l2_normalise_returns_float32_whatever_it_is_given() -> None:
    out = l2_normalise(np.array([[3.0, 4.0]], dtype=np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8]], rtol=1e-6)


# -- life cycle ----------------------------------------------------------------------------
def test_loaded_follows_load_and_close_and_close_calls_the_engine(settings: Settings) -> None:
    engine = ProbeEngine()
    runtime = FaceRuntime(engine, _tuned(settings, threads=1))
    assert runtime.loaded is False
    runtime.close()  # closing a runtime that never loaded is harmless
    assert runtime.loaded is False
    assert engine.closes == [0]
    runtime.load()
    assert runtime.loaded is True
    assert engine.load_threads == [threading.current_thread()]  # loaded in the caller
    runtime.close()
    assert runtime.loaded is False
    assert engine.closes == [0, 0]


def test_run_loads_only_when_needed(settings: Settings) -> None:
    engine = ProbeEngine()
    runtime = FaceRuntime(engine, _tuned(settings, threads=1))
    try:
        runtime.load()
        for _ in range(3):
            assert len(asyncio.run(runtime.run(picture([(RED, 60)]))).faces) == 1
        # once here, once by the single pool thread; run() did not load again
        assert len(engine.load_threads) == 2
    finally:
        runtime.close()


def test_a_run_after_close_starts_a_new_pool_and_loads_again(settings: Settings) -> None:
    engine = ProbeEngine()
    runtime = FaceRuntime(engine, _tuned(settings, threads=1))
    image = picture([(RED, 60)])
    try:
        assert len(asyncio.run(runtime.run(image)).faces) == 1  # no load() first
        assert runtime.loaded is True
        assert len(engine.load_threads) == 2
        first_thread = engine.detects[0][0]
        runtime.close()
        assert not first_thread.is_alive()  # close joined the pool
        assert runtime.loaded is False
        assert len(asyncio.run(runtime.run(image)).faces) == 1
        assert runtime.loaded is True
        assert len(engine.load_threads) == 4
        assert engine.detects[1][0] is not first_thread
    finally:
        runtime.close()


# -- the pool ------------------------------------------------------------------------------
def test_the_pool_has_inference_threads_named_threads_that_loaded_first(
    settings: Settings,
) -> None:
    engine = ProbeEngine()
    runtime = FaceRuntime(engine, _tuned(settings, threads=2, max_pending=8))
    image = picture([(RED, 60)])
    release = engine.hold()

    async def scenario() -> None:
        try:
            running = [asyncio.ensure_future(runtime.run(image)) for _ in range(2)]
            assert await asyncio.to_thread(engine.wait_entered, 2)  # two at once
            third = asyncio.ensure_future(runtime.run(image))
            await asyncio.sleep(0)  # one step: the third is handed to the pool ...
            assert engine.entered() == 2  # ... and waits for a free thread
        finally:
            release.set()
        for result in await asyncio.wait_for(asyncio.gather(*running, third), WAIT):
            assert len(result.faces) == 1

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        runtime.close()
    threads = {thread for thread, _ in engine.detects}
    assert len(engine.detects) == 3
    assert len(threads) == 2  # the third ran on one of the two pool threads
    assert all(thread.name.startswith("facerec-inference") for thread in threads)
    assert all(loaded_first for _, loaded_first in engine.detects)
    assert len(engine.load_threads) == 3  # the caller, then each pool thread once


def test_close_waits_for_running_work_and_cancels_queued_work(settings: Settings) -> None:
    engine = ProbeEngine()
    runtime = FaceRuntime(engine, _tuned(settings, threads=1, max_pending=8))
    image = picture([(RED, 60)])
    release = engine.hold()

    async def scenario() -> None:
        try:
            first = asyncio.ensure_future(runtime.run(image))
            assert await asyncio.to_thread(engine.wait_entered, 1)
            second = asyncio.ensure_future(runtime.run(image))
            await asyncio.sleep(0)  # the second is queued behind the first
            closing = asyncio.ensure_future(asyncio.to_thread(runtime.close))
            done, _ = await asyncio.wait({second}, timeout=WAIT)
            assert second in done and second.cancelled()  # queued work is dropped at once
        finally:
            release.set()
        await asyncio.wait_for(closing, WAIT)
        assert len((await first).faces) == 1  # running work was let finish

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        runtime.close()
    assert engine.finished == 1  # the queued image was never analysed
    assert engine.closes[0] == 1  # the engine closed only after the running work finished


# -- the Busy bound --------------------------------------------------------------------------
def test_the_bound_at_max_pending_one(settings: Settings) -> None:
    engine = ProbeEngine()
    runtime = FaceRuntime(engine, _tuned(settings, threads=2, max_pending=1))
    image = picture([(RED, 60)])

    async def scenario() -> None:
        # a finished image frees its place
        assert len((await asyncio.wait_for(runtime.run(image), WAIT)).faces) == 1
        release = engine.hold()
        try:
            first = asyncio.ensure_future(runtime.run(image))
            assert await asyncio.to_thread(engine.wait_entered, 2)
            with pytest.raises(Busy) as refused:  # one in the stage: the next is refused
                await asyncio.wait_for(runtime.run(image), WAIT)
            assert refused.value.message == BUSY
            assert str(refused.value) == BUSY
        finally:
            release.set()
        assert len((await asyncio.wait_for(first, WAIT)).faces) == 1
        for _ in range(3):
            assert len((await asyncio.wait_for(runtime.run(image), WAIT)).faces) == 1
        assert engine.entered() == 5  # the refused image was never analysed

    try:
        asyncio.run(scenario())
    finally:
        runtime.close()


def test_the_bound_at_max_pending_two(settings: Settings) -> None:
    engine = ProbeEngine()
    runtime = FaceRuntime(engine, _tuned(settings, threads=2, max_pending=2))
    image = picture([(RED, 60)])
    release = engine.hold()

    async def scenario() -> None:
        try:
            running = [asyncio.ensure_future(runtime.run(image)) for _ in range(2)]
            assert await asyncio.to_thread(engine.wait_entered, 2)  # both were accepted
            with pytest.raises(Busy):
                await asyncio.wait_for(runtime.run(image), WAIT)
        finally:
            release.set()
        for result in await asyncio.wait_for(asyncio.gather(*running), WAIT):
            assert len(result.faces) == 1

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        runtime.close()
    assert engine.entered() == 2


# -- the fallback detector -------------------------------------------------------------------
def test_the_fallback_looks_again_when_the_first_finds_nothing(settings: Settings) -> None:
    second = SecondLook()
    engine = ProbeEngine(fallback=second)
    runtime = FaceRuntime(engine, _tuned(settings))
    pixels = _blank()
    result = runtime.analyze_pixels(pixels)  # defaults: fallback and embed on
    assert len(second.images) == 1 and second.images[0] is pixels
    assert [face.detection for face in result.faces] == [SECOND_FACE]
    assert len(engine.landmark_images) == 1 and engine.landmark_images[0] is pixels
    embedding = result.faces[0].embedding
    assert embedding is not None
    assert embedding.shape == (FakeEngine.dim,)
    assert float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-5)
    assert (result.width, result.height) == (100, 100)
    assert result.pixels is pixels


def test_no_fallback_when_the_first_finds_a_face(settings: Settings) -> None:
    second = SecondLook()
    runtime = FaceRuntime(ProbeEngine(fallback=second), _tuned(settings))
    result = runtime.analyze(picture([(RED, 60)]))
    assert second.images == []
    assert [face.detection.box() for face in result.faces] == [[20, 20, 80, 80]]


def test_no_fallback_when_switched_off(settings: Settings) -> None:
    second = SecondLook()
    runtime = FaceRuntime(ProbeEngine(fallback=second), _tuned(settings))
    assert runtime.analyze_pixels(_blank(), fallback=False).faces == []
    assert second.images == []


@pytest.mark.parametrize(("limit", "looked"), [(10_000, 1), (9_999, 0)])
def test_the_fallback_pixel_limit_is_inclusive(settings: Settings, limit: int, looked: int) -> None:
    second = SecondLook()
    runtime = FaceRuntime(ProbeEngine(fallback=second), _tuned(settings, fallback_max_pixels=limit))
    result = runtime.analyze_pixels(_blank(100, 100))  # 100 x 100 = 10,000 pixels
    assert len(second.images) == looked
    assert len(result.faces) == looked


def test_analyze_passes_fallback_and_embed_through(settings: Settings) -> None:
    second = SecondLook()
    engine = ProbeEngine(fallback=second)
    runtime = FaceRuntime(engine, _tuned(settings))
    blank = picture([])  # 100 x 100 black PNG

    assert runtime.analyze(blank, fallback=False).faces == []
    assert second.images == []

    result = runtime.analyze(blank)  # fallback on by default
    assert len(second.images) == 1
    assert [face.detection for face in result.faces] == [SECOND_FACE]
    assert result.faces[0].embedding is not None
    assert (result.format, result.width, result.height) == ("PNG", 100, 100)
    assert engine.embeds == 1

    bare = runtime.analyze(picture([(RED, 60)], fmt="JPEG"), embed=False)
    assert len(bare.faces) == 1 and bare.faces[0].embedding is None
    assert bare.format == "JPEG"
    assert engine.embeds == 1  # the embedder was not called


def test_analyze_pixels_without_embed_never_embeds(settings: Settings) -> None:
    engine = ProbeEngine()
    runtime = FaceRuntime(engine, _tuned(settings))
    result = runtime.analyze_pixels(_red_pixels(), embed=False)
    assert len(result.faces) == 1 and result.faces[0].embedding is None
    assert engine.embeds == 0


def test_run_passes_fallback_and_embed_through(settings: Settings) -> None:
    second = SecondLook()
    engine = ProbeEngine(fallback=second)
    runtime = FaceRuntime(engine, _tuned(settings))
    blank = picture([])
    try:
        assert asyncio.run(runtime.run(blank, fallback=False)).faces == []
        assert second.images == []
        result = asyncio.run(runtime.run(blank))  # fallback on by default
        assert len(second.images) == 1
        assert [face.detection for face in result.faces] == [SECOND_FACE]
        assert result.faces[0].embedding is not None
        bare = asyncio.run(runtime.run(picture([(RED, 60)]), embed=False))
        assert len(bare.faces) == 1 and bare.faces[0].embedding is None
        assert engine.embeds == 1
    finally:
        runtime.close()


# -- mismatched model outputs are errors, not silently dropped faces -----------------------
def test_a_landmark_count_that_does_not_match_the_detections_is_an_error(
    settings: Settings,
) -> None:
    runtime = FaceRuntime(ProbeEngine(extra_landmarks=True), _tuned(settings))
    with pytest.raises(ValueError):
        runtime.analyze_pixels(_red_pixels(), embed=False)


def test_an_embedding_count_that_does_not_match_the_faces_is_an_error(
    settings: Settings,
) -> None:
    runtime = FaceRuntime(ProbeEngine(extra_rows=True), _tuned(settings))
    with pytest.raises(ValueError):
        runtime.analyze_pixels(_red_pixels())


def _red_pixels() -> RGBImage:
    """One 60-pixel red square in a 100 x 100 black image: one face for the fake."""
    pixels = _blank()
    pixels[20:80, 20:80] = RED
    return pixels
