"""Approximate search for large galleries: a frozen IVF base plus an in-memory overlay.

:class:`ApproxIndex` answers the :class:`~facerec.index.base.VectorIndex` calls like
:class:`~facerec.index.faiss_index.FaissIndex`, with the same scores: a person with
one face is scored by its cosine, a person with several by their centroid
(:func:`~facerec.index.base.person_similarity`, computed from their current faces).
Only the candidates are approximate: the people of the faces and centroids the IVF
finds (``nprobe`` lists). Changes after the base was made are kept beside it:
removed base faces are tombstones, added faces an exact flat delta, and a person whose
faces changed gets their face list and centroid recomputed in the overlay.
"""

from __future__ import annotations

import threading

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
from facerec.index.frozen import Frozen
from facerec.index.layer import Layer


class ApproxIndex:
    def __init__(self, dim: int, base: Frozen, *, nprobe: int, generation: int = -1) -> None:
        self.dim = dim
        self.base = base
        self.base_generation = generation
        """The change-log generation of a base loaded from a saved index (-1: built here)."""
        self._lock = threading.RLock()
        self._faces = Layer(dim, base.faces, nprobe=nprobe, exact=base.vectors_of)
        # A sixth as many centroid lists: a centroid IVF has about a third of the faces'
        # lists, and at 1M faces (bench/scale.py gallery, 384 face lists) 64, 128 or 192
        # of its 713 lists gave the same recall@1 (0.995) and took less time, while
        # wider face searches found more.
        self._centroids = Layer(dim, base.centroids, nprobe=max(1, nprobe // 6))
        self._new: dict[int, tuple[int, NDArray[np.float32]]] = {}
        """Faces added after the base: face id -> (person id, vector)."""
        self._people: dict[int, set[int]] = {}
        """People whose faces changed after the base: their faces now."""
        self._centroid_of: dict[int, NDArray[np.float32]] = {}
        """The centroids of those of them with two or more faces."""

    # -- what is stored -------------------------------------------------------------

    def count(self) -> int:
        return self.base.count - len(self._faces.dead) + len(self._new)

    @property
    def changes(self) -> int:
        """Faces added or removed since the base."""
        return len(self._faces.dead) + len(self._new)

    def _row(self, face_id: int) -> int | None:
        if face_id in self._faces.dead:
            return None
        return self.base.row(face_id)

    def _has(self, face_id: int) -> bool:
        return face_id in self._new or self._row(face_id) is not None

    def _person_of(self, face_id: int) -> int:
        if face_id in self._new:
            return self._new[face_id][0]
        return int(self.base.person_ids[self._row(face_id)])

    def _vector(self, face_id: int) -> NDArray[np.float32]:
        if face_id in self._new:
            return self._new[face_id][1]
        row: NDArray[np.float32] = self.base.vectors_at(np.asarray([self._row(face_id)]))[0]
        return row

    def _faces_of(self, person_id: int) -> list[int]:
        """A person's faces, in face id order."""
        if person_id in self._people:
            return sorted(self._people[person_id])
        return [int(f) for f in self.base.face_ids[self.base.rows_of(person_id)]]

    def _photos(self, person_id: int) -> int:
        if person_id in self._people:
            return len(self._people[person_id])
        return len(self.base.rows_of(person_id))

    def _centroid(self, person_id: int) -> NDArray[np.float32]:
        if person_id in self._people:
            return self._centroid_of[person_id]
        return centroid(self.base.vectors_at(self.base.rows_of(person_id)))

    def entries(self) -> IndexEntries:
        with self._lock:
            keep = ~np.isin(self.base.face_ids, np.fromiter(self._faces.dead, np.int64))
            new = sorted(self._new)
            vectors = [self.base.vectors_at(np.flatnonzero(keep))]
            vectors += [np.stack([self._new[f][1] for f in new])] if new else []
            return IndexEntries(
                np.concatenate([self.base.face_ids[keep], np.asarray(new, dtype=np.int64)]),
                np.concatenate(
                    [
                        self.base.person_ids[keep],
                        np.asarray([self._new[f][0] for f in new], dtype=np.int64),
                    ]
                ),
                np.concatenate(vectors).astype(np.float32),
            )

    # -- changes --------------------------------------------------------------------

    def add(self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]) -> None:
        if not face_ids:
            return
        ids, _, rows = checked_rows(face_ids, person_ids, vectors, self.dim)
        with self._lock:
            touched = self._remove(face_ids)
            last = {f: i for i, f in enumerate(face_ids)}  # a face given twice: the last row
            keep = sorted(last.values())
            for i in keep:
                face_id, person_id = face_ids[i], person_ids[i]
                self._new[face_id] = (person_id, rows[i].copy())
                self._own(person_id).add(face_id)
                touched.add(person_id)
            self._faces.put(ids[keep], rows[keep])
            self._update_centroids(touched)

    def remove(self, face_ids: list[int]) -> None:
        with self._lock:
            self._update_centroids(self._remove(face_ids))

    def _remove(self, face_ids: list[int]) -> set[int]:
        present = sorted({f for f in face_ids if self._has(f)})
        touched = set()
        for face_id in present:
            person_id = self._person_of(face_id)
            self._own(person_id).discard(face_id)
            touched.add(person_id)
        self._faces.drop([f for f in present if self._new.pop(f, None) is not None])
        self._faces.kill([f for f in present if f not in self._new and self._row(f) is not None])
        return touched

    def _own(self, person_id: int) -> set[int]:
        """The overlay's face set of a person (copied from the base the first time)."""
        if person_id not in self._people:
            self._people[person_id] = set(self._faces_of(person_id))
        return self._people[person_id]

    def _update_centroids(self, people: set[int]) -> None:
        ids = sorted(people)
        self._centroids.kill(ids)
        self._centroids.drop(ids)
        keep, rows = [], []
        for person_id in ids:
            self._centroid_of.pop(person_id, None)
            faces = self._faces_of(person_id)
            if len(faces) >= 2:
                self._centroid_of[person_id] = centroid(np.stack([self._vector(f) for f in faces]))
                keep.append(person_id)
                rows.append(self._centroid_of[person_id])
        if keep:
            self._centroids.put(np.asarray(keep, dtype=np.int64), np.stack(rows))

    def reset(self) -> None:
        raise NotImplementedError("an approximate index is replaced, never reset")

    # -- search ---------------------------------------------------------------------

    def search_people(self, vectors: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            if self.count() == 0 or len(queries) == 0:
                return [[] for _ in range(len(queries))]
            return rank_people(queries, top_k, self)

    def face_windows(self, queries: NDArray[np.float32], k: int) -> list[Window[Hit]]:
        """The nearest faces among those the IVF's ``nprobe`` lists (and the delta) hold;
        no floor once a window holds all of them."""
        scores, ids = self._faces.search(queries, k)
        return [
            Window(self._per_person(s, i), _floor(s, i, k, photos=1))
            for s, i in zip(scores, ids, strict=True)
        ]

    def _per_person(self, scores: NDArray[np.float32], ids: NDArray[np.int64]) -> dict[int, Hit]:
        best: dict[int, Hit] = {}
        for score, face_id in zip(scores.tolist(), ids.tolist(), strict=True):
            if face_id < 0:
                continue
            person_id = self._person_of(face_id)
            if person_id not in best:  # results arrive best first
                best[person_id] = Hit(person_id, face_id, clip_score(score))
        return best

    def centroid_windows(self, queries: NDArray[np.float32], k: int) -> list[Window[float]]:
        scores, ids = self._centroids.search(queries, k)
        return [
            Window(
                {
                    p: clip_score(centroid_score(s, self._photos(p)))
                    for s, p in zip(row_s.tolist(), row_i.tolist(), strict=True)
                    if p >= 0
                },
                _floor(row_s, row_i, k, photos=2),
            )
            for row_s, row_i in zip(scores, ids, strict=True)
        ]

    def lookup(self, people: set[int]) -> ApproxIndex:
        return self

    def photos(self, person_id: int) -> int:
        return self._photos(person_id)

    def centroid_rows(self, person_ids: list[int]) -> NDArray[np.float32]:
        return np.stack([self._centroid(p) for p in person_ids])

    def closest_face(self, query: NDArray[np.float32], person_id: int) -> int:
        faces = self._faces_of(person_id)
        return faces[int(np.argmax(np.stack([self._vector(f) for f in faces]) @ query))]


def _floor(
    scores: NDArray[np.float32], ids: NDArray[np.int64], k: int, *, photos: int
) -> float | None:
    """A full window's floor: its last cosine on the scale of ``photos`` (1: a face, 2: the
    highest a centroid can score); None when it read fewer than ``k`` rows."""
    if len(ids) < k or int(ids[-1]) < 0:
        return None
    return clip_score(centroid_score(float(scores[-1]), photos))
