"""Which face detector on the fast path? HOG (dlib) vs the MMOD CNN on ONNX Runtime.

Both run with the server's scale policy (faces down to ``min_face_px`` = 40 px, at most
``max_detect_pixels`` scanned). Measured on a deterministic sample of LFW-dev (share of
images with no face found, ms per image) and on the shared group photos (faces found,
ms per photo): HOG on the grey image and on colour, the CNN alone, and grey HOG with
the CNN as fallback (the server's default).

    python bench/detectors.py [--lfw 300]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from facerec.config import Settings
from facerec.inference.dlib_engine import DlibDetector, ThreadModels
from facerec.inference.onnx_engine import cnn_detector
from facerec.inference.types import Detection, RGBImage

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
Detect = Callable[[RGBImage], list[Detection]]


def _load(path: Path) -> RGBImage:
    return np.asarray(Image.open(path).convert("RGB"))


def _lfw_sample(count: int) -> list[Path]:
    paths = sorted((SHARED / "lfw-dev").glob("*/*.jpg"))
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def _group_photos() -> list[Path]:
    with (SHARED / "faces" / "hard_cases.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    wanted = {"multi_face_group", "multi_face_small_faces"}
    return [SHARED / "faces" / r["path"] for r in rows if r["category"] in wanted]


def _run(detect: Detect, images: list[RGBImage]) -> tuple[list[int], list[float]]:
    counts, times = [], []
    for image in images:
        started = time.perf_counter()
        counts.append(len(detect(image)))
        times.append((time.perf_counter() - started) * 1000)
    return counts, times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=int, default=300, help="LFW-dev images to sample")
    args = parser.parse_args()
    if not (SHARED / "lfw-dev").is_dir():
        print(f"skipped: {SHARED} is absent (see shared/data/README.md)")
        return 0
    settings = Settings()
    with tempfile.TemporaryDirectory() as cache:
        hog = DlibDetector("hog", settings.detector, ThreadModels())
        colour = settings.detector.model_copy(update={"hog_gray": not settings.detector.hog_gray})
        hog_other = DlibDetector("hog", colour, ThreadModels())
        hog_name = "hog (grey)" if settings.detector.hog_gray else "hog (colour)"
        other_name = "hog (colour)" if settings.detector.hog_gray else "hog (grey)"
        cnn = cnn_detector(
            Path(cache),
            settings.detector,
            settings.inference,
            max_pixels=settings.detector.max_detect_pixels,
        )
        fallback = cnn_detector(
            Path(cache),
            settings.detector,
            settings.inference,
            max_pixels=settings.detector.fallback_max_pixels,
        )
        cnn.load()
        fallback.load()

        def hog_then_cnn(image: RGBImage) -> list[Detection]:
            found = hog.detect(image)
            if found or image.shape[0] * image.shape[1] > settings.detector.fallback_max_pixels:
                return found
            return fallback.detect(image)

        lfw = [_load(p) for p in _lfw_sample(args.lfw)]
        groups = [_load(p) for p in _group_photos()]
        detectors: dict[str, Detect] = {
            "hog": hog.detect,
            other_name: hog_other.detect,
            "cnn (onnx)": cnn.detect,
            "hog + cnn fallback": hog_then_cnn,
        }
        print(
            f"{'detector':<20} {'LFW no face':>12} {'LFW ms/img':>11} {'p95':>7} "
            f"{'group faces':>12} {'group ms/img':>13}"
        )
        results = {}
        for name, detect in detectors.items():
            lfw_counts, lfw_ms = _run(detect, lfw)
            group_counts, group_ms = _run(detect, groups)
            misses = sum(c == 0 for c in lfw_counts) / len(lfw)
            results[name] = (
                misses,
                statistics.mean(lfw_ms),
                sum(group_counts),
                statistics.mean(group_ms),
            )
            label = hog_name if name == "hog" else name
            print(
                f"{label:<20} {misses:>11.2%} {statistics.mean(lfw_ms):>11.1f} "
                f"{np.percentile(lfw_ms, 95):>7.1f} {sum(group_counts):>12d} "
                f"{statistics.mean(group_ms):>13.1f}"
            )
    hog_ms, cnn_ms = results["hog"][1], results["cnn (onnx)"][1]
    print(
        f"{other_name} / {hog_name} time on LFW: {results[other_name][1] / hog_ms:.2f}x; "
        f"cnn / {hog_name} time on LFW: {cnn_ms / hog_ms:.1f}x; "
        f"no-face rate hog {results['hog'][0]:.2%}, cnn {results['cnn (onnx)'][0]:.2%}, "
        f"hog+fallback {results['hog + cnn fallback'][0]:.2%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
