"""How far below the match threshold a new photo must score to be refused as someone else.

Enrolment refuses a photo as ``face_mismatch`` when its similarity to the person's
enrolled faces (their face, or their centroid on the single-face scale, as the index
scores them) is below ``match threshold - MISMATCH_MARGIN``. A wrong refusal of a true
photo costs a user, so the margin is chosen on the same-person side: for every identity
of LFW-dev with two or more photos, the first ``k`` photos (k = 1, 2, 3) are the
enrolled faces and each later photo is "the next photo added"; the different-person
side adds the photos of every other identity to the same galleries.

Prints, for each candidate mismatch threshold, the share of true photos refused and the
share of photos of someone else caught, per gallery size; writes
data/bench/enrol_mismatch.json. Descriptors come from bench/lfw_threshold.py's cache
(the server's pipeline), computed on first use.

    python bench/enrol_mismatch.py [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lfw_threshold import LFW, embed_all

from facerec.config import DEFAULT_MATCH_THRESHOLD, Settings
from facerec.index.base import CENTROID_OFFSET, centroid

Array = NDArray[np.float32]
GALLERY_SIZES = (1, 2, 3)
CANDIDATES = (0.80, 0.82, 0.84, 0.844, 0.85, 0.86, 0.87, 0.88, 0.89, 0.90, 0.91, 0.92, 0.934)


def galleries(
    vectors: Array, names: list[str], k: int
) -> tuple[Array, NDArray[np.int64], NDArray[np.int64]]:
    """One row per identity with more than ``k`` photos: its first ``k`` photos' vector
    (face or centroid), the identity's label, and a mask of which images are its gallery."""
    by_name: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_name.setdefault(name, []).append(i)
    rows, owners, used = [], [], np.zeros(len(names), dtype=np.int64)
    for label, (_, indices) in enumerate(sorted(by_name.items())):
        if len(indices) <= k:
            continue
        rows.append(centroid(vectors[indices[:k]]) if k > 1 else vectors[indices[0]])
        owners.append(label)
        used[indices[:k]] = 1
    return np.stack(rows), np.asarray(owners, dtype=np.int64), used


def scores(vectors: Array, labels: NDArray[np.int64], k: int, names: list[str]) -> dict[str, Any]:
    """Same-person and different-person scores of "the next photo added" at gallery size k."""
    gallery, owners, used = galleries(vectors, names, k)
    cosine = np.clip(gallery @ vectors.T, 0.0, 1.0)
    score = cosine - CENTROID_OFFSET * (1.0 - 1.0 / k)  # the index's centroid score
    same = owners[:, None] == labels[None, :]
    probe = used[None, :] == 0  # a gallery photo is never its own probe
    return {"genuine": score[same & probe], "impostor": score[~same], "people": len(owners)}


def summary(genuine: Array, impostor: Array) -> dict[str, Any]:
    quantiles = (0.0001, 0.001, 0.005, 0.01, 0.05)
    return {
        "genuine": int(genuine.size),
        "impostor": int(impostor.size),
        "genuine_quantiles": {str(q): round(float(np.quantile(genuine, q)), 4) for q in quantiles},
        "genuine_min": round(float(genuine.min()), 4),
        "impostor_median": round(float(np.median(impostor)), 4),
        "impostor_p99": round(float(np.quantile(impostor, 0.99)), 4),
        "at": {
            f"{t:.3f}": {
                "true_refused": round(float((genuine < t).mean()), 5),
                "other_caught": round(float((impostor < t).mean()), 4),
            }
            for t in CANDIDATES
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("data/bench/enrol_mismatch.json"))
    args = parser.parse_args()
    root = LFW.resolve()
    if not root.is_dir():
        print(f"skipped: {root} is absent (see shared/data/README.md)")
        return 0
    settings = Settings()
    recipe = f"{settings.detector.model}_{settings.inference.tta}"
    paths, emb = embed_all(root, args.out.parent / f"lfw_dev_{recipe}.npz", args.jobs)
    found = ~np.isnan(emb[:, 0])
    names = [p.split("/")[0] for p, ok in zip(paths, found, strict=True) if ok]
    vectors = emb[found].astype(np.float32)
    _, labels = np.unique(np.asarray(names), return_inverse=True)
    report: dict[str, Any] = {"match_threshold": DEFAULT_MATCH_THRESHOLD, "images": len(names)}
    for k in GALLERY_SIZES:
        s = scores(vectors, labels.astype(np.int64), k, names)
        report[f"photos_{k}"] = {"people": s["people"], **summary(s["genuine"], s["impostor"])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    _print(report)
    return 0


def _print(report: dict[str, Any]) -> None:
    print(f"LFW-dev, {report['images']} images; match threshold {report['match_threshold']}")
    for k in GALLERY_SIZES:
        r = report[f"photos_{k}"]
        print(
            f"\n{k} enrolled photo(s), {r['people']} people: {r['genuine']} true photos, "
            f"{r['impostor']} photos of someone else"
        )
        print(f"  true photos: min {r['genuine_min']}, quantiles {r['genuine_quantiles']}")
        print(f"  someone else: median {r['impostor_median']}, 99% {r['impostor_p99']}")
        print(f"  {'mismatch threshold':>18}  {'true refused':>12}  {'other caught':>12}")
        for t, row in r["at"].items():
            print(f"  {t:>18}  {row['true_refused']:>12.3%}  {row['other_caught']:>12.1%}")


if __name__ == "__main__":
    raise SystemExit(main())
