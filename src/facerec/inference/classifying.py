"""What the runtime needs of an image classifier, and what it gives back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from facerec.inference.types import RGBImage


class Classifier(Protocol):
    """An image classifier: ``prepare`` runs in the caller's (inference) thread,
    ``probabilities`` on a batch of prepared images (the runtime's micro-batcher).
    Both must be safe to call from several threads; ``load`` is idempotent."""

    @property
    def model_id(self) -> str: ...

    @property
    def labels(self) -> Sequence[str]: ...

    def load(self) -> None: ...

    def prepare(self, pixels: RGBImage) -> NDArray[np.uint8]: ...

    def probabilities(self, batch: NDArray[np.uint8]) -> NDArray[np.float32]: ...


@dataclass(frozen=True, slots=True)
class Classified:
    model: str
    probabilities: NDArray[np.float32]
    """One per class, by class index (they sum to 1)."""
