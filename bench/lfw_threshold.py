"""Choose the default match threshold from LFW-dev, through FaceRec's own pipeline.

Every image of ``../shared/data/lfw-dev`` goes through the server's pipeline
(decode, detect, 5 points, chip, descriptor, L2-normalise); in each image the
face nearest the centre is the labelled one (LFW is centred). Then *every*
different-person pair that can be formed is scored (tens of millions), and the
threshold is the lowest cosine similarity at which the share of different-person
pairs scoring at or above it is at most the target false-accept rate (0.05% by
default). The same-person reject rate it costs is measured on every same-person
pair and on the standard pairsDevTrain list. Over every pair it also reports the best
balanced accuracy ((TAR + TNR) / 2 at the best threshold) and the equal error rate: the
2,200 pairs of pairsDevTrain resolve 0.045 points (one pair), every pair of LFW-dev
(217,637 same-person, 45 million different-person) resolves differences far below that.

    python bench/lfw_threshold.py [--far 0.0005] [--jobs 2] [--out data/bench/lfw_threshold.json]
                                  [--store]

The parts are the settings' (``FACEREC_DETECTOR__MODEL``, ``FACEREC_RECOGNISER__MODEL``,
``FACEREC_DATA_DIR`` for registry models). ``--store`` writes the threshold into the
installed recogniser's manifest (``default_threshold``: the match threshold the server
uses for it unless ``FACEREC_MATCH_THRESHOLD`` is set).

Embeddings are cached in ``data/bench/lfw_dev_<detector>_<tta>.npz`` so a second run only
scores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facerec.config import Settings
from facerec.inference.engines import build_engine
from facerec.inference.parts import DLIB_RECOGNISER
from facerec.inference.runtime import FaceRuntime
from facerec.registry.store import ModelStore

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lfw-dev"
_runtime: FaceRuntime | None = None


def _embed(path: str) -> NDArray[np.float32] | None:
    global _runtime  # noqa: PLW0603 - one runtime per worker process
    if _runtime is None:
        settings = Settings()
        _runtime = FaceRuntime(build_engine(settings), settings)
        _runtime.engine.load()
    result = _runtime.analyze(Path(path).read_bytes())
    if not result.faces:
        return None
    cx, cy = result.width / 2, result.height / 2
    face = min(
        result.faces,
        key=lambda f: (
            ((f.detection.x1 + f.detection.x2) / 2 - cx) ** 2
            + ((f.detection.y1 + f.detection.y2) / 2 - cy) ** 2
        ),
    )
    return face.embedding


def embed_all(root: Path, cache: Path, jobs: int) -> tuple[list[str], NDArray[np.float32]]:
    """Paths (relative) and embeddings (NaN rows where no face was found)."""
    paths = sorted(str(p.relative_to(root)) for p in root.glob("*/*.jpg"))
    if cache.is_file():
        stored = np.load(cache)
        if list(stored["paths"]) == paths:
            return paths, stored["embeddings"]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        vectors = list(pool.map(_embed, [str(root / p) for p in paths], chunksize=32))
    dim = next(v.shape[0] for v in vectors if v is not None)
    out = np.full((len(paths), dim), np.nan, dtype=np.float32)
    for i, v in enumerate(vectors):
        if v is not None:
            out[i] = v
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=np.asarray(paths), embeddings=out)
    print(f"embedded {len(paths)} images in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return paths, out


def pair_blocks(
    emb: NDArray[np.float32], labels: NDArray[np.int64]
) -> Iterator[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    """Every pair's score (cosine, clipped to 0-1) once, in blocks: (same-person scores,
    different-person scores)."""
    n = emb.shape[0]
    for start in range(0, n, 1024):
        block = np.clip(emb[start : start + 1024] @ emb.T, 0.0, 1.0)
        rows = np.arange(start, min(n, start + 1024))[:, None]
        upper = np.arange(n)[None, :] > rows
        same = labels[rows] == labels[None, :]
        yield block[upper & same], block[upper & ~same]


def best_balanced(
    emb: NDArray[np.float32], labels: NDArray[np.int64], bins: int = 100_000
) -> dict[str, float]:
    """Over every pair: the best balanced accuracy ((TAR + TNR) / 2, the accuracy of
    pairsDevTrain's half-and-half design) at any threshold, and the equal error rate;
    thresholds on a grid of ``1 / bins``."""
    counts = {"same": np.zeros(bins, np.int64), "different": np.zeros(bins, np.int64)}
    for same, imp in pair_blocks(emb, labels):
        for key, scores in (("same", same), ("different", imp)):
            cells = np.minimum((scores * bins).astype(np.int64), bins - 1)
            counts[key] += np.bincount(cells, minlength=bins)
    # at threshold k / bins a pair is accepted when its score is in cell k or above
    below_same = np.concatenate([[0], np.cumsum(counts["same"])]) / counts["same"].sum()
    below_diff = np.concatenate([[0], np.cumsum(counts["different"])]) / counts["different"].sum()
    frr, far = below_same, 1.0 - below_diff
    balanced = 1.0 - (frr + far) / 2
    best, equal = int(np.argmax(balanced)), int(np.argmin(np.abs(frr - far)))
    return {
        "all_pairs_best_balanced_accuracy": round(float(balanced[best]), 6),
        "all_pairs_best_threshold": round(best / bins, 5),
        "all_pairs_eer": round(float(frr[equal] + far[equal]) / 2, 6),
    }


def impostor_threshold(
    emb: NDArray[np.float32], labels: NDArray[np.int64], far: float
) -> tuple[float, int, NDArray[np.float32]]:
    """Threshold for the target FAR over every different-person pair; also all genuine scores."""
    n = emb.shape[0]
    keep = int(np.ceil(far * n * n / 2)) + 1000  # enough of the top impostor scores
    top: list[NDArray[np.float32]] = []
    genuine: list[NDArray[np.float32]] = []
    count = 0
    for same, imp in pair_blocks(emb, labels):
        count += imp.size
        top.append(np.sort(imp)[-keep:])
        genuine.append(same)
    scores = np.sort(np.concatenate(top))[::-1]
    allowed = int(np.floor(far * count))  # impostor pairs allowed at or above the threshold
    # lowest threshold with at most `allowed` impostors >= it: just above the (allowed+1)-th
    threshold = float(np.nextafter(scores[allowed], np.float32(2.0)))
    return threshold, count, np.concatenate(genuine)


def pairs_frr(
    root: Path, index: dict[str, int], emb: NDArray[np.float32], thr: float
) -> dict[str, float]:
    lines = (root / "pairsDevTrain.txt").read_text().split("\n")[1:]
    same, diff = [], []
    for line in filter(None, (x.split() for x in lines)):
        if len(line) == 3:
            a, b = (
                f"{line[0]}/{line[0]}_{int(line[1]):04d}.jpg",
                f"{line[0]}/{line[0]}_{int(line[2]):04d}.jpg",
            )
            same.append((a, b))
        else:
            a, b = (
                f"{line[0]}/{line[0]}_{int(line[1]):04d}.jpg",
                f"{line[2]}/{line[2]}_{int(line[3]):04d}.jpg",
            )
            diff.append((a, b))

    def sims(pairs: list[tuple[str, str]]) -> NDArray[np.float32]:
        return np.asarray([float(np.clip(emb[index[a]] @ emb[index[b]], 0, 1)) for a, b in pairs])

    s, d = sims(same), sims(diff)
    s, d = np.nan_to_num(s, nan=0.0), np.nan_to_num(d, nan=0.0)  # no face: counts as a reject
    return {
        "pairs_same": len(same),
        "pairs_diff": len(diff),
        "pairs_frr": float((s < thr).mean()),
        "pairs_far": float((d >= thr).mean()),
        "pairs_accuracy": float(((s >= thr).sum() + (d < thr).sum()) / (len(s) + len(d))),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--far", type=float, default=0.0005)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("data/bench/lfw_threshold.json"))
    parser.add_argument("--store", action="store_true", help="into the recogniser's manifest")
    args = parser.parse_args()
    root = LFW.resolve()
    if not root.is_dir():
        print(f"skipped: {root} is absent (see shared/data/README.md)")
        return 0
    settings = Settings()  # the cache is per detector, recogniser and augmentation
    recipe = f"{settings.detector.model}_{settings.inference.tta}"
    if settings.recogniser.model != DLIB_RECOGNISER:
        recipe = f"{settings.detector.model}_{settings.recogniser.model}_{settings.inference.tta}"
    paths, emb = embed_all(root, args.out.parent / f"lfw_dev_{recipe}.npz", args.jobs)
    found = ~np.isnan(emb[:, 0])
    names = np.asarray([p.split("/")[0] for p in paths])
    _, labels = np.unique(names, return_inverse=True)
    thr, n_imp, genuine = impostor_threshold(emb[found], labels[found].astype(np.int64), args.far)
    index = {p: i for i, p in enumerate(paths)}
    report = {
        "images": len(paths),
        "no_face": int((~found).sum()),
        "target_far": args.far,
        "impostor_pairs": n_imp,
        "genuine_pairs": int(genuine.size),
        "threshold": round(thr, 4),
        "genuine_frr": float((genuine < thr).mean()),
        **pairs_frr(root, index, emb, thr),
        **best_balanced(emb[found], labels[found].astype(np.int64)),
    }
    for far in (0.01, 0.001, 0.0005, 0.0001):
        t, _, _ = impostor_threshold(emb[found], labels[found].astype(np.int64), far)
        report[f"threshold_at_far_{far}"] = round(t, 4)
        report[f"frr_at_far_{far}"] = round(float((genuine < t).mean()), 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    print(
        f"threshold for FAR {args.far:.4%}: {thr:.4f} "
        f"(same-person reject rate {report['genuine_frr']:.2%})"
    )
    if args.store and settings.recogniser.model != DLIB_RECOGNISER:
        source = f"bench/lfw_threshold.py: LFW-dev, FAR {args.far:.4%}, {recipe}"
        ModelStore(settings.models_dir).set_threshold(settings.recogniser.model, thr, source)
        print(f"stored in the manifest of {settings.recogniser.model}: {round(thr, 4)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
