"""The interface every vector index answers, and the per-person ranking on top of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Hit:
    """One person's score for a query, and their closest face."""

    person_id: int
    face_id: int
    similarity: float
    """:func:`person_similarity`, clipped to [0, 1]."""


def centroid(faces: NDArray[np.float32]) -> NDArray[np.float32]:
    """The unit mean of a person's unit face vectors (one row per face)."""
    total = faces.astype(np.float64).sum(axis=0)
    unit: NDArray[np.float32] = (total / max(float(np.linalg.norm(total)), 1e-12)).astype(
        np.float32
    )
    return unit


CENTROID_OFFSET = 0.0116
"""How much a centroid's cosine is lowered, times ``1 - 1/photos``. A centroid sits
closer to every face than its photos do, strangers included: on LFW-dev (mirror-averaged
descriptors, ``bench/eval_lfw.py``) the cosine that only 0.05% of strangers reach is
0.9335 for one photo, 0.9392 / 0.9415 / 0.9427 for centroids of 2 / 3 / 5 photos, i.e.
0.0116 x (1 - 1/photos) higher. Lowered by that, a centroid's score means what a single
face's does, so one threshold serves both."""


def centroid_score(cosine: float, photos: int) -> float:
    """A centroid's cosine on the single-face scale (see :data:`CENTROID_OFFSET`)."""
    return cosine - CENTROID_OFFSET * (1.0 - 1.0 / max(1, photos))


def person_similarity(faces: NDArray[np.float32], probe: NDArray[np.float32]) -> float:
    """How alike a probe is to a person: the cosine with their face, or with several
    faces their centroid's score. Measured on LFW-dev (``bench/eval_lfw.py``, two photos
    per person, at the default threshold): the centroid recognises as many enrolled
    people as the closest photo (97.3% vs 97.2%) while strangers match someone far less
    often (16% vs 24% in a 629-person gallery); the better of the two scores lets more
    strangers through than either."""
    if len(faces) == 1:
        return float(faces[0] @ probe)
    return centroid_score(float(centroid(faces) @ probe), len(faces))


def clip_score(score: float) -> float:
    """A similarity clipped to [0, 1], as :class:`Hit` holds it."""
    return min(1.0, max(0.0, float(score)))


class PeopleLookup(Protocol):
    """What :func:`merge_people` asks a backend about the people a search found."""

    def photos(self, person_id: int) -> int:
        """How many faces the person has in the index."""
        ...

    def centroid_rows(self, person_ids: list[int]) -> NDArray[np.float32]:
        """The centroids of people with several faces, one row each, in order."""
        ...

    def closest_face(self, query: NDArray[np.float32], person_id: int) -> int:
        """The person's face nearest ``query``."""
        ...


def merge_people(
    query: NDArray[np.float32],
    faces: dict[int, Hit],
    centroids: dict[int, float],
    top_k: int,
    lookup: PeopleLookup,
) -> list[Hit]:
    """The ``top_k`` best people that a face search (``faces``: each person's best face)
    or a centroid search (``centroids``: their clipped :func:`centroid_score`) found,
    scored as :func:`person_similarity` scores them, with their closest face; ties go to
    the smaller person id. Every backend ranks through this."""
    scores = dict(centroids)
    for person_id, hit in faces.items():
        if lookup.photos(person_id) == 1:
            scores[person_id] = hit.similarity
    missing = [p for p in faces if p not in scores]  # several photos, centroid not found
    if missing:
        cosines = lookup.centroid_rows(missing) @ query
        for person_id, cosine in zip(missing, cosines.tolist(), strict=True):
            scores[person_id] = clip_score(centroid_score(cosine, lookup.photos(person_id)))
    best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    return [
        Hit(
            person_id,
            faces[person_id].face_id
            if person_id in faces
            else lookup.closest_face(query, person_id),
            score,
        )
        for person_id, score in best
    ]


FIRST_WINDOW = 64
"""Rows the first face and centroid searches read (at least; ``8 * top_k`` for more)."""


