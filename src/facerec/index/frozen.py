"""The read-only base of an approximate index: faces in an IVF, centroids beside them.

A :class:`Frozen` never changes once made. It is either built in memory from the faces
(a full rebuild) or loaded from a saved index (``index/saved.py``), where its id arrays
and FAISS files are memory-mapped and its vectors read a row at a time
(:class:`~facerec.index.vector_file.VectorFile`), so every worker of a host shares one
copy in the page cache. Changes made after it live in the overlay of
:class:`~facerec.index.approx.ApproxIndex`.

Why IVF and not HNSW: faces are deleted and replaced, and an IVF both answers a search
that skips ids (``IDSelector``, our tombstones) and can be read memory-mapped
(``IO_FLAG_MMAP``: its lists become read-only ``OnDiskInvertedLists``); HNSW's graph is
read into every worker's memory. The faces' IVF stores 8-bit scalar-quantised vectors
(``IndexIVFScalarQuantizer``, QT_8bit: a quarter of IVF-Flat's lists, 128 MB at a
million 128-d faces), so its scores are only near; every face it returns is scored again
exactly from ``vectors`` (:class:`~facerec.index.layer.Layer`), so the similarities
returned are exact cosines and only *which* faces are looked at is approximate
(``nprobe`` of ``nlist`` lists). IVF-Flat lists held a second full copy of the vectors,
and memory-mapped vectors end up all mapped by a worker that searched a while: over
1 GB RSS at a million faces (``bench/scale.py``); read with ``pread`` they stay in the
page cache only. The centroids' IVF stays flat (fewer rows, scores read as they are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import faiss
import numpy as np
from numpy.typing import NDArray

from facerec.index.base import centroid
from facerec.index.vector_file import VectorFile

TRAIN_PER_LIST = 50
"""Training points per IVF list (a seeded sample of the faces)."""
MIN_IVF = 4096
"""Below this many centroids, the centroid search is an exact flat index."""


def lists_for(count: int) -> int:
    """IVF lists for ``count`` vectors: about 2 sqrt(n), each trained on 39+ points."""
    return max(1, min(round(2 * math.sqrt(count)), count // 39))


def ivf(
    vectors: NDArray[np.float32], ids: NDArray[np.int64], *, quantised: bool = False
) -> faiss.Index:
    """An ``IndexIVFFlat`` (L2) over unit ``vectors`` keyed by ``ids``; with ``quantised``
    an ``IndexIVFScalarQuantizer`` (8 bits a dimension) instead."""
    dim = vectors.shape[1]
    nlist = lists_for(len(vectors))
    # L2 on unit vectors ranks as the cosine does (|q - x|^2 = 2 - 2 cos), and k-means
    # lists suit it better than inner product, whose centroids differ in length.
    quantizer = faiss.IndexFlatL2(dim)
    index = (
        faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2
        )
        if quantised
        else faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_L2)
    )
    index.cp.seed = 1234  # k-means starts from the same points every time
    sample = np.random.default_rng(0).permutation(len(vectors))[: nlist * TRAIN_PER_LIST]
    index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
    index.add_with_ids(np.ascontiguousarray(vectors), ids)
    return index


def flat(vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> faiss.Index:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors), ids)
    return index


@dataclass(eq=False)
class Frozen:
    """Faces sorted by face id (``vectors`` row i is face ``face_ids[i]``), their IVF,
    and the centroids of people with two or more faces keyed by person id."""

    face_ids: NDArray[np.int64]
    person_ids: NDArray[np.int64]
    vectors: NDArray[np.float32] | VectorFile
    """In memory when built here; a saved index's file, read row by row."""
    faces: faiss.Index
    centroids: faiss.Index
    people: NDArray[np.int64] = field(init=False)
    """Every person with a face here, sorted."""
    starts: NDArray[np.int64] = field(init=False)
    """Person ``people[j]``'s rows are ``by_person[starts[j]:starts[j + 1]]``."""
    by_person: NDArray[np.int64] = field(init=False)

    def __post_init__(self) -> None:
        self.by_person = np.argsort(self.person_ids, kind="stable")  # face id order within
        sorted_people = self.person_ids[self.by_person]
        self.people, first = np.unique(sorted_people, return_index=True)
        self.starts = np.append(first, len(sorted_people)).astype(np.int64)

    @property
    def count(self) -> int:
        return len(self.face_ids)

    def row(self, face_id: int) -> int | None:
        """The row of ``face_id``, if it is here."""
        i = int(np.searchsorted(self.face_ids, face_id))
        return i if i < len(self.face_ids) and int(self.face_ids[i]) == face_id else None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def vectors_at(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """The vectors of ``rows``, one row each."""
        if isinstance(self.vectors, VectorFile):
            return self.vectors.take(rows)
        return np.asarray(self.vectors[rows], dtype=np.float32)

    def vectors_of(self, face_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """The stored vectors of faces that are here, one row each."""
        return self.vectors_at(np.searchsorted(self.face_ids, face_ids))

    def rows_of(self, person_id: int) -> NDArray[np.int64]:
        """The rows of a person's faces, in face id order."""
        j = int(np.searchsorted(self.people, person_id))
        if j >= len(self.people) or int(self.people[j]) != person_id:
            return np.zeros(0, dtype=np.int64)
        return self.by_person[self.starts[j] : self.starts[j + 1]]


def freeze(
    face_ids: NDArray[np.int64], person_ids: NDArray[np.int64], vectors: NDArray[np.float32]
) -> Frozen:
    """Build a base in memory from faces (face ids unique, any order)."""
    order = np.argsort(face_ids, kind="stable")
    face_ids = np.ascontiguousarray(face_ids[order], dtype=np.int64)
    person_ids = np.ascontiguousarray(person_ids[order], dtype=np.int64)
    vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
    people, rows = centroid_rows(person_ids)
    centroids = (
        np.stack([centroid(vectors[r]) for r in rows])
        if rows
        else np.zeros((0, vectors.shape[1]), dtype=np.float32)
    )
    make = ivf if len(people) >= MIN_IVF else flat
    faces = ivf(vectors, face_ids, quantised=True)
    return Frozen(face_ids, person_ids, vectors, faces, make(centroids, people))


def centroid_rows(
    person_ids: NDArray[np.int64],
) -> tuple[NDArray[np.int64], list[NDArray[np.int64]]]:
    """People with two or more faces (sorted) and the rows of each one's faces."""
    order = np.argsort(person_ids, kind="stable")
    people, first, counts = np.unique(person_ids[order], return_index=True, return_counts=True)
    several = counts >= 2
    rows = [order[s : s + c] for s, c in zip(first[several], counts[several], strict=True)]
    return people[several].astype(np.int64), rows
