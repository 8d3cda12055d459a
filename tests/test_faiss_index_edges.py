"""Edge cases of :class:`~facerec.index.faiss_index.FaissIndex`: random galleries checked
against a plain numpy reference, and worked examples for the paths a random gallery rarely
takes (a person found only through their centroid or only through a face, ties, face and
person id 0, ids at the ends of int64, the search windows).

Expected values never come from the index: the reference below scores every person from
the gallery the test keeps itself (one face: its cosine; several: the cosine with their
normalised mean, lowered by 0.0116 * (1 - 1/n); clipped to [0, 1]; ranked by score, then
person id), and the worked examples give their numbers by hand."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from facerec.index.base import Hit
from facerec.index.faiss_index import FaissIndex
from tests.test_index import DIM, _axis, _orthogonal, _unit

Vector = NDArray[Any]
"""float64 in the random galleries: the index takes any float array and works in float32."""
Gallery = dict[int, tuple[int, Vector]]
"""face id -> (person id, vector as given to ``add``)"""


def _reference(gallery: Gallery, query: Vector) -> tuple[dict[int, float], dict[int, float]]:
    """Every person's score and every face's cosine with ``query``, in float64."""
    q = np.asarray(query, dtype=np.float64)
    cosine = {f: float(np.asarray(v, dtype=np.float64) @ q) for f, (_, v) in gallery.items()}
    faces_of: dict[int, list[int]] = defaultdict(list)
    for face_id, (person_id, _) in gallery.items():
        faces_of[person_id].append(face_id)
    score: dict[int, float] = {}
    for person_id, faces in faces_of.items():
        if len(faces) == 1:
            s = cosine[faces[0]]
        else:
            total = np.sum([np.asarray(gallery[f][1], dtype=np.float64) for f in faces], axis=0)
            s = float(total @ q / np.linalg.norm(total)) - 0.0116 * (1 - 1 / len(faces))
        score[person_id] = min(1.0, max(0.0, s))
    return score, cosine


def _check(hits: list[Hit], gallery: Gallery, query: Vector, top_k: int) -> None:
    score, cosine = _reference(gallery, query)
    expected = sorted(score.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    assert len(hits) == len(expected)
    similarities = [h.similarity for h in hits]
    assert similarities == pytest.approx([s for _, s in expected], abs=1e-5)
    assert similarities == sorted(similarities, reverse=True)
    assert len({h.person_id for h in hits}) == len(hits)
    for hit in hits:
        assert hit.similarity == pytest.approx(score[hit.person_id], abs=1e-5)
        # the person's own face, and the closest of them
        own = [f for f, (p, _) in gallery.items() if p == hit.person_id]
        assert hit.face_id in own
        assert cosine[hit.face_id] == pytest.approx(max(cosine[f] for f in own), abs=1e-5)
    for a, b in pairwise(hits):
        if a.similarity == b.similarity:  # exact ties (0.0 above all) go by person id
            assert a.person_id < b.person_id


def _gallery(face_ids: list[int], owners: list[int], vectors: Vector) -> Gallery:
    return {f: (p, v) for f, p, v in zip(face_ids, owners, vectors, strict=True)}


def _normalised(rows: Vector) -> Vector:
    unit: Vector = rows / np.linalg.norm(rows, axis=-1, keepdims=True)
    return unit


def _random_people(
    rng: np.random.Generator, people: int, face_ids: list[int]
) -> tuple[list[int], list[int], Vector]:
    """1 to 4 faces for each of ``people`` people around their own centre, float64; face
    ids drawn from ``face_ids`` in order, person ids large (beyond 2**31) and one 0."""
    person_ids = [0, *(int(p) for p in rng.choice(2**40, size=people - 1, replace=False) + 2**32)]
    owners: list[int] = []
    rows: list[Vector] = []
    for person_id in person_ids:
        centre = rng.normal(size=DIM)
        for _ in range(int(rng.integers(1, 5))):
            owners.append(person_id)
            rows.append(centre + 0.7 * rng.normal(size=DIM))
    return face_ids[: len(owners)], owners, _normalised(np.stack(rows))


def _queries(rng: np.random.Generator, gallery: Gallery, rows: int) -> Vector:
    """Half near faces of the gallery, half anywhere; float64."""
    vectors = [v for _, v in gallery.values()]
    picked = rng.choice(len(vectors), rows // 2)
    near = [vectors[int(i)] + 0.3 * rng.normal(size=DIM) for i in picked]
    anywhere = list(rng.normal(size=(rows - rows // 2, DIM)))
    return _normalised(np.stack([*near, *anywhere]))


def _search_and_check(index: FaissIndex, gallery: Gallery, queries: Vector, top_k: int) -> None:
    results = index.search_people(queries, top_k=top_k)
    assert len(results) == len(queries)
    for hits, query in zip(results, queries, strict=True):
        _check(hits, gallery, query, top_k)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_galleries_match_the_reference(seed: int) -> None:
    """Several faces per person, removals that move centroids, face ids handed to another
    person, top_k from 1 to beyond the number of people, several query rows at once."""
    rng = np.random.default_rng(seed)
    index = FaissIndex(DIM)
    assert index.search_people(_normalised(rng.normal(size=(3, DIM))), top_k=5) == [[], [], []]
    assert index.search_people(np.zeros((0, DIM), dtype=np.float32), top_k=5) == []

    pool = [0, *(int(f) for f in rng.choice(2**62, size=2000, replace=False) + 2**31)]
    face_ids, owners, vectors = _random_people(rng, 120, pool)
    gallery = _gallery(face_ids, owners, vectors)
    half = len(face_ids) // 2  # two calls: the second adds faces to people of the first
    index.add(face_ids[:half], owners[:half], vectors[:half])
    index.add(face_ids[half:], owners[half:], vectors[half:])
    assert index.count() == len(gallery)
    queries = _queries(rng, gallery, 6)
    for top_k in (1, 3, 150):
        _search_and_check(index, gallery, queries, top_k)

    # one face less for a dozen people with several (their centroids move, some end with
    # a single face), a whole single-face person, and ids the index never had
    faces_of: dict[int, list[int]] = defaultdict(list)
    for face_id, (person_id, _) in gallery.items():
        faces_of[person_id].append(face_id)
    several = [faces for faces in faces_of.values() if len(faces) >= 2][:12]
    single = next(faces for faces in faces_of.values() if len(faces) == 1)
    gone = [faces[-1] for faces in several] + single
    index.remove([*gone, 1, 7])
    for face_id in gone:
        del gallery[face_id]
    assert index.count() == len(gallery)

    # face ids added again: three to a new person, two to someone who already has faces
    moved = [faces[0] for faces in several[:5]]
    newcomer, other = 2**45 + 17, several[6][0]
    new_owners = [newcomer] * 3 + [gallery[other][0]] * 2
    new_vectors = _normalised(rng.normal(size=(5, DIM)))
    index.add(moved, new_owners, new_vectors)
    gallery.update(_gallery(moved, new_owners, new_vectors))
    assert index.count() == len(gallery)
    queries = np.concatenate([_queries(rng, gallery, 4), new_vectors[:2]])
    for top_k in (1, 4, 200):
        _search_and_check(index, gallery, queries, top_k)

    index.remove(list(gallery))
    assert index.count() == 0
    assert index.search_people(queries, top_k=3) == [[] for _ in queries]


def test_top_k_far_beyond_the_windows_returns_every_person() -> None:
    """top_k / 8 above 64 rows and below the number of faces and of centroids."""
    rng = np.random.default_rng(7)
    pool = [int(f) for f in rng.choice(2**62, size=1200, replace=False) + 2**31]
    face_ids, owners, vectors = _random_people(rng, 200, pool)
    gallery = _gallery(face_ids, owners, vectors)
    people_with_several = sum(owners.count(p) >= 2 for p in set(owners))
    assert len(gallery) > 125 and people_with_several > 125  # 1000 / 8 = 125
    index = FaissIndex(DIM)
    index.add(face_ids, owners, vectors)
    queries = _queries(rng, gallery, 2)
    results = index.search_people(queries, top_k=1000)
    assert [len(hits) for hits in results] == [200, 200]
    for hits, query in zip(results, queries, strict=True):
        _check(hits, gallery, query, 1000)


def test_a_person_found_only_through_their_centroid() -> None:
    """Person 0's two faces (0.8 and 0.6) lie behind the 64 faces of person 1 (0.85 each):
    the face search stops there; the centroid search finds person 0."""
    probe, side = _unit(50), _orthogonal(_unit(50), 51)
    near, far = 2**40 + 7, 2**40 + 3  # the closer face has the larger id
    crowd = probe * 0.85 + _orthogonal(probe, 52) * float(np.sqrt(1 - 0.85**2))
    face_ids, owners = [near, far, *range(1, 65)], [0, 0, *[1] * 64]
    vectors = np.stack([probe * 0.8 + side * 0.6, probe * 0.6 - side * 0.8, *[crowd] * 64])
    index = FaissIndex(DIM)
    index.add(face_ids, owners, vectors)
    (hits,) = index.search_people(probe[None, :], top_k=1)
    _check(hits, _gallery(face_ids, owners, vectors), probe, 1)
    # centroid (1.4 probe - 0.2 side) / sqrt(2): cosine 1.4 / sqrt(2) = 0.989949,
    # lowered by 0.0116 * (1 - 1/2) = 0.0058: 0.984149
    assert [(h.person_id, h.face_id) for h in hits] == [(0, near)]
    assert hits[0].similarity == pytest.approx(0.984149, abs=1e-5)
    (hits,) = index.search_people(probe[None, :], top_k=2)
    # person 1: 0.85 - 0.0116 * (1 - 1/64) = 0.838581
    assert [(h.person_id, round(h.similarity, 5)) for h in hits] == [(0, 0.98415), (1, 0.83858)]


def test_a_person_found_only_through_a_face_scores_by_their_centroid() -> None:
    """70 people with three identical faces at cosine 0.708 fill the centroid search (its
    64 best); person X (two faces: the probe and one orthogonal to it) is found by face."""
    probe = _unit(60)
    x = 2**35
    crowd = [
        probe * 0.708 + _orthogonal(probe, 300 + i) * float(np.sqrt(1 - 0.708**2))
        for i in range(70)
        for _ in range(3)
    ]
    face_ids = [2**33 + 1, 2**33 + 2, *range(1000, 1210)]
    owners = [x, x, *[1 + i // 3 for i in range(210)]]
    vectors = np.stack([probe, _orthogonal(probe, 61), *crowd])
    index = FaissIndex(DIM)
    index.add(face_ids, owners, vectors)
    # X: centroid cosine 1 / sqrt(2) = 0.707107, less 0.0058: 0.701307; the crowd's
    # centroids are nearer (0.708) but score 0.708 - 0.0116 * (1 - 1/3) = 0.700267
    (hits,) = index.search_people(probe[None, :], top_k=1)
    _check(hits, _gallery(face_ids, owners, vectors), probe, 1)
    assert [(h.person_id, h.face_id) for h in hits] == [(x, 2**33 + 1)]
    assert hits[0].similarity == pytest.approx(0.701307, abs=1e-5)
    (hits,) = index.search_people(probe[None, :], top_k=2)
    assert hits[0].person_id == x and 1 <= hits[1].person_id <= 70
    assert [h.similarity for h in hits] == pytest.approx([0.701307, 0.700267], abs=1e-5)


def test_ties_go_by_person_id() -> None:
    """Scores clipped to 0 tie: person 7 (two faces at -e1, centroid score -1.0058),
    person 5 (one face at -e1, -1) and person 2 (one face at e2, 0) all score 0.0."""
    e1, e2 = _axis(0), _axis(1)
    index = FaissIndex(DIM)
    index.add([70, 71, 50, 20], [7, 7, 5, 2], np.stack([-e1, -e1, -e1, e2]))
    (hits,) = index.search_people(e1[None, :], top_k=3)
    assert [(h.person_id, h.similarity) for h in hits] == [(2, 0.0), (5, 0.0), (7, 0.0)]
    assert [h.face_id for h in hits[:2]] == [20, 50] and hits[2].face_id in (70, 71)


def test_face_id_zero_is_a_face() -> None:
    e1, e2 = _axis(0), _axis(1)
    index = FaissIndex(DIM)
    index.add([0, 9], [5, 6], np.stack([e1, e2]))
    (hits,) = index.search_people(e1[None, :], top_k=2)
    assert [(h.person_id, h.face_id, h.similarity) for h in hits] == [(5, 0, 1.0), (6, 9, 0.0)]


def test_a_cosine_rounded_above_one_is_clipped() -> None:
    """A vector of norm 1 up to float32 rounding: (0.6000001, 0.8) has squared norm
    0.36000012 + 0.64 = 1.00000012, so its inner product with itself exceeds 1."""
    v = np.zeros(DIM, dtype=np.float32)
    v[:2] = 0.6000001, 0.8
    assert float(v @ v) > 1.0
    index = FaissIndex(DIM)
    index.add([1], [1], v[None, :])
    (hits,) = index.search_people(v[None, :], top_k=1)
    assert [(h.person_id, h.similarity) for h in hits] == [(1, 1.0)]


def test_add_refuses_a_person_id_list_of_another_length() -> None:
    two = np.stack([_unit(1), _unit(2)])
    with pytest.raises(ValueError):
        FaissIndex(DIM).add([1, 2], [1], two)
    with pytest.raises(ValueError):
        FaissIndex(DIM).add([1], [1, 2], two[:1])


def test_ids_at_the_ends_of_int64() -> None:
    v = _unit(3)[None, :]
    index = FaissIndex(DIM)
    index.add([2**63 - 1], [2**63 - 1], v)
    (hits,) = index.search_people(v, top_k=1)
    assert [(h.person_id, h.face_id) for h in hits] == [(2**63 - 1, 2**63 - 1)]
    # one beyond is refused, not wrapped around to a negative id (-1 means "no result")
    with pytest.raises(OverflowError):
        FaissIndex(DIM).add([2**63], [1], v)
    with pytest.raises(OverflowError):
        FaissIndex(DIM).add([1], [2**63], v)


def _spread(centre: Vector, cosine: float, seed: int) -> Vector:
    """A unit vector at ``cosine`` from unit ``centre``."""
    return centre * cosine + _orthogonal(centre, seed) * float(np.sqrt(1 - cosine**2))


def _crowded(
    probe: Vector, leaders: list[tuple[int, int, float]], single: float
) -> tuple[list[int], list[int], Vector]:
    """``leaders``: (person id, faces, cosine) for the faces that come first in the face
    search; each of those people also has one face more than that at -probe, so that
    their centroid scores 0. Then person 99, with one face at ``single``."""
    owners: list[int] = []
    rows: list[Vector] = []
    for n, (person_id, faces, cosine) in enumerate(leaders):
        owners += [person_id] * faces
        rows += [_spread(probe, cosine, 400 + n)] * faces
    for person_id in sorted(set(owners)):
        owners += [person_id] * (owners.count(person_id) + 1)
    rows += [-probe] * (len(owners) - len(rows))
    owners.append(99)
    rows.append(_spread(probe, single, 499))
    return list(range(1, len(owners) + 1)), owners, np.stack(rows)


@pytest.mark.parametrize(
    ("leaders", "top_k"),
    [
        # 64 faces of person 1, then person 2's at 0.85: the first 64 rows hold one person,
        # so the search widens (to 256 rows) and reaches person 99's face, 66th
        ([(1, 64, 0.9), (2, 1, 0.85)], 2),
        # top_k 10: the first 80 rows hold people 1-9 only; person 10 is 82nd, then two
        # faces of each of people 1-9 at 0.84, person 99 101st
        (
            [(p, 9, 0.9) for p in range(1, 10)]
            + [(10, 1, 0.85)]
            + [(p, 2, 0.84) for p in range(1, 10)],
            10,
        ),
        # 256 rows hold person 1 only, person 2 is 300th, then 30 more faces of person 1:
        # the search widens to 1024 rows (all) and reaches person 99, 331st
        ([(1, 299, 0.9), (2, 1, 0.85), (1, 30, 0.84)], 2),
    ],
)
def test_the_face_search_widens_until_it_has_top_k_people(
    leaders: list[tuple[int, int, float]], top_k: int
) -> None:
    probe = _unit(70)
    face_ids, owners, vectors = _crowded(probe, leaders, single=0.8)
    index = FaissIndex(DIM)
    index.add(face_ids, owners, vectors)
    (hits,) = index.search_people(probe[None, :], top_k=top_k)
    _check(hits, _gallery(face_ids, owners, vectors), probe, top_k)
    assert (hits[0].person_id, hits[0].face_id) == (99, face_ids[-1])
    assert hits[0].similarity == pytest.approx(0.8, abs=1e-5)
    assert [h.similarity for h in hits[1:]] == [0.0] * (top_k - 1)


class _Recorder:
    """A FAISS index that notes the k of each search."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self.ks: list[int] = []

    def search(self, queries: NDArray[np.float32], k: int) -> Any:
        self.ks.append(k)
        return self.index.search(queries, k)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)


