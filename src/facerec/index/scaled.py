"""The FAISS backend: exact up to ``faiss.approximate_above`` faces, approximate past it.

:class:`ScaledFaissIndex` holds a :class:`~facerec.index.faiss_index.FaissIndex`
(exact, what small galleries always had) until an ``add`` takes it past the size, then
an :class:`~facerec.index.approx.ApproxIndex` built from everything it holds; a
``reset`` (a full rebuild) starts exact again. A saved index (``index/saved.py``) is
put in with :meth:`use`.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import NDArray

from facerec.config import Settings
from facerec.index.approx import ApproxIndex
from facerec.index.base import Hit, IndexEntries, checked_rows
from facerec.index.faiss_index import FaissIndex
from facerec.index.frozen import Frozen, freeze


class ScaledFaissIndex:
    def __init__(self, dim: int, *, approximate_above: int, nprobe: int) -> None:
        self.dim = dim
        self.approximate_above = approximate_above
        self.nprobe = nprobe
        self._lock = threading.RLock()
        self._exact: FaissIndex | None = FaissIndex(dim)
        self._approx: ApproxIndex | None = None

    @property
    def approximate(self) -> ApproxIndex | None:
        """The approximate index in use, if the gallery is past the size."""
        return self._approx

    def use(self, base: Frozen, *, generation: int) -> None:
        """Serve from ``base`` (a saved index, at ``generation``) from now on."""
        with self._lock:
            self._approx = ApproxIndex(self.dim, base, nprobe=self.nprobe, generation=generation)
            self._exact = None

    def add(self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]) -> None:
        with self._lock:
            if self._approx is not None:
                self._approx.add(face_ids, person_ids, vectors)
                return
            assert self._exact is not None
            if self._exact.count() + len(face_ids) <= self.approximate_above:
                self._exact.add(face_ids, person_ids, vectors)
                return
            if self._exact.count():
                self._exact.add(face_ids, person_ids, vectors)  # checks, drops duplicates
                held = self._exact.entries()
                faces, people, rows = held.face_ids, held.person_ids, held.vectors
            else:  # a full build: straight from the rows
                faces, people, rows = _last_of_each(
                    *checked_rows(face_ids, person_ids, vectors, self.dim)
                )
            self._approx = ApproxIndex(self.dim, freeze(faces, people, rows), nprobe=self.nprobe)
            self._exact = None

    def remove(self, face_ids: list[int]) -> None:
        with self._lock:
            self._current().remove(face_ids)

    def reset(self) -> None:
        with self._lock:
            self._exact = FaissIndex(self.dim)
            self._approx = None

    def count(self) -> int:
        with self._lock:
            return self._current().count()

    def entries(self) -> IndexEntries:
        with self._lock:
            return self._current().entries()

    def search_people(self, vectors: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        with self._lock:
            current = self._current()
        return current.search_people(vectors, top_k)

    def _current(self) -> FaissIndex | ApproxIndex:
        current = self._approx or self._exact
        assert current is not None
        return current


def scaled_faiss(settings: Settings, dim: int) -> ScaledFaissIndex:
    """The FAISS backend as ``settings.faiss`` configures it."""
    return ScaledFaissIndex(
        dim, approximate_above=settings.faiss.approximate_above, nprobe=settings.faiss.nprobe
    )


def _last_of_each(
    faces: NDArray[np.int64], people: NDArray[np.int64], rows: NDArray[np.float32]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """The rows with a face given twice kept once (its last row)."""
    _, last = np.unique(faces[::-1], return_index=True)
    keep = np.sort(len(faces) - 1 - last)
    return faces[keep], people[keep], rows[keep]
