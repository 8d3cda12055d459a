"""How big can it get: the vector index at 10k, 100k and 1M faces, per backend.

    python bench/scale.py [--sizes 10k,100k,1m] [--queries 1000] [--backends faiss-exact,...]
                          [--milvus-max 100k] [--no-server] [--photos 300] [--nprobe N]

Gallery. LFW-dev people are the real identities: their descriptors (cached by
``bench/lfw_threshold.py`` in ``data/bench/lfw_dev_<detector>_<tta>.npz``, computed
with the same code when absent). Of each person with two or more photos, one photo is
held back as a probe ("another photo of an enrolled person"); half of the one-photo
people are left out, their photos are the strangers' probes. The gallery is topped up
with synthetic people, drawn to match the real ones:

- identity centres from a Gaussian fitted to the real people's centroids (mean and
  covariance of the mean descriptor of each person with 2+ photos);
- per-photo offsets from the real within-person spread (covariance of each photo minus
  its person's mean, scaled by n/(n-1)), added to the centre, then L2-normalised;
- photos per person drawn from LFW-dev's own counts.

The script prints the same-person / different-person cosine distributions of real and
synthetic people side by side, so the model can be judged.

Per backend and size it prints: build time; top-5 search latency p50/p99 at
concurrency 1 and 8 (8 threads in one process, one query per call); recall@1 (probes
whose top-1 person is the exact answer's, brute force in numpy from the definition:
a person's face cosine, or their centroid's score); the time to apply 10k new faces.
For the FAISS backends also:

- start-up to ready of a real server (``bench/scale_server.py``): ``facerec serve`` with
  1 and 2 workers on a data dir whose SQLite database holds the gallery (and, for the
  approximate index, its saved copy), from spawn to every worker's ``/readyz`` 200, and
  each worker's RSS/PSS then (models and index loaded, nothing searched yet);
- RSS and PSS per "index worker" with 1 and 2 of them: a process that loads what was
  saved as a server worker does (the approximate index memory-mapped; the exact one
  rebuilt from the vectors) and answers every probe (``/proc/PID/smaps_rollup`` after
  that: the pages the searches touched are counted).

Milvus (Milvus Lite in a temporary file, up to ``--milvus-max`` faces; a server is one
process shared by every worker, so no per-worker figures) is written and searched
through ``bench/milvus_scale.py``'s functions. A backend is a :class:`Backend`.

Run time on the 2-core development machine: see the README ("How big can it get").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from facerec.config import FaissSettings
from facerec.index.base import CENTROID_OFFSET, Hit
from facerec.index.faiss_index import FaissIndex
from facerec.index.saved import SavedIndexes
from facerec.index.scaled import ScaledFaissIndex

sys.path.insert(0, str(Path(__file__).resolve().parent))
import milvus_scale  # type: ignore[import-not-found]
import scale_server  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bench"
APPLY = 10_000


class Backend(Protocol):
    """One vector index under test (it answers ``VectorIndex.search_people``)."""

    name: str

    def build(
        self, faces: NDArray[np.int64], people: NDArray[np.int64], vectors: NDArray[np.float32]
    ) -> None:
        """Fill from scratch."""

    def save(self, directory: Path) -> None:
        """Write what a worker loads at start."""

    def load(self, directory: Path) -> None:
        """Serve from what ``save`` wrote (in a fresh worker process)."""

    def search(self, queries: NDArray[np.float32], top_k: int) -> list[list[Hit]]: ...

    def apply(
        self, faces: NDArray[np.int64], people: NDArray[np.int64], vectors: NDArray[np.float32]
    ) -> None:
        """Add faces to a live index."""


class _InProcess:
    """Search and apply of an index in this process (FAISS)."""

    index: FaissIndex | ScaledFaissIndex

    def search(self, queries: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        return self.index.search_people(queries, top_k)

    def apply(
        self, faces: NDArray[np.int64], people: NDArray[np.int64], vectors: NDArray[np.float32]
    ) -> None:
        self.index.add(faces.tolist(), people.tolist(), vectors)


class FaissExact(_InProcess):
    """Today's exact index; a worker rebuilds it from the stored vectors at start."""

    index: FaissIndex

    name = "faiss-exact"

    def __init__(self, dim: int) -> None:
        self.index = FaissIndex(dim)

    def build(
        self, faces: NDArray[np.int64], people: NDArray[np.int64], vectors: NDArray[np.float32]
    ) -> None:
        self.index.add(faces.tolist(), people.tolist(), vectors)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        held = self.index.entries()
        np.savez(directory / "faces.npz", f=held.face_ids, p=held.person_ids, v=held.vectors)

    def load(self, directory: Path) -> None:
        stored = np.load(directory / "faces.npz")
        self.build(stored["f"], stored["p"], stored["v"])