def _windows(index: FaissIndex, probe: Vector, top_k: int) -> tuple[list[int], list[int]]:
    target: Any = index
    faces, centroids = _Recorder(target._index), _Recorder(target._centroids)
    target._index, target._centroids = faces, centroids
    index.search_people(probe[None, :], top_k=top_k)
    target._index, target._centroids = faces.index, centroids.index
    return faces.ks, centroids.ks


def test_search_cost() -> None:
    """The face and centroid searches read max(64, 8 top_k) rows (all when there are fewer),
    both four times more while the top_k people found do not beat what the windows left
    out (here: fewer than top_k people among them)."""
    probe = _unit(80)
    one = FaissIndex(DIM)  # one person, 300 faces: the first 64 rows are enough for top_k 1
    one.add(
        list(range(300)), [1] * 300, np.stack([_spread(probe, 0.9, 1000 + i) for i in range(300)])
    )
    assert _windows(one, probe, 1) == ([64], [1])
    one.add([300], [2], -probe[None, :])  # a second person, last: 64, 256, then all 301
    assert _windows(one, probe, 2) == ([64, 256, 301], [1, 1, 1])
    many = FaissIndex(DIM)  # 100 people with two faces each
    many.add(
        list(range(200)),
        [i // 2 for i in range(200)],
        np.stack([_spread(probe, 0.5, 2000 + i) for i in range(200)]),
    )
    assert _windows(many, probe, 1) == ([64], [64])
    assert _windows(many, probe, 10) == ([80], [80])


def test_a_single_face_person_behind_one_persons_64_faces() -> None:
    probe = _unit(70)
    face_ids, owners, vectors = _crowded(probe, [(1, 64, 0.9)], single=0.8)
    index = FaissIndex(DIM)
    index.add(face_ids, owners, vectors)
    (hits,) = index.search_people(probe[None, :], top_k=1)
    assert [(h.person_id, round(h.similarity, 5)) for h in hits] == [(99, 0.8)]


def test_a_refused_add_leaves_the_index_as_it_was() -> None:
    index = FaissIndex(DIM)
    index.add([1], [1], _unit(1)[None, :])
    with pytest.raises(ValueError, match="2 face ids, 1 person ids and vectors of shape"):
        index.add([2, 3], [2], np.stack([_unit(2), _unit(3)]))
    with pytest.raises(ValueError):  # wrong dimension
        index.add([4], [4], np.zeros((1, DIM + 1), dtype=np.float32))
    with pytest.raises(OverflowError):  # a person id no database column holds
        index.add([5], [2**63], _unit(5)[None, :])
    with pytest.raises(ValueError):  # replacing face 1 with a bad row keeps face 1
        index.add([1], [1], np.zeros((2, DIM), dtype=np.float32))
    assert index.count() == 1
    (hits,) = index.search_people(_unit(3)[None, :], top_k=5)
    assert [h.person_id for h in hits] == [1]
