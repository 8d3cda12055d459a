"""Image classification: accuracy on labelled photos shipped by packages, latency per
image at batch 1 and 8 and throughput, ONNX Runtime (ours) against the PyTorch reference
of the same network with the same weights, in one run.

    .venv/bin/python bench/classify.py [--models efficientnet-lite0 mobilenet-v2] [--seconds 5]

Photos and what they show (any label of the set counts as right): scikit-image's
``chelsea`` (a cat), ``coffee``, ``rocket``, ``motorcycle_left``, ``camera`` (a man with
a camera on a tripod), matplotlib's ``grace_hopper`` (in uniform).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import matplotlib
import numpy as np
import skimage.data
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facerec.inference.classifier import (
    CLASSIFIERS,
    OnnxClassifier,
    imagenet_labels,
    prepare,
    weights_path,
)

SKIMAGE = Path(skimage.data.__file__).parent
LABELLED = {
    SKIMAGE / "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
    SKIMAGE / "coffee.png": {"espresso", "cup", "coffee mug"},
    SKIMAGE / "rocket.jpg": {"missile", "projectile", "space shuttle"},
    SKIMAGE / "motorcycle_left.png": {"moped", "motor scooter", "crash helmet"},
    SKIMAGE / "camera.png": {"tripod", "reflex camera", "Polaroid camera"},
    Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg": {"military uniform"},
}


def timed(run: object, batch: np.ndarray, seconds: float) -> tuple[float, float]:
    """(ms per call, images per second), after a warm-up call."""
    assert callable(run)
    run(batch)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(batch)
        calls += 1
    elapsed = time.perf_counter() - start
    return 1000 * elapsed / calls, calls * len(batch) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["efficientnet-lite0", "mobilenet-v2"])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    from tests.classify_reference import reference_network, reference_probabilities

    labels = imagenet_labels()
    print(f"{'model':20} {'top-1':>6} {'top-5':>6} {'pub.':>6}  {'runtime':8} "
          f"{'b1 ms':>7} {'b8 ms/img':>9} {'b8 img/s':>8}")  # fmt: skip
    for name in args.models:
        spec = CLASSIFIERS[name]
        pixels = [np.asarray(Image.open(p).convert("RGB")) for p in LABELLED]
        batch = np.stack([prepare(p, spec) for p in pixels])
        with tempfile.TemporaryDirectory() as cache:
            ours = OnnxClassifier(spec, Path(cache))
            probs = ours.probabilities(batch)
            net = reference_network(spec, weights_path(spec))
            runs = {
                "onnx": ours.probabilities,
                "torch": partial(reference_probabilities, net, spec),
            }
            pairs = list(zip(probs, LABELLED.values(), strict=True))
            top1 = np.mean([labels[int(r.argmax())] in w for r, w in pairs])
            top5 = np.mean([any(labels[int(i)] in w for i in np.argsort(-r)[:5]) for r, w in pairs])
            eight = np.concatenate([batch, batch[:2]])
            for runtime, run in runs.items():
                one_ms, _ = timed(run, batch[:1], args.seconds)
                eight_ms, rate = timed(run, eight, args.seconds)
                print(f"{name:20} {top1:6.0%} {top5:6.0%} {spec.top1:5.1f}%  {runtime:8} "
                      f"{one_ms:7.1f} {eight_ms / 8:9.1f} {rate:8.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
