"""In-process exact search with FAISS (inner product on L2-normalised vectors = cosine).

A person's score for a query is the cosine with their face when they have one, and
their centroid's score when they have several (the normalised mean of their faces, put
on the single-face scale by :func:`~facerec.index.base.centroid_score`): the centroid
is the steadier template (``bench/eval_lfw.py``, several photos per person).
"""

from __future__ import annotations

import threading

import faiss
import numpy as np
from numpy.typing import NDArray

from facerec.index.base import (
    Hit,
    IndexEntries,
    Window,
    centroid,
    centroid_score,
    checked_rows,
    clip_score,
    rank_people,
)


class FaissIndex:
    """Faces in an ``IndexIDMap2(IndexFlatIP)`` keyed by face id; the centroids of people
    with two or more faces in a second one keyed by person id."""

    def __init__(self, dim: int) -> None:
        # A flat search over a gallery is microseconds of work: OpenMP threads only spin
        # and steal the CPU from inference.
        faiss.omp_set_num_threads(1)
        self.dim = dim
        self._lock = threading.RLock()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._centroids = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._person_of: dict[int, int] = {}
        self._faces_of: dict[int, set[int]] = {}
        self._centroid_of: dict[int, NDArray[np.float32]] = {}

    def add(self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]) -> None:
        if not face_ids:
            return
        ids, _, rows = checked_rows(face_ids, person_ids, vectors, self.dim)
        with self._lock:
            self.remove([f for f in face_ids if f in self._person_of])
            self._index.add_with_ids(rows, ids)
            for face_id, person_id in zip(face_ids, person_ids, strict=True):
                self._person_of[face_id] = person_id
                self._faces_of.setdefault(person_id, set()).add(face_id)
            self._update_centroids(set(person_ids))

    def remove(self, face_ids: list[int]) -> None:
        with self._lock:
            present = [f for f in face_ids if f in self._person_of]
            if not present:
                return
            self._index.remove_ids(np.asarray(present, dtype=np.int64))  # type: ignore[arg-type]
            touched = set()
            for face_id in present:
                person_id = self._person_of.pop(face_id)
                self._faces_of[person_id].discard(face_id)
                touched.add(person_id)
            self._update_centroids(touched)

    def reset(self) -> None:
        with self._lock:
            self._index.reset()
            self._centroids.reset()
            self._person_of.clear()
            self._faces_of.clear()
            self._centroid_of.clear()

    def _vectors(self, face_ids: list[int]) -> NDArray[np.float32]:
        return np.stack([self._index.reconstruct(f) for f in face_ids])

    def _update_centroids(self, person_ids: set[int]) -> None:
        """Recompute the centroids of ``person_ids`` from their faces (none for one face)."""
        ids = np.asarray(sorted(person_ids), dtype=np.int64)
        self._centroids.remove_ids(ids)  # type: ignore[arg-type]
        keep, rows = [], []
        for person_id in ids.tolist():
            self._centroid_of.pop(person_id, None)
            faces = sorted(self._faces_of.get(person_id, ()))
            if not faces:
                self._faces_of.pop(person_id, None)
            elif len(faces) >= 2:
                keep.append(person_id)
                rows.append(centroid(self._vectors(faces)))
                self._centroid_of[person_id] = rows[-1]
        if keep:
            vectors = np.asarray(rows, dtype=np.float32)
            self._centroids.add_with_ids(vectors, np.asarray(keep, dtype=np.int64))

    def count(self) -> int:
        return int(self._index.ntotal)

    def entries(self) -> IndexEntries:
        """Every stored face row as FAISS holds it (duplicates included)."""
        with self._lock:
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            total = int(self._index.ntotal)
            vectors = (
                self._index.index.reconstruct_n(0, total)
                if total
                else np.zeros((0, self.dim), dtype=np.float32)
            )
            people = np.asarray([self._person_of.get(int(i), -1) for i in ids], dtype=np.int64)
            return IndexEntries(ids, people, np.asarray(vectors, dtype=np.float32))

    def search_people(self, vectors: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            if self.count() == 0 or len(queries) == 0:
                return [[] for _ in range(len(queries))]
            return rank_people(queries, top_k, self)

    def face_windows(self, queries: NDArray[np.float32], k: int) -> list[Window[Hit]]:
        total = self.count()
        scores, ids = self._index.search(queries, min(total, k))
        floor = k < total
        return [
            Window(self._per_person(s, i), clip_score(s[-1]) if floor else None)
            for s, i in zip(scores, ids, strict=True)
        ]

    def _per_person(self, scores: NDArray[np.float32], ids: NDArray[np.int64]) -> dict[int, Hit]:
        best: dict[int, Hit] = {}
        for score, face_id in zip(scores.tolist(), ids.tolist(), strict=True):
            if face_id < 0:
                continue
            person_id = self._person_of[face_id]
            if person_id not in best:  # results arrive best first
                best[person_id] = Hit(person_id, face_id, clip_score(score))
        return best

    def centroid_windows(self, queries: NDArray[np.float32], k: int) -> list[Window[float]]:
        people = int(self._centroids.ntotal)
        if people == 0:
            return [Window({}, None) for _ in range(len(queries))]
        # wider than top_k: the offset, which depends on the photo count, can reorder people
        scores, ids = self._centroids.search(queries, min(people, k))
        floor = k < people
        return [
            Window(
                {
                    p: clip_score(centroid_score(s, len(self._faces_of[p])))
                    for s, p in zip(row_s.tolist(), row_i.tolist(), strict=True)
                    if p >= 0
                },
                clip_score(centroid_score(float(row_s[-1]), 2)) if floor else None,
            )
            for row_s, row_i in zip(scores, ids, strict=True)
        ]

    def lookup(self, people: set[int]) -> FaissIndex:
        return self

    def photos(self, person_id: int) -> int:
        return len(self._faces_of[person_id])

    def centroid_rows(self, person_ids: list[int]) -> NDArray[np.float32]:
        return np.stack([self._centroid_of[p] for p in person_ids])

    def closest_face(self, query: NDArray[np.float32], person_id: int) -> int:
        faces = sorted(self._faces_of[person_id])
        return faces[int(np.argmax(self._vectors(faces) @ query))]
