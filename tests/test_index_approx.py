"""The FAISS backend past ``faiss.approximate_above``: an IVF with an overlay of changes.

Expected answers come from a brute-force numpy scoring of every person, written here
from the rule in docs (cosine with the one face; with several, the unit mean's cosine
lowered by 0.0116 x (1 - 1/photos), clipped to [0, 1]), never from the index code.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from facerec.index.approx import ApproxIndex
from facerec.index.faiss_index import FaissIndex
from facerec.index.scaled import ScaledFaissIndex

DIM = 32
OFFSET = 0.0116


class Gallery:
    """Seeded people around random centres: 1 to 4 photos each; faces keyed 1..n."""

    def __init__(self, people: int, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.centres = _normalise(rng.normal(size=(people, DIM)))
        photos = rng.integers(1, 5, size=people)
        self.person = np.repeat(np.arange(1, people + 1), photos).astype(np.int64)
        self.vectors = self.photo_of(self.person)
        self.faces = np.arange(1, len(self.person) + 1, dtype=np.int64)

    def photo_of(self, people: NDArray[np.int64]) -> NDArray[np.float32]:
        """Another photo of each person: their centre plus seeded noise."""
        noise = self.rng.normal(scale=0.12, size=(len(people), DIM))
        return _normalise(self.centres[people - 1] + noise)

    def probes(self, count: int) -> NDArray[np.float32]:
        """Half new photos of enrolled people, half strangers."""
        known = self.photo_of(self.rng.integers(1, len(self.centres) + 1, size=count // 2))
        strangers = _normalise(self.rng.normal(size=(count - count // 2, DIM)))
        return np.vstack([known, strangers]).astype(np.float32)


def _normalise(x: NDArray[np.float64]) -> NDArray[np.float32]:
    unit: NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


def brute_force(
    faces: dict[int, tuple[int, NDArray[np.float32]]], query: NDArray[np.float32]
) -> dict[int, float]:
    """Every person's score for ``query``, from scratch."""
    by_person: dict[int, list[NDArray[np.float32]]] = {}
    for face_id in sorted(faces):
        person, vector = faces[face_id]
        by_person.setdefault(person, []).append(vector)
    scores = {}
    for person, vectors in by_person.items():
        if len(vectors) == 1:
            score = float(vectors[0] @ query)
        else:
            mean = np.sum(np.asarray(vectors, dtype=np.float64), axis=0)
            unit = mean / np.linalg.norm(mean)
            score = float(unit @ query) - OFFSET * (1 - 1 / len(vectors))
        scores[person] = min(1.0, max(0.0, score))
    return scores


def _approximate(gallery: Gallery, nprobe: int = 32) -> ScaledFaissIndex:
    index = ScaledFaissIndex(DIM, approximate_above=500, nprobe=nprobe)
    index.add(gallery.faces.tolist(), gallery.person.tolist(), gallery.vectors)
    assert isinstance(index.approximate, ApproxIndex)
    return index


def _held(gallery: Gallery) -> dict[int, tuple[int, NDArray[np.float32]]]:
    return {
        int(f): (int(p), v)
        for f, p, v in zip(gallery.faces, gallery.person, gallery.vectors, strict=True)
    }


def _agreement(
    index: ScaledFaissIndex,
    held: dict[int, tuple[int, NDArray[np.float32]]],
    probes: NDArray[np.float32],
) -> float:
    """Share of probes whose top-1 person is brute force's; every returned score checked."""
    agree = 0
    for probe, hits in zip(probes, index.search_people(probes, top_k=5), strict=True):
        expected = brute_force(held, probe)
        for hit in hits:
            assert hit.similarity == pytest.approx(expected[hit.person_id], abs=1e-5)
            assert held[hit.face_id][0] == hit.person_id
        best = max(expected.items(), key=lambda item: (item[1], -item[0]))
        agree += hits[0].person_id == best[0]
    return agree / len(probes)


