"""A small classifier for fast tests: 25 classes, the first three the image's mean red,
green and blue (logits = mean / 10, the others 0); ``hold()`` makes the next batch wait."""

from __future__ import annotations

import io
import threading

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.inference.types import RGBImage

LABELS = ("red", "green", "blue", *(f"class {i}" for i in range(3, 25)))


def flat(colour: tuple[int, int, int], size: int = 32, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format=fmt)
    return out.getvalue()


class FakeClassifier:
    model_id = "fake-classes-v1"
    labels = LABELS

    def __init__(self) -> None:
        self.loads = 0
        self.batches: list[int] = []
        self.threads: list[str] = []
        self._gate: threading.Event | None = None
        self.entered = threading.Event()

    def load(self) -> None:
        self.loads += 1

    def prepare(self, pixels: RGBImage) -> NDArray[np.uint8]:
        self.threads.append(threading.current_thread().name)
        return np.asarray(Image.fromarray(pixels).resize((4, 4)), dtype=np.uint8)

    def hold(self) -> threading.Event:
        self._gate = threading.Event()
        return self._gate

    def probabilities(self, batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        self.entered.set()
        if self._gate is not None:
            assert self._gate.wait(timeout=30), "the test never released the classifier"
        self.batches.append(len(batch))
        logits = np.zeros((len(batch), len(LABELS)))
        logits[:, :3] = batch.reshape(len(batch), -1, 3).mean(axis=1) / 10
        exp = np.exp(logits)
        probabilities: NDArray[np.float32] = (exp / exp.sum(axis=1, keepdims=True)).astype(
            np.float32
        )
        return probabilities
