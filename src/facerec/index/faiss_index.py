"""In-process exact search with FAISS (inner product on L2-normalised vectors = cosine)."""

from __future__ import annotations

import threading

import faiss
import numpy as np
from numpy.typing import NDArray

from facerec.index.base import Hit


class FaissIndex:
    """``IndexIDMap2(IndexFlatIP)`` keyed by face id, plus face id -> person id."""

    def __init__(self, dim: int) -> None:
        # A flat search over a gallery is microseconds of work: OpenMP threads only spin
        # and steal the CPU from inference.
        faiss.omp_set_num_threads(1)
        self.dim = dim
        self._lock = threading.RLock()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._person_of: dict[int, int] = {}

    def add(self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]) -> None:
        if not face_ids:
            return
        with self._lock:
            self.remove([f for f in face_ids if f in self._person_of])
            ids = np.asarray(face_ids, dtype=np.int64)
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
            self._person_of.update(zip(face_ids, person_ids, strict=True))

    def remove(self, face_ids: list[int]) -> None:
        present = [f for f in face_ids if f in self._person_of]
        if not present:
            return
        with self._lock:
            self._index.remove_ids(np.asarray(present, dtype=np.int64))  # type: ignore[arg-type]
            for face_id in present:
                del self._person_of[face_id]

    def reset(self) -> None:
        with self._lock:
            self._index.reset()
            self._person_of.clear()

    def count(self) -> int:
        return int(self._index.ntotal)

    def search_people(self, vectors: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            total = self.count()
            if total == 0 or len(queries) == 0:
                return [[] for _ in range(len(queries))]
            k = min(total, max(64, top_k * 8))
            while True:
                scores, ids = self._index.search(queries, k)
                ranked = [self._rank(s, i, top_k) for s, i in zip(scores, ids, strict=True)]
                # Enough distinct people for every query, or nothing more to look at.
                if k >= total or all(len(r) >= top_k for r in ranked):
                    return ranked
                k = min(total, k * 4)

    def _rank(self, scores: NDArray[np.float32], ids: NDArray[np.int64], top_k: int) -> list[Hit]:
        best: dict[int, Hit] = {}
        for score, face_id in zip(scores.tolist(), ids.tolist(), strict=True):
            if face_id < 0:
                continue
            person_id = self._person_of[face_id]
            if person_id not in best:  # results arrive best first
                sim = min(1.0, max(0.0, float(score)))
                best[person_id] = Hit(person_id=person_id, face_id=face_id, similarity=sim)
        return list(best.values())[:top_k]