class FaissApproximate(_InProcess):
    """The IVF past ``faiss.approximate_above``; saved and memory-mapped by workers."""

    index: ScaledFaissIndex

    name = "faiss-approx"

    def __init__(self, dim: int, nprobe: int) -> None:
        self.index = ScaledFaissIndex(dim, approximate_above=1, nprobe=nprobe)

    def build(
        self, faces: NDArray[np.int64], people: NDArray[np.int64], vectors: NDArray[np.float32]
    ) -> None:
        self.index.reset()
        self.index.add(faces.tolist(), people.tolist(), vectors)

    def save(self, directory: Path) -> None:
        approx = self.index.approximate
        assert approx is not None and approx.changes == 0
        SavedIndexes(directory).save(approx.base, generation=0, model=MODEL)

    def load(self, directory: Path) -> None:
        found = SavedIndexes(directory).load(model=MODEL, dim=self.index.dim)
        assert found is not None, "no saved index"
        self.index.use(found.base, generation=found.generation)


class Milvus:
    """Milvus Lite in a temporary file, written as a reload and the change-log applier do."""

    name = "milvus"

    def __init__(self, dim: int) -> None:

        from facerec.index.milvus_index import MilvusIndex, connect

        self.bench = milvus_scale
        self._tmp = tempfile.TemporaryDirectory(prefix="facerec-scale-milvus-")
        self.index = MilvusIndex(connect(str(Path(self._tmp.name) / "milvus.db")), dim)

    def build(
        self, faces: NDArray[np.int64], people: NDArray[np.int64], vectors: NDArray[np.float32]
    ) -> None:
        self.bench.build(self.index, faces.tolist(), people.tolist(), vectors)

    def save(self, directory: Path) -> None:
        raise NotImplementedError("a shared index: workers do not load a copy")

    def load(self, directory: Path) -> None:
        raise NotImplementedError("a shared index: workers do not load a copy")

    def search(self, queries: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        return self.index.search_people(queries, top_k)

    def apply(
        self, faces: NDArray[np.int64], people: NDArray[np.int64], vectors: NDArray[np.float32]
    ) -> None:
        self.bench.apply(self.index, faces.tolist(), people.tolist(), vectors)

    def close(self) -> None:
        self.index.close()
        self._tmp.cleanup()


BACKENDS: dict[str, Callable[[int, int], Backend]] = {
    "faiss-exact": lambda dim, nprobe: FaissExact(dim),
    "faiss-approx": FaissApproximate,
    "milvus": lambda dim, nprobe: Milvus(dim),
}
"""Each backend made for a dimension and an IVF ``nprobe`` (used by the approximate one)."""
PER_WORKER = {"faiss-exact", "faiss-approx"}
"""Backends that each server worker loads (the others are shared by every worker)."""


# -- the gallery --------------------------------------------------------------------


@dataclass
class Real:
    vectors: NDArray[np.float32]
    labels: NDArray[np.int64]


def real_descriptors() -> Real | None:
    from facerec.config import Settings

    settings = Settings()
    cache = (
        ROOT / "data" / "bench" / f"lfw_dev_{settings.detector.model}_{settings.inference.tta}.npz"
    )
    lfw = (ROOT / ".." / "shared" / "data" / "lfw-dev").resolve()
    if cache.is_file():
        stored = np.load(cache)
        paths, emb = list(stored["paths"]), stored["embeddings"]
    elif lfw.is_dir():
        sys.path.insert(0, str(ROOT / "bench"))
        from lfw_threshold import embed_all  # type: ignore[import-not-found]

        paths, emb = embed_all(lfw, cache, jobs=2)
    else:
        return None
    found = ~np.isnan(emb[:, 0])
    names = np.asarray([p.split("/")[0] for p in paths])[found]
    _, labels = np.unique(names, return_inverse=True)
    return Real(emb[found].astype(np.float32), labels.astype(np.int64))


class Synthetic:
    """Centres ~ N(mean, cov) of real centroids; photos = centre + N(0, within cov)."""

    def __init__(self, real: Real, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        counts = np.bincount(real.labels)
        several = np.flatnonzero(counts >= 2)
        sums = np.zeros((len(counts), real.vectors.shape[1]))
        np.add.at(sums, real.labels, real.vectors)
        means = sums / counts[:, None]
        keep = np.isin(real.labels, several)
        residual = real.vectors[keep] - means[real.labels[keep]]
        scale = (counts / np.maximum(counts - 1, 1))[real.labels[keep]]
        self.mean = means[several].mean(axis=0)
        self.between = np.cov(means[several], rowvar=False)
        self.within = (residual * scale[:, None]).T @ residual / len(residual)
        self.counts = counts

    def people(self, total: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """At least ``total`` photos: (person index from 0, descriptor) per photo."""
        per = self.rng.choice(self.counts, size=total // 2 + 10)
        per = per[: int(np.searchsorted(np.cumsum(per), total)) + 1]
        centres = self.rng.multivariate_normal(self.mean, self.between, size=len(per))
        owner = np.repeat(np.arange(len(per)), per)[:total]
        return owner, self.photos(centres[owner])

    def photos(self, centres: NDArray[np.float64]) -> NDArray[np.float32]:
        noise = self.rng.multivariate_normal(np.zeros(len(self.mean)), self.within, len(centres))
        x = centres + noise
        unit: NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(
            np.float32
        )
        return unit


def cosine_check(real: Real, synthetic: Synthetic) -> None:
    """Same- and different-person cosines, real vs synthetic (percentiles 5/50/95)."""
    rng = np.random.default_rng(1)
    owner, vectors = synthetic.people(20_000)

    def stats(vec: NDArray[np.float32], lab: NDArray[np.int64]) -> tuple[str, str]:
        i, j = rng.integers(0, len(vec), size=(2, 400_000))
        same = (lab[i] == lab[j]) & (i != j)
        cos = np.einsum("ij,ij->i", vec[i], vec[j])
        pct = [5, 50, 95]
        return (
            " ".join(f"{v:.3f}" for v in np.percentile(cos[same], pct)),
            " ".join(f"{v:.3f}" for v in np.percentile(cos[lab[i] != lab[j]], pct)),
        )

    for name, (same, diff) in (
        ("real LFW-dev", stats(real.vectors, real.labels)),
        ("synthetic", stats(vectors, owner)),
    ):
        print(f"  {name:13s} same-person p5/50/95 {same}   different {diff}")


@dataclass
class Gallery:
    faces: NDArray[np.int64]
    people: NDArray[np.int64]
    vectors: NDArray[np.float32]
    probes: NDArray[np.float32]
    new: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]


def gallery(real: Real, synthetic: Synthetic, size: int, queries: int) -> Gallery:
    rng = np.random.default_rng(size)
    counts = np.bincount(real.labels)
    held = {}  # person -> one photo held back as a probe
    for row in rng.permutation(len(real.labels)):
        label = int(real.labels[row])
        if counts[label] >= 2 and label not in held:
            held[label] = row
    singles = np.flatnonzero(counts == 1)
    strangers = set(rng.choice(singles, size=len(singles) // 2, replace=False).tolist())
    in_gallery = np.asarray(
        [r for r, lab in enumerate(real.labels) if held.get(int(lab)) != r and lab not in strangers]
    )
    stranger_rows = np.flatnonzero(np.isin(real.labels, list(strangers)))
    known = rng.choice(np.asarray(list(held.values())), size=queries // 2, replace=False)
    unknown = rng.choice(stranger_rows, size=queries - queries // 2, replace=False)
    probes = real.vectors[np.concatenate([known, unknown])]
    owner, fake = synthetic.people(size - len(in_gallery) + APPLY)
    top_up = size - len(in_gallery)
    people = np.concatenate([real.labels[in_gallery] + 1, owner[:top_up] + 10_000_000])
    vectors = np.vstack([real.vectors[in_gallery], fake[:top_up]])
    faces = np.arange(1, size + 1, dtype=np.int64)
    new = (
        np.arange(size + 1, size + 1 + APPLY, dtype=np.int64),
        owner[top_up:] + 10_000_000,
        fake[top_up:],
    )
    return Gallery(faces, people.astype(np.int64), vectors.astype(np.float32), probes, new)


# -- measures ---------------------------------------------------------------------


def latency(backend: Backend, probes: NDArray[np.float32], threads: int) -> tuple[float, float]:
    def one(probe: NDArray[np.float32]) -> float:
        start = time.perf_counter()
        backend.search(probe[None, :], 5)
        return time.perf_counter() - start

    with ThreadPoolExecutor(threads) as pool:
        times = np.asarray(list(pool.map(one, probes))) * 1000
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def workers(name: str, directory: Path, probes: Path, count: int, nprobe: int) -> dict[str, float]:
    """Start ``count`` worker processes on what was saved; load time, and memory once
    loaded and after every probe, each."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", name, str(directory), str(probes), str(nprobe)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    ready = []
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", "the worker did not start"
        ready.append(time.perf_counter() - started)
    loaded = [scale_server.memory(p.pid) for p in procs]
    for proc in procs:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("search\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "searched"
    searched = [scale_server.memory(p.pid) for p in procs]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    return {
        "ready_s": max(ready),
        "rss_loaded": max(m[0] for m in loaded),
        "rss": max(m[0] for m in searched),
        "pss": max(m[1] for m in searched),
    }


def worker(name: str, directory: Path, probes: Path, nprobe: int) -> None:
    """A worker process: load, answer one search (ready), then, when told, every probe."""
    queries = np.load(probes)
    backend = BACKENDS[name](queries.shape[1], nprobe)
    backend.load(directory)
    backend.search(queries[:1], 5)
    print("ready", flush=True)
    sys.stdin.readline()
    for probe in queries:
        backend.search(probe[None, :], 5)
    print("searched", flush=True)
    sys.stdin.read()  # measured by the parent, then told to go


def top1(hits: list[list[Hit]]) -> NDArray[np.int64]:
    return np.asarray([h[0].person_id if h else -1 for h in hits])


def exact_top1(g: Gallery) -> NDArray[np.int64]:
    """Each probe's best person by brute force: one template per person (their face, or
    their centroid), scored as ``person_similarity`` scores it; ties to the smaller id."""
    people, owner, photos = np.unique(g.people, return_inverse=True, return_counts=True)
    sums = np.zeros((len(people), g.vectors.shape[1]))
    np.add.at(sums, owner, g.vectors.astype(np.float64))
    templates = (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)
    offset = (CENTROID_OFFSET * (1.0 - 1.0 / photos)).astype(np.float32)
    best = []
    for start in range(0, len(g.probes), 100):
        scores = np.clip(g.probes[start : start + 100] @ templates.T - offset, 0.0, 1.0)
        best.append(np.argmax(scores, axis=1))  # first of equals: the smaller person id
    return np.asarray(people[np.concatenate(best)], dtype=np.int64)


def run(
    size: int, names: list[str], real: Real, synthetic: Synthetic, args: argparse.Namespace
) -> None:
    g = gallery(real, synthetic, size, args.queries)
    work = ROOT / "data" / "bench" / "scale"
    work.mkdir(parents=True, exist_ok=True)
    probe_file = work / "probes.npy"
    np.save(probe_file, g.probes)
    expected = exact_top1(g)
    for name in names:
        if name == "milvus" and size > _parse_size(args.milvus_max):
            continue
        backend = BACKENDS[name](g.vectors.shape[1], args.nprobe)
        start = time.perf_counter()
        backend.build(g.faces, g.people, g.vectors)
        built = time.perf_counter() - start
        recall = float(np.mean(top1(backend.search(g.probes, 5)) == expected))
        p1 = latency(backend, g.probes, 1)
        p8 = latency(backend, g.probes, 8)
        line = (
            f"{_size(size):>5} {name:12s} build {built:6.1f} s  "
            f"top-5 p50/p99 c1 {p1[0]:6.2f}/{p1[1]:6.2f} ms  c8 {p8[0]:6.2f}/{p8[1]:6.2f} ms  "
            f"recall@1 {recall:.4f}"
        )
        if name in PER_WORKER:
            line += per_worker(
                name, backend, g, work, probe_file, args=args, server=not args.no_server
            )
        start = time.perf_counter()
        backend.apply(*g.new)
        line += f"  apply 10k {time.perf_counter() - start:5.2f} s"
        print(line, flush=True)
        closer = getattr(backend, "close", None)
        if callable(closer):
            closer()
        del backend


def per_worker(
    name: str,
    backend: Backend,
    g: Gallery,
    work: Path,
    probe_file: Path,
    *,
    args: argparse.Namespace,
    server: bool,
) -> str:
    """The figures of an index that every worker holds: a real server's start, and the
    memory of index workers that answered every probe."""
    saved = work / name
    backend.save(saved)
    text = ""
    if server:
        approx = backend.index.approximate if isinstance(backend, FaissApproximate) else None
        bodies = scale_server.photos(args.photos)
        started = scale_server.serve_ready(
            approximate=approx.base if approx is not None else None,
            faces=g.faces,
            people=g.people,
            vectors=g.vectors,
            bodies=bodies,
            nprobe=args.nprobe,
        )
        text += (
            f"\n{'':18s}server (db seeded in {started['seed_s']:.0f} s): ready "
            f"1w {started['ready_1w']:5.1f} s  2w {started['ready_2w']:5.1f} s  "
            f"RSS/PSS at ready 1w {started['rss_1w']:5.0f}/{started['pss_1w']:5.0f} MiB  "
            f"2w {started['rss_2w']:5.0f}/{started['pss_2w']:5.0f} MiB each"
        )
        if bodies:
            text += (
                f"\n{'':18s}server after recognising {len(bodies)} LFW-dev photos: RSS/PSS "
                f"1w {started['rss_after_1w']:5.0f}/{started['pss_after_1w']:5.0f} MiB  "
                f"2w {started['rss_after_2w']:5.0f}/{started['pss_after_2w']:5.0f} MiB each"
            )
    one = workers(name, saved, probe_file, 1, args.nprobe)
    two = workers(name, saved, probe_file, 2, args.nprobe)
    return text + (
        f"\n{'':18s}index worker (loaded in {one['ready_s']:.1f} s, RSS {one['rss_loaded']:.0f}"
        f" MiB) after {len(g.probes)} searches: RSS/PSS "
        f"1w {one['rss']:5.0f}/{one['pss']:5.0f} MiB  "
        f"2w {two['rss']:5.0f}/{two['pss']:5.0f} MiB each"
    )


def _size(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def _parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * factor)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10k,100k,1m")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--milvus-max", default="100k", help="largest gallery for Milvus Lite")
    parser.add_argument("--no-server", action="store_true", help="skip the real server starts")
    parser.add_argument(
        "--photos", type=int, default=300, help="LFW-dev photos each real server recognises"
    )
    parser.add_argument(
        "--nprobe",
        type=int,
        default=FaissSettings().nprobe,
        help="IVF lists of faces searched (approximate index; default: FACEREC_FAISS__NPROBE's)",
    )
    args = parser.parse_args()
    real = real_descriptors()
    if real is None:
        print("skipped: no LFW-dev descriptors and no ../shared/data/lfw-dev")
        return 0
    synthetic = Synthetic(real)
    print(f"cores {os.cpu_count()}; nprobe {args.nprobe}; {args.queries} probes (half strangers)")
    cosine_check(real, synthetic)
    names = args.backends.split(",")
    for size in (_parse_size(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        run(size, names, real, synthetic, args)
        print(f"{_size(size):>5} done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
