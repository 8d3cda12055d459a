"""The interface every vector index answers, and the per-person ranking on top of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Hit:
    """The best face of one person for a query."""

    person_id: int
    face_id: int
    similarity: float
    """Cosine similarity clipped to [0, 1]."""


class VectorIndex(Protocol):
    """Face vectors keyed by face id, each tagged with its person."""

    dim: int

    def add(self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]) -> None:
        """Add or replace vectors (L2-normalised, one row per face)."""
        ...

    def remove(self, face_ids: list[int]) -> None: ...

    def reset(self) -> None: ...

    def count(self) -> int: ...

    def search_people(self, vectors: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        """For each query row: the best face per person, then the ``top_k`` best people."""
        ...
