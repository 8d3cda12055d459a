"""Vectors keyed by id in two layers: a read-only base and a small in-memory delta.

The base (an IVF or a flat index with ids, maybe memory-mapped) never changes; an id
removed from it is a tombstone that its searches skip (a FAISS ``IDSelector``), and what
was added since lives in an exact ``IndexIDMap2(IndexFlatIP)``. A search asks both and
keeps the best ``k``. A base whose scores are only near (a quantised IVF) is given
``exact``: the stored vectors of its ids, from which what it returns is scored again.
"""

from __future__ import annotations

from collections.abc import Callable

import faiss
import numpy as np
from numpy.typing import NDArray


class Layer:
    def __init__(
        self,
        dim: int,
        base: faiss.Index,
        *,
        nprobe: int,
        exact: Callable[[NDArray[np.int64]], NDArray[np.float32]] | None = None,
    ) -> None:
        self.base = base
        self.exact = exact
        self.nprobe = nprobe
        self.delta = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.dead: set[int] = set()
        self._params: faiss.SearchParameters | None = None
        self._selectors: tuple[faiss.IDSelector, ...] = ()  # alive while FAISS points at them
        self._stale = False

    def kill(self, ids: list[int]) -> None:
        """Hide base entries from searches (ids not in the base change nothing)."""
        if ids:
            self.dead.update(ids)
            self._stale = True

    def put(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        if len(ids):
            self.delta.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def drop(self, ids: list[int]) -> None:
        """Remove ids from the delta."""
        if ids and self.delta.ntotal:
            self.delta.remove_ids(np.asarray(ids, dtype=np.int64))  # type: ignore[arg-type]

    def search(
        self, queries: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """The best ``k`` (score, id) of both layers per query, best first (id -1: none)."""
        parts = []
        if self.base.ntotal:
            scores, ids = self.base.search(queries, k, params=self._search_params())
            if self.exact is not None:
                scores = self._rescored(queries, ids)
            elif self.base.metric_type == faiss.METRIC_L2:  # unit vectors: cos = 1 - d^2 / 2
                scores = 1.0 - scores / 2.0
            parts.append((scores, ids))
        if self.delta.ntotal:
            parts.append(self.delta.search(queries, min(k, int(self.delta.ntotal))))
        if not parts:
            return (
                np.zeros((len(queries), 0), dtype=np.float32),
                np.zeros((len(queries), 0), dtype=np.int64),
            )
        scores = np.hstack([p[0] for p in parts])
        ids = np.hstack([p[1] for p in parts])
        scores = np.where(ids < 0, -np.inf, scores)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)

    def _rescored(
        self, queries: NDArray[np.float32], ids: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        """The exact cosines of the base's answers (ids -1 keep no score)."""
        assert self.exact is not None
        scores = np.full(ids.shape, -np.inf, dtype=np.float32)
        found = ids >= 0
        rows = self.exact(ids[found])
        scores[found] = np.einsum("ij,ij->i", rows, np.repeat(queries, found.sum(axis=1), axis=0))
        return scores

    def _search_params(self) -> faiss.SearchParameters | None:
        if self._stale:
            self._stale = False
            if self.dead:
                batch = faiss.IDSelectorBatch(np.asarray(sorted(self.dead), dtype=np.int64))
                skip = faiss.IDSelectorNot(batch)
                self._selectors = (batch, skip)
            else:
                self._selectors = ()
            self._params = None
        if self._params is None:
            params = faiss.SearchParameters()
            if isinstance(self.base, faiss.IndexIVF):
                params = faiss.SearchParametersIVF()
                params.nprobe = self.nprobe
            if self._selectors:
                params.sel = self._selectors[1]
            self._params = params
        return self._params
