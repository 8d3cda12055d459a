"""Milvus Lite at scale: build time, top-5 search latency and the time to apply new faces.

The gallery is synthetic: ``--faces`` random unit descriptors (128-d, like dlib's), two
faces a person around the person's own direction (so every person has a centroid, the
costlier path), written straight into a ``MilvusIndex`` in a temporary Milvus Lite file.
The functions (``build``, ``apply``, ``search_latency``) take any ``MilvusIndex``, so a
wider benchmark (``bench/scale.py``) can call them with its own gallery or a server.

    python bench/milvus_scale.py [--faces 100000] [--dim 128] [--queries 200] [--uri PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facerec.index.milvus_index import MilvusIndex, connect


def gallery(
    faces: int, dim: int, seed: int = 0
) -> tuple[list[int], list[int], NDArray[np.float32]]:
    """Face ids 1..faces, two a person, unit vectors near their person's direction."""
    rng = np.random.default_rng(seed)
    people = (faces + 1) // 2
    centres = rng.normal(size=(people, dim))
    person_ids = [i // 2 + 1 for i in range(faces)]
    rows = centres[np.asarray(person_ids) - 1] + rng.normal(size=(faces, dim)) * 0.5
    vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return list(range(1, faces + 1)), person_ids, vectors


def build(
    index: MilvusIndex, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]
) -> float:
    """Seconds to write a whole gallery as a reload does (faces, then centroids)."""
    start = time.perf_counter()
    index.reset()
    index.upsert_faces(face_ids, person_ids, vectors)
    grouped: dict[int, list[NDArray[np.float32]]] = {}
    for person_id, vector in zip(person_ids, vectors, strict=True):
        grouped.setdefault(person_id, []).append(vector)
    index.set_centroids({p: np.stack(v) for p, v in grouped.items() if len(v) >= 2})
    index.flush()
    return time.perf_counter() - start


def apply(
    index: MilvusIndex, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]
) -> float:
    """Seconds to add faces as the change-log applier does (``add``: centroids follow)."""
    start = time.perf_counter()
    index.add(face_ids, person_ids, vectors)
    return time.perf_counter() - start


def search_latency(
    index: MilvusIndex, probes: NDArray[np.float32], top_k: int = 5
) -> tuple[float, float]:
    """p50 and p99 milliseconds of one-probe ``search_people`` calls, one at a time."""
    times = []
    for probe in probes:
        start = time.perf_counter()
        index.search_people(probe[None, :], top_k)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--new", type=int, default=1_000, help="faces applied after the build")
    parser.add_argument("--uri", help="a Milvus server or Lite file (default: a temporary file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        uri = args.uri or str(Path(tmp) / "milvus.db")
        index = MilvusIndex(connect(uri), args.dim, prefix="bench_")
        ids, people, vectors = gallery(args.faces, args.dim)
        built = build(index, ids, people, vectors)
        count = index.count()
        probes = vectors[np.random.default_rng(1).choice(len(ids), args.queries)]
        p50, p99 = search_latency(index, probes)
        new_ids, new_people, new_vectors = gallery(args.new, args.dim, seed=2)
        offset = args.faces
        applied = apply(
            index,
            [f + offset for f in new_ids],
            [p + offset for p in new_people],
            new_vectors,
        )
        hits = index.search_people(probes[:20], 1)
        right = sum(
            h[0].person_id == people[int(np.argmax(vectors @ p))]
            for h, p in zip(hits, probes[:20], strict=True)
        )
        print(f"Milvus Lite, {count} faces ({args.dim}-d), {len(set(people))} people")
        print(f"  build (faces + centroids): {built:.1f} s")
        print(
            f"  top-5 search, concurrency 1: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            f" ({args.queries} queries)"
        )
        print(f"  apply {args.new} new faces: {applied:.2f} s")
        print(f"  probes found as their own person: {right}/20")
        index.close()


if __name__ == "__main__":
    main()