@dataclass(frozen=True, slots=True)
class Window(Generic[T]):
    """What one search window found for a query: each person's best entry, and the
    ``floor``: the score of the last row it read, which no row it did not read beats
    (None: it read every row there is)."""

    best: dict[int, T]
    floor: float | None


class PeopleSearch(Protocol):
    """The searches a backend runs for :func:`rank_people`."""

    def face_windows(self, queries: NDArray[np.float32], k: int) -> list[Window[Hit]]:
        """Per query, the best face of each person among the ``k`` nearest faces; the
        floor is the ``k``-th face's clipped cosine."""
        ...

    def centroid_windows(self, queries: NDArray[np.float32], k: int) -> list[Window[float]]:
        """Per query, the clipped :func:`centroid_score` of the people whose centroid is
        among the ``k`` nearest; the floor is the ``k``-th centroid's score at two photos
        (the highest any centroid it did not read can have)."""
        ...

    def lookup(self, people: set[int]) -> PeopleLookup:
        """Answers :func:`merge_people`'s questions about ``people`` (those the face
        windows found)."""
        ...


def rank_people(queries: NDArray[np.float32], top_k: int, search: PeopleSearch) -> list[list[Hit]]:
    """For each query the ``top_k`` best people, exactly as :func:`person_similarity` ranks
    every person: a face and a centroid window are read, four times wider for a query
    until its ``top_k``-th person beats both floors (nobody the windows missed can
    outrank them) or the windows read everything."""
    answers: list[list[Hit]] = [[] for _ in range(len(queries))]
    todo = np.arange(len(queries))
    k = max(FIRST_WINDOW, top_k * 8)
    while len(todo):
        pending = queries[todo]
        faces = search.face_windows(pending, k)
        centroids = search.centroid_windows(pending, k)
        lookup = search.lookup({p for window in faces for p in window.best})
        left = []
        for i, query, by_face, by_centroid in zip(todo, pending, faces, centroids, strict=True):
            answers[i] = merge_people(query, by_face.best, by_centroid.best, top_k, lookup)
            if not _settled(answers[i], top_k, by_face.floor, by_centroid.floor):
                left.append(i)
        todo = np.asarray(left, dtype=np.int64)
        k *= 4
    return answers


def _settled(hits: list[Hit], top_k: int, *floors: float | None) -> bool:
    """Whether no person outside the windows can enter ``hits`` (ties go to the smaller
    id, so a score equal to a floor is not enough)."""
    floor = max((f for f in floors if f is not None), default=None)
    return floor is None or (len(hits) >= top_k and hits[-1].similarity > floor)


def checked_rows(
    face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32], dim: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """An ``add``'s arguments as arrays, checked before anything changes (a refused call
    leaves an index as it was): ids SQL can hold (else OverflowError), one person and one
    row of ``dim`` per face (else ValueError)."""
    faces = np.asarray(face_ids, dtype=np.int64)
    people = np.asarray(person_ids, dtype=np.int64)
    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(people) != len(faces) or rows.shape != (len(faces), dim):
        raise ValueError(
            f"{len(faces)} face ids, {len(people)} person ids and vectors of shape "
            f"{rows.shape} do not match (dimension {dim})"
        )
    return faces, people, rows


@dataclass(frozen=True, slots=True)
class IndexEntries:
    """Everything an index holds, one row per stored entry (an id stored twice appears twice)."""

    face_ids: NDArray[np.int64]
    person_ids: NDArray[np.int64]
    vectors: NDArray[np.float32]
    """One row per entry, as stored."""


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
        """For each query row: the ``top_k`` best people by :func:`person_similarity`,
        each with their closest face."""
        ...


@runtime_checkable
class InspectableIndex(VectorIndex, Protocol):
    """An index that can list what it holds, so ``facerec doctor`` can compare it with the
    faces table (FAISS here; a shared index such as Milvus answers the same call)."""

    def entries(self) -> IndexEntries: ...
