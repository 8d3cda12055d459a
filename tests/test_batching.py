"""Micro-batching: concurrent callers share network calls; a full queue answers Busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.typing import NDArray

from facerec.errors import Busy
from facerec.inference.batching import MicroBatcher


class SlowNet:
    """Rows = the first pixel of each chip; records the size of each call. With a gate,
    every call signals ``entered`` and then waits for the gate."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[int] = []
        self.gate = gate
        self.entered = threading.Event()

    def __call__(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append(len(chips))
        return chips[:, 0, 0, :1].astype(np.float32)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _chips(value: int, n: int = 1) -> NDArray[np.uint8]:
    return np.full((n, 4, 4, 3), value, dtype=np.uint8)


def test_each_caller_gets_its_own_rows_from_shared_batches() -> None:
    net = SlowNet()
    batcher = MicroBatcher(net, max_batch=64, max_wait_ms=50, max_queue=64)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda v: batcher.submit(_chips(v, n=2)), range(16)))
    batcher.close()
    for value, rows in enumerate(results):
        assert rows.shape == (2, 1)
        assert (rows == value).all()
    assert sum(net.calls) == 32
    assert len(net.calls) < 16  # requests were merged


def test_batches_are_bounded() -> None:
    net = SlowNet()
    batcher = MicroBatcher(net, max_batch=4, max_wait_ms=50, max_queue=64)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda v: batcher.submit(_chips(v)), range(16)))
    batcher.close()
    assert max(net.calls) <= 4


def test_a_full_queue_is_busy() -> None:
    gate = threading.Event()
    net = SlowNet(gate)
    batcher = MicroBatcher(net, max_batch=1, max_wait_ms=0, max_queue=1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        running = pool.submit(batcher.submit, _chips(1))
        _wait_until(net.entered.is_set)  # the worker holds job 1 inside the network
        waiting = pool.submit(batcher.submit, _chips(2))
        _wait_until(lambda: batcher._queue.qsize() == 1)  # job 2 fills the queue
        with pytest.raises(Busy):
            batcher.submit(_chips(3))
        gate.set()
        assert running.result(10)[0, 0] == 1
        assert waiting.result(10)[0, 0] == 2
    batcher.close()


def test_network_errors_reach_every_caller() -> None:
    def broken(chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        raise RuntimeError("boom")

    batcher = MicroBatcher(broken, max_batch=2, max_wait_ms=0, max_queue=2)
    with pytest.raises(RuntimeError, match="boom"):
        batcher.submit(_chips(1))
    batcher.close()