def test_the_switch_happens_past_the_size_and_a_reset_goes_back() -> None:
    gallery = Gallery(200)
    index = ScaledFaissIndex(DIM, approximate_above=len(gallery.faces), nprobe=32)
    index.add(gallery.faces.tolist(), gallery.person.tolist(), gallery.vectors)
    assert index.approximate is None  # up to the size: exact
    index.add([10_000], [1], gallery.vectors[:1])
    assert index.approximate is not None and index.count() == len(gallery.faces) + 1
    index.reset()
    assert index.approximate is None and index.count() == 0


def test_below_the_size_answers_are_the_exact_index_answers() -> None:
    gallery = Gallery(150)
    scaled = ScaledFaissIndex(DIM, approximate_above=10_000, nprobe=1)
    exact = FaissIndex(DIM)
    for index in (scaled, exact):
        index.add(gallery.faces.tolist(), gallery.person.tolist(), gallery.vectors)
    probes = gallery.probes(40)
    assert scaled.search_people(probes, 5) == exact.search_people(probes, 5)


def test_approximate_top1_agrees_with_brute_force() -> None:
    gallery = Gallery(800)
    index = _approximate(gallery)
    assert _agreement(index, _held(gallery), gallery.probes(200)) >= 0.99


def test_too_few_lists_looked_at_loses_agreement() -> None:
    """The check above can fail: one list of many misses people brute force finds."""
    gallery = Gallery(800)
    index = _approximate(gallery, nprobe=1)
    assert _agreement(index, _held(gallery), gallery.probes(200)) < 0.99


def test_removals_and_re_adds_in_approximate_mode() -> None:
    gallery = Gallery(600)
    index = _approximate(gallery)
    held = _held(gallery)
    rng = np.random.default_rng(3)
    removed = rng.choice(gallery.faces, size=300, replace=False).tolist()
    index.remove([*removed, 999_999])  # an unknown id changes nothing
    for face_id in removed:
        del held[face_id]
    # some come back under another person, with another photo; some new faces too
    again = removed[:100] + [5_000 + i for i in range(50)]
    people = rng.integers(1, 601, size=len(again)).astype(np.int64)
    vectors = gallery.photo_of(people)
    index.add(again, people.tolist(), vectors)
    for face_id, person, vector in zip(again, people.tolist(), vectors, strict=True):
        held[face_id] = (person, vector)
    # a face replaced in place (added again with a new vector)
    index.add([again[0]], [7], gallery.photo_of(np.asarray([7])))
    held[again[0]] = (7, index.entries().vectors[index.entries().face_ids == again[0]][0])
    assert index.count() == len(held)
    entries = index.entries()
    assert sorted(entries.face_ids.tolist()) == sorted(held)
    for face_id, person in zip(entries.face_ids.tolist(), entries.person_ids.tolist(), strict=True):
        assert held[face_id][0] == person
    assert _agreement(index, held, gallery.probes(200)) >= 0.99
    # a person whose every face went is never answered
    gone = int(gallery.person[0])
    index.remove([f for f, (p, _) in held.items() if p == gone])
    probe = gallery.centres[gone - 1][None, :]
    assert gone not in [h.person_id for h in index.search_people(probe, 5)[0]]


def test_centroid_scores_in_approximate_mode_follow_the_rule() -> None:
    gallery = Gallery(700)
    index = _approximate(gallery)
    held = _held(gallery)
    several = [p for p in range(1, 701) if np.count_nonzero(gallery.person == p) >= 3][:50]
    probes = gallery.photo_of(np.asarray(several, dtype=np.int64))
    for probe, person, hits in zip(
        probes, several, index.search_people(probes, top_k=5), strict=True
    ):
        by_person = {h.person_id: h.similarity for h in hits}
        faces = np.stack([v for f, (p, v) in sorted(held.items()) if p == person])
        mean = faces.astype(np.float64).sum(axis=0)
        expected = float(mean @ probe) / np.linalg.norm(mean) - OFFSET * (1 - 1 / len(faces))
        assert by_person[person] == pytest.approx(min(1.0, max(0.0, expected)), abs=1e-5)
