"""Accuracy on LFW-dev, measured the standard way, next to the stock face_recognition pipeline.

Ours: the server's pipeline (ONNX engine: grey HOG at the server's scale policy with the
CNN fallback, 5 points, dlib's chip, ResNet descriptor) in three matching variants, each
kept only if it helps: the chip alone ("ours"); the chip and its mirror image, descriptors
summed ("ours + mirror": what the server runs, ``inference.tta = mirror``); ten dlib-style
jitters ("ours + jitter": shifted, scaled, turned, half mirrored). Stock: what a
face_recognition user runs: dlib HOG with upsample 1, first face, 5 points, dlib's
descriptor, Euclidean distance (0.6 is its customary threshold).

Reports, for each pipeline:
- verification on pairsDevTrain: 10-fold cross-validated accuracy, TAR at FAR 1% / 0.1%,
  and accuracy / FAR / FRR at the shipped default threshold;
- open-set identification: gallery = first image of every identity with 2+ images,
  probes = their other images, strangers = every single-image identity: rank-1, and
  DIR (detected and identified) at FPIR 1% and at the default threshold;
- detection: images where no face was found.
Then, for the shipped variant: several photos per person (people scored by their closest
photo, by their centroid (what the index does), or by the better of both), and DIR at
FPIR 1% against gallery size (with and without cohort score normalisation).
Writes data/bench/eval_lfw.json and data/bench/roc.png. Descriptors are cached in
data/bench/ so a second run only scores.

    python bench/eval_lfw.py [--jobs 2]
    python bench/eval_lfw.py --detector yunet-2023mar --recogniser mobilefacenet --pairs-only

``--detector`` / ``--recogniser`` choose the parts as the server's settings do
(``detector.model``, ``recogniser.model``); registry models must be installed under
``--data-dir`` (``FACEREC_DATA_DIR=data/bench/models-cache facerec models import FILE``).
``--pairs-only`` embeds only the images of pairsDevTrain (no jitter, no stock pipeline)
and reports verification and the no-face rate.

    python bench/eval_lfw.py --all [--every 1] [--cnn-every 4]

``--all`` does the same for every available detector x recogniser (``bench/combos.py``:
hog, cnn, installed detectors x dlib-resnet, installed recognisers; the fixtures of
``../shared/models`` installed into ``--data-dir`` first; the rest listed as skipped with
why), with FAR / FRR at each recogniser's own threshold, and prints one table with the
per-stage milliseconds of ``bench/pipeline.py --all`` (run either first). The CNN detector
is slow on CPU: it gets every ``--cnn-every``-th pair only (the table says so).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.config import Settings
from facerec.index.base import centroid_score
from facerec.inference.augment import jittered, mirrored
from facerec.inference.onnx_engine import OnnxEngine
from facerec.inference.runtime import l2_normalise

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.combos import ACCURACY_ALL, combinations, print_table

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw-dev"
OUT = Path("data/bench")
Array = NDArray[np.float32]
JITTERS = 10
SHIPPED = "ours + mirror"  # what the server runs (inference.tta = mirror)
_state: dict[str, Any] = {}


# -- descriptors ------------------------------------------------------------------------
def _ours(path: str) -> Array | None:
    """Descriptors of the face nearest the centre, or None: row 0 from its chip, row 1
    from the mirrored chip, rows 2.. from ``JITTERS`` jittered chips."""
    if "engine" not in _state:
        settings = Settings(
            data_dir=_state.get("data_dir", OUT / "models-cache"),
            inference={"onnx_intra_threads": 1},
            detector={"model": _state.get("detector", "hog")},
            recogniser={"model": _state.get("recogniser", "dlib-resnet")},
        )
        _state["engine"] = OnnxEngine(settings)
        _state["engine"].load()
        _state["settings"] = settings
    engine: OnnxEngine = _state["engine"]
    pixels = np.asarray(Image.open(path).convert("RGB"))
    found = engine.detector.detect(pixels)
    if not found and engine.fallback_detector is not None:
        found = engine.fallback_detector.detect(pixels)
    if not found:
        return None
    cy, cx = pixels.shape[0] / 2, pixels.shape[1] / 2
    face = min(found, key=lambda d: ((d.x1 + d.x2) / 2 - cx) ** 2 + ((d.y1 + d.y2) / 2 - cy) ** 2)
    points = engine.landmarker.landmarks(pixels, [face])
    chip = engine.network.align(pixels, points)
    jitters = jittered(chip[0], JITTERS) if _state.get("jitter", True) else chip[:0]
    return engine.network.embed_chips(np.concatenate([chip, mirrored(chip), jitters]))


def _init(parts: dict[str, Any]) -> None:
    _state.update(parts)


def _stock(path: str) -> Array | None:
    """face_recognition.face_encodings(img)[0], written out with dlib."""
    if "dlib" not in _state:
        import dlib

        from facerec.inference.dlib_engine import model_path

        _state["dlib"] = (
            dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(model_path("landmarks"))),
            dlib.face_recognition_model_v1(str(model_path("embedder"))),
        )
    detector, predictor, net = _state["dlib"]
    pixels = np.asarray(Image.open(path).convert("RGB"))
    faces = detector(pixels, 1)
    if not faces:
        return None
    shape = predictor(pixels, faces[0])
    return np.asarray(net.compute_face_descriptor(pixels, shape), dtype=np.float32)


def _embed(
    kind: str, paths: list[str], jobs: int, parts: dict[str, Any] | None = None
) -> dict[str, Array]:
    parts = parts or {}
    named = [str(v) for k, v in parts.items() if k != "data_dir"]
    tag = "" if kind == "stock" or not parts else "_" + "_".join(named)
    cache = OUT / f"eval_lfw_{kind}{tag}.npz"
    if cache.is_file():
        stored = np.load(cache)
        if list(stored["paths"]) == paths:
            return {name: stored[name] for name in stored.files if name != "paths"}
    started = time.perf_counter()
    work = _ours if kind == "ours" else _stock
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(parts,)) as pool:
        results = list(pool.map(work, paths, chunksize=16))
    out: dict[str, Array] = {}
    if kind == "ours":
        shape = next(r.shape for r in results if r is not None)
        raw = np.full((len(paths), *shape), np.nan, dtype=np.float32)
        for i, r in enumerate(results):
            if r is not None:
                raw[i] = r
        out = {"raw": raw}
    else:
        raw = np.full((len(paths), 128), np.nan, dtype=np.float32)
        for i, r in enumerate(results):
            if r is not None:
                raw[i] = r
        out = {"raw": raw}
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=np.asarray(paths), **out)  # type: ignore[arg-type]
    print(f"{kind}: {len(paths)} images in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


# -- scoring ------------------------------------------------------------------------------
def similarity(vectors: Array, stock: bool) -> Any:
    """A score where higher means more alike: cosine for ours, -distance for stock."""
    if stock:
        return lambda a, b: -float(np.linalg.norm(vectors[a] - vectors[b]))
    return lambda a, b: float(np.clip(vectors[a] @ vectors[b], 0.0, 1.0))


def read_pairs(index: dict[str, int]) -> tuple[list[tuple[int, int]], NDArray[np.int64]]:
    pairs, labels = [], []
    for line in (LFW / "pairsDevTrain.txt").read_text().split("\n")[1:]:
        f = line.split()
        if len(f) == 3:
            a, b, same = (f[0], int(f[1])), (f[0], int(f[2])), 1
        elif len(f) == 4:
            a, b, same = (f[0], int(f[1])), (f[2], int(f[3])), 0
        else:
            continue
        pairs.append(tuple(index[f"{n}/{n}_{i:04d}.jpg"] for n, i in (a, b)))
        labels.append(same)
    return pairs, np.asarray(labels)  # type: ignore[return-value]


def verification(
    scores: NDArray[np.float64], labels: NDArray[np.int64], default: float | None
) -> dict[str, float]:
    folds = np.arange(len(labels)) % 10
    accuracies = []
    for k in range(10):
        train, test = folds != k, folds == k
        candidates = np.unique(scores[train])
        best = max(candidates, key=lambda t: float(((scores[train] >= t) == labels[train]).mean()))
        accuracies.append(float(((scores[test] >= best) == labels[test]).mean()))
    genuine, impostor = scores[labels == 1], scores[labels == 0]
    result = {
        "accuracy_10fold": float(np.mean(accuracies)),
        "accuracy_10fold_std": float(np.std(accuracies)),
    }
    for far in (0.01, 0.001):
        t = np.quantile(impostor, 1 - far, method="higher")
        result[f"tar_at_far_{far}"] = float((genuine > t).mean())
    if default is not None:
        result.update(
            {
                "default_threshold": default,
                "accuracy_at_default": float(((scores >= default) == labels).mean()),
                "far_at_default": float((impostor >= default).mean()),
                "frr_at_default": float((genuine < default).mean()),
            }
        )
    return result


def identification(
    vectors: Array, names: list[str], stock: bool, default: float | None
) -> dict[str, float]:
    found = ~np.isnan(vectors[:, 0])
    by_name = _by_name(names)
    gallery = [ids[0] for ids in by_name.values() if len(ids) >= 2 and found[ids[0]]]
    gallery_names = np.asarray([names[i] for i in gallery])
    genuine_probes = [
        i for ids in by_name.values() if len(ids) >= 2 and found[ids[0]] for i in ids[1:]
    ]
    strangers = [ids[0] for ids in by_name.values() if len(ids) == 1]
    g = vectors[gallery]

    def best(probe: int) -> tuple[str, float]:
        if not found[probe]:
            return "", -np.inf
        if stock:
            d = np.linalg.norm(g - vectors[probe], axis=1)
            j = int(np.argmin(d))
            return str(gallery_names[j]), -float(d[j])
        s = g @ vectors[probe]
        j = int(np.argmax(s))
        return str(gallery_names[j]), float(np.clip(s[j], 0, 1))

    genuine = [(best(p), names[p]) for p in genuine_probes]
    impostor_scores = np.asarray([best(p)[1] for p in strangers])
    correct = np.asarray([hit == truth for (hit, _), truth in genuine])
    scores = np.asarray([s for (_, s), _ in genuine])
    t1 = np.quantile(impostor_scores[np.isfinite(impostor_scores)], 0.99, method="higher")
    result = {
        "gallery": len(gallery),
        "genuine_probes": len(genuine_probes),
        "strangers": len(strangers),
        "rank1": float(correct.mean()),
        "dir_at_fpir_0.01": float((correct & (scores > t1)).mean()),
    }
    if default is not None:
        result["dir_at_default"] = float((correct & (scores >= default)).mean())
        result["fpir_at_default"] = float((impostor_scores >= default).mean())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--detector", default="hog", help="hog | cnn | an installed detector")
    parser.add_argument(
        "--recogniser", default="dlib-resnet", help="dlib-resnet | an installed recogniser"
    )
    parser.add_argument("--data-dir", type=Path, default=OUT / "models-cache")
    parser.add_argument("--pairs-only", action="store_true", help="pairsDevTrain images only")
    parser.add_argument(
        "--all", action="store_true", help="every available detector x recogniser, one table"
    )
    parser.add_argument(
        "--every", type=int, default=1, help="with --all: every N-th pair (1: all 2,200)"
    )
    parser.add_argument(
        "--cnn-every", type=int, default=4, help="with --all: every N-th pair for the CNN (slow)"
    )
    args = parser.parse_args()
    if not LFW.is_dir():
        print(f"skipped: {LFW} is absent (see shared/data/README.md)")
        return 0
    paths = sorted(str(p) for p in LFW.glob("*/*.jpg"))
    names = [Path(p).parent.name for p in paths]
    index = {str(Path(p).relative_to(LFW)): i for i, p in enumerate(paths)}
    default = Settings().match_threshold
    if args.all:
        return _all(args, paths, index)
    if args.pairs_only or (args.detector, args.recogniser) != ("hog", "dlib-resnet"):
        return _pairs_only(args, paths, index)
    ours = _embed("ours", paths, args.jobs)
    stock = _embed("stock", paths, args.jobs)
    pairs, labels = read_pairs(index)
    raw = ours["raw"]
    variants = {
        "ours": (l2_normalise(raw[:, 0]), False),
        "ours + mirror": (l2_normalise(raw[:, 0] + raw[:, 1]), False),
        "ours + jitter": (l2_normalise(raw[:, 2:].sum(axis=1)), False),
        "stock": (stock["raw"], True),
    }
    report: dict[str, Any] = {"images": len(paths), "pairs": len(pairs)}
    curves = {}
    for name, (vectors, is_stock) in variants.items():
        score = similarity(vectors, is_stock)
        scores = np.asarray([score(a, b) for a, b in pairs], dtype=np.float64)
        scores = np.nan_to_num(scores, nan=-np.inf)  # no face: the pair is never accepted
        threshold = -0.6 if is_stock else default
        report[name] = {
            "no_face": float(np.isnan(vectors[:, 0]).mean()),
            "verification": verification(scores, labels, threshold),
            "identification": identification(vectors, names, is_stock, threshold),
        }
        curves[name] = scores
    shipped = variants[SHIPPED][0]
    # jitter at enrolment (the gallery photos), mirror at recognition (everything else)
    hybrid = shipped.copy()
    firsts = [ids[0] for ids in _by_name(names).values() if len(ids) >= 2]
    hybrid[firsts] = variants["ours + jitter"][0][firsts]
    report["jitter enrol, mirror probe"] = identification(hybrid, names, False, default)
    report["several_photos"] = several_photos(shipped, names, default)
    report["gallery_size"] = gallery_sizes(shipped, names)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "eval_lfw.json").write_text(json.dumps(report, indent=2))
    _plot(curves, labels, OUT / "roc.png")
    _print(report)
    _print_extras(report)
    return 0


def _pairs_only(args: argparse.Namespace, paths: list[str], index: dict[str, int]) -> int:
    """Verification and no-face rate of one detector x recogniser on the pairs' images."""
    report = pairs_report(
        args.detector, args.recogniser, paths, index, data_dir=args.data_dir, jobs=args.jobs
    )
    for name in ("chip", "chip + mirror"):
        v = report[name]["verification"]
        print(
            f"{args.detector} + {args.recogniser}, {name}: 10-fold "
            f"{100 * v['accuracy_10fold']:.2f}% (+-{100 * v['accuracy_10fold_std']:.2f}), "
            f"TAR@FAR1% {100 * v['tar_at_far_0.01']:.2f}%, "
            f"no face {100 * report[name]['no_face']:.2f}% of {report['images']} images"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"eval_lfw_pairs_{args.detector}_{args.recogniser}.json"
    target.write_text(json.dumps(report, indent=2))
    return 0


def pairs_report(
    detector: str,
    recogniser: str,
    paths: list[str],
    index: dict[str, int],
    *,
    data_dir: Path,
    jobs: int,
    every: int = 1,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Verification on pairsDevTrain (every ``every``-th pair: a deterministic sample) and
    the no-face rate of their images, for the chip and for chip + mirror (the server's);
    FAR / FRR at ``threshold`` when given."""
    pairs, labels = read_pairs(index)
    pairs, labels = pairs[::every], labels[::every]
    used = sorted({i for pair in pairs for i in pair})
    parts = {"detector": detector, "recogniser": recogniser, "data_dir": data_dir, "jitter": False}
    tag = {"pairs": "pairs" if every == 1 else f"pairs-every-{every}"}
    raw = _embed("ours", [paths[i] for i in used], jobs, {**parts, **tag})["raw"]
    at = {image: row for row, image in enumerate(used)}
    report: dict[str, Any] = {
        "parts": {"detector": detector, "recogniser": recogniser},
        "images": len(used),
        "pairs": len(pairs),
        "every": every,
    }
    for name, vectors in (("chip", raw[:, 0]), ("chip + mirror", raw[:, 0] + raw[:, 1])):
        unit = l2_normalise(vectors)
        scores = np.asarray([float(unit[at[a]] @ unit[at[b]]) for a, b in pairs])
        scores = np.nan_to_num(scores, nan=-np.inf)  # no face: the pair is never accepted
        report[name] = {
            "no_face": float(np.isnan(raw[:, 0, 0]).mean()),
            "verification": verification(scores, labels, threshold),
        }
    return report


def _all(args: argparse.Namespace, paths: list[str], index: dict[str, int]) -> int:
    """Every available detector x recogniser (``bench/combos.py``): one row each."""
    rows: dict[str, Any] = {}
    for combo in combinations(args.data_dir):
        if combo.skipped:
            rows[combo.label] = {"skipped": combo.skipped}
            print(f"{combo.label}: skipped ({combo.skipped})", file=sys.stderr)
            continue
        every = args.cnn_every if combo.detector == "cnn" else args.every
        started = time.perf_counter()
        report = pairs_report(
            combo.detector,
            combo.recogniser,
            paths,
            index,
            data_dir=args.data_dir,
            jobs=args.jobs,
            every=every,
            threshold=combo.threshold,
        )
        report["threshold_source"] = combo.threshold_source
        rows[combo.label] = report
        print(f"{combo.label}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / ACCURACY_ALL).write_text(json.dumps(rows, indent=2))
    print_table(OUT)
    return 0


# -- several photos per person, and gallery size --------------------------------------------
def _open_set(
    probe_scores: Array, stranger_scores: Array, correct: NDArray[np.bool_], default: float
) -> dict[str, float]:
    """rank-1, DIR at FPIR 1% and at the default, from each search's best score."""
    t1 = np.quantile(stranger_scores, 0.99, method="higher")
    return {
        "rank1": float(correct.mean()),
        "dir_at_fpir_0.01": float((correct & (probe_scores > t1)).mean()),
        "dir_at_default": float((correct & (probe_scores >= default)).mean()),
        "fpir_at_default": float((stranger_scores >= default).mean()),
    }


def _person_scores(queries: Array, photos: Array, centroids: Array) -> dict[str, Array]:
    """queries x people scores by each rule: ``photos`` is people x n x dim; centroids
    on the single-face scale as the index puts them (``centroid_score``)."""
    closest: Array = np.einsum("qd,pnd->qpn", queries, photos).max(axis=2)
    if photos.shape[1] == 1:
        return {"closest photo": closest}
    by_centroid: Array = centroid_score(queries @ centroids.T, photos.shape[1])  # type: ignore[assignment, arg-type]
    both: Array = np.maximum(closest, by_centroid)
    return {"closest photo": closest, "centroid": by_centroid, "better of both": both}


def several_photos(vectors: Array, names: list[str], default: float) -> dict[str, Any]:
    """Gallery = the first ``n`` photos of every identity with more than ``n``; probes =
    their other photos; strangers = single-photo identities. People scored by their
    closest photo, by their centroid (what the index does) and by the better of both."""
    found = ~np.isnan(vectors[:, 0])
    unit = np.nan_to_num(vectors, nan=0.0)
    by_name = _by_name(names)
    strangers = [ids[0] for ids in by_name.values() if len(ids) == 1]
    out: dict[str, Any] = {}
    for n in (1, 2, 3, 5):
        people = [k for k, ids in by_name.items() if len(ids) > n and found[ids[:n]].all()]
        photos = np.stack([unit[by_name[k][:n]] for k in people])  # people x n x dim
        centroids = l2_normalise(photos.sum(axis=1))
        probes = [i for k in people for i in by_name[k][n:]]
        truth = np.asarray([people.index(names[i]) for i in probes])

        raw_centroid = (unit[strangers] @ centroids.T).ravel()
        row: dict[str, Any] = {
            "people": len(people),
            "probes": len(probes),
            # per comparison: the data behind facerec.index.base.CENTROID_OFFSET
            "centroid_cosine_at_far_0.0005": float(np.quantile(raw_centroid, 1 - 0.0005)),
        }
        by_probe = _person_scores(unit[probes], photos, centroids)
        by_stranger = _person_scores(unit[strangers], photos, centroids)
        for rule, probe_scores in by_probe.items():
            stranger_scores = by_stranger[rule]
            correct = (probe_scores.argmax(axis=1) == truth) & found[probes]
            row[rule] = _open_set(
                probe_scores.max(axis=1), stranger_scores.max(axis=1), correct, default
            )
        out[f"{n} photo{'s' if n > 1 else ''}"] = row
    return out


def gallery_sizes(
    vectors: Array, names: list[str], sizes: tuple[int, ...] = (10, 50, 200), draws: int = 30
) -> dict[str, Any]:
    """DIR at FPIR 1% for random galleries of ``sizes`` identities (one photo each; the
    other photos of gallery people are probes, every other identity is a stranger),
    averaged over ``draws``: plain scores, and scores normalised by the gallery's own
    cohort (best minus 0.3 x second best), which helps large galleries only."""
    found = ~np.isnan(vectors[:, 0])
    unit = np.nan_to_num(vectors, nan=0.0)
    by_name = _by_name(names)
    multi = [k for k, ids in by_name.items() if len(ids) >= 2 and found[ids[0]]]
    singles = [ids[0] for ids in by_name.values() if len(ids) == 1]
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for size in (*sizes, len(multi)):
        plain: list[float] = []
        cohort: list[float] = []
        for _ in range(draws if size < len(multi) else 1):
            chosen = [multi[i] for i in rng.choice(len(multi), size, replace=False)]
            members = set(chosen)
            gallery = unit[[by_name[k][0] for k in chosen]]
            probes = [i for k in chosen for i in by_name[k][1:]]
            truth = np.asarray([chosen.index(names[i]) for i in probes])
            strangers = singles + [by_name[k][0] for k in multi if k not in members]
            scores_p, scores_s = unit[probes] @ gallery.T, unit[strangers] @ gallery.T
            top_p = -np.sort(-scores_p, axis=1)[:, :2]
            top_s = -np.sort(-scores_s, axis=1)[:, :2]
            correct = (scores_p.argmax(axis=1) == truth) & found[probes]
            for sink, weight in ((plain, 0.0), (cohort, 0.3)):
                best_p = top_p[:, 0] - weight * top_p[:, 1]
                best_s = top_s[:, 0] - weight * top_s[:, 1]
                t1 = np.quantile(best_s, 0.99, method="higher")
                sink.append(float((correct & (best_p > t1)).mean()))
        out[str(size)] = {"plain": float(np.mean(plain)), "cohort": float(np.mean(cohort))}
    return out


def _by_name(names: list[str]) -> dict[str, list[int]]:
    by_name: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_name.setdefault(name, []).append(i)
    return by_name


def _print_extras(report: dict[str, Any]) -> None:
    mixed = report["jitter enrol, mirror probe"]
    print(
        f"\njitter at enrolment, mirror at recognition: rank-1 {mixed['rank1']:.2%}, "
        f"DIR at FPIR 1% {mixed['dir_at_fpir_0.01']:.2%}"
    )
    print(
        f"\nseveral photos per person ({SHIPPED}; DIR at FPIR 1% / rank-1 / DIR, FPIR at default)"
    )
    for n, row in report["several_photos"].items():
        print(
            f"  {n}: the centroid cosine 0.05% of stranger comparisons reach: "
            f"{row['centroid_cosine_at_far_0.0005']:.4f}"
        )
        for rule, f in row.items():
            if isinstance(f, dict):
                print(
                    f"  {n:<9}{rule:<16}{f['dir_at_fpir_0.01']:>8.2%}{f['rank1']:>8.2%}"
                    f"{f['dir_at_default']:>8.2%}{f['fpir_at_default']:>8.2%}"
                    f"   ({row['people']} people, {row['probes']} probes)"
                )
    print(f"\ngallery size ({SHIPPED}; DIR at FPIR 1%, mean of random galleries)")
    for size, f in report["gallery_size"].items():
        plain, cohort = f["plain"], f["cohort"]
        print(f"  {size:>5} identities   plain {plain:>7.2%}   cohort-normalised {cohort:>7.2%}")


def _plot(curves: dict[str, NDArray[np.float64]], labels: NDArray[np.int64], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, scores in curves.items():
        order = np.argsort(-scores)
        tp = np.cumsum(labels[order] == 1) / max(1, (labels == 1).sum())
        fp = np.cumsum(labels[order] == 0) / max(1, (labels == 0).sum())
        ax.plot(np.maximum(fp, 1e-4), tp, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (pairsDevTrain)")
    ax.set_ylabel("true accept rate")
    ax.set_title("LFW-dev verification ROC")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=120)


def _print(report: dict[str, Any]) -> None:
    rows = [
        ("no face found", "no_face", None),
        ("10-fold accuracy", "verification", "accuracy_10fold"),
        ("TAR @ FAR 1%", "verification", "tar_at_far_0.01"),
        ("TAR @ FAR 0.1%", "verification", "tar_at_far_0.001"),
        ("accuracy @ default", "verification", "accuracy_at_default"),
        ("FAR @ default", "verification", "far_at_default"),
        ("FRR @ default", "verification", "frr_at_default"),
        ("rank-1", "identification", "rank1"),
        ("DIR @ FPIR 1%", "identification", "dir_at_fpir_0.01"),
        ("DIR @ default", "identification", "dir_at_default"),
        ("FPIR @ default", "identification", "fpir_at_default"),
    ]
    names = [n for n in report if isinstance(report[n], dict) and "verification" in report[n]]
    print(f"{'':<20}" + "".join(f"{n:>16}" for n in names))
    for label, group, key in rows:
        values = [report[n][group] if key is None else report[n][group].get(key) for n in names]
        print(
            f"{label:<20}"
            + "".join(f"{v:>16.2%}" if v is not None else f"{'':>16}" for v in values)
        )
    best = max(
        ("ours", "ours + mirror"), key=lambda n: report[n]["verification"]["accuracy_10fold"]
    )
    gain = (
        report[best]["verification"]["accuracy_10fold"]
        - report["stock"]["verification"]["accuracy_10fold"]
    )
    print(f"10-fold accuracy, {best} vs stock: {gain * 100:+.2f} points")


if __name__ == "__main__":
    raise SystemExit(main())
