"""Micro-batching: chips from concurrent requests are embedded in one network call.

A caller hands its chips to :meth:`MicroBatcher.submit` and blocks for its rows. One
worker thread takes the first waiting request, gathers more for up to ``max_wait_ms``
or until ``max_batch`` chips, runs the network once, and hands each caller its rows.
The queue is bounded: when it is full the caller gets :class:`Busy` (HTTP 503 with
Retry-After) instead of piling up memory.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facerec.errors import Busy
from facerec.inference.dlib_align import dlib_chips
from facerec.inference.types import Align, Landmarks, RGBImage
from facerec.metrics.instruments import BATCH_SIZE, shed

Run = Callable[[NDArray[np.uint8]], NDArray[np.float32]]


@dataclass(slots=True)
class _Job:
    chips: NDArray[np.uint8]
    result: Future[NDArray[np.float32]]


class MicroBatcher:
    def __init__(self, run: Run, *, max_batch: int, max_wait_ms: float, max_queue: int) -> None:
        self._run = run
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait_ms) / 1000
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max(1, max_queue))
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0
        """Network calls made (for tests and benchmarks)."""

    def submit(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        if len(chips) == 0:
            return np.zeros((0, 0), dtype=np.float32)
        self._ensure_started()
        job = _Job(chips=chips, result=Future())
        try:
            self._queue.put_nowait(job)
        except queue.Full as exc:
            shed("embed_queue")
            raise Busy("the embedding queue is full; retry shortly") from exc
        return job.result.result()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="facerec-batcher", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = self._gather(first)
            try:
                rows = self._run(np.concatenate([j.chips for j in jobs]))
            except BaseException as exc:  # hand the failure to every waiting caller
                for job in jobs:
                    job.result.set_exception(exc)
                continue
            self.batches += 1
            BATCH_SIZE.observe(len(rows))
            start = 0
            for job in jobs:
                job.result.set_result(rows[start : start + len(job.chips)])
                start += len(job.chips)

    def _gather(self, first: _Job) -> list[_Job]:
        jobs, count = [first], len(first.chips)
        deadline = time.monotonic() + self.max_wait
        while count < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if job is None:  # closing: finish this batch, then stop
                self._queue.put(None)
                break
            jobs.append(job)
            count += len(job.chips)
        return jobs


class BatchedEmbedder:
    """An Embedder that aligns in the caller's thread (``align``: dlib's chips unless the
    network wants its own) and embeds through a MicroBatcher."""

    def __init__(
        self, model_id: str, dim: int, batcher: MicroBatcher, *, align: Align = dlib_chips
    ) -> None:
        self.model_id = model_id
        self.dim = dim
        self.batcher = batcher
        self.align = align

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        if not landmarks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_chips(self.align(image, landmarks))

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        return self.batcher.submit(chips)
