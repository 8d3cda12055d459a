"""Per-stage milliseconds of the face pipeline, for both engines, in one run.

Stages: decode (bytes -> upright RGB), detect (HOG at the server's scale policy, CNN
fallback when it finds nothing), landmarks (5 points), align (150x150 chips), embed
(the network), search (best face per person among 10,000 indexed faces). Images: a
deterministic LFW-dev sample (250x250, one face) and photos of 640x480, 1280x720 and
1920x1080 made from the shared group photos.

    python bench/pipeline.py [--lfw 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from facerec.config import Settings
from facerec.index.faiss_index import FaissIndex
from facerec.inference.decode import decode_image
from facerec.inference.dlib_engine import DlibEngine
from facerec.inference.face_chips import face_chips
from facerec.inference.onnx_engine import OnnxEngine
from facerec.inference.runtime import l2_normalise
from facerec.inference.types import FaceEngine

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZES = {"640x480": (640, 480), "1280x720": (1280, 720), "1920x1080": (1920, 1080)}
GROUP = "faces/face_recognition/examples/knn_examples/test/obama_and_biden.jpg"
STAGES = ("decode", "detect", "landmarks", "align", "embed", "search")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def image_sets(lfw_count: int) -> dict[str, list[bytes]]:
    paths = sorted((SHARED / "lfw-dev").glob("*/*.jpg"))
    step = max(1, len(paths) // lfw_count)
    sets = {"LFW 250x250": [p.read_bytes() for p in paths[::step][:lfw_count]]}
    group = Image.open(SHARED / GROUP).convert("RGB")
    for name, size in SIZES.items():
        sets[name] = [_jpeg(group.resize(size))] * 5
    return sets


def time_stages(
    engine: FaceEngine, images: list[bytes], index: FaissIndex
) -> dict[str, list[float]]:
    ms: dict[str, list[float]] = defaultdict(list)
    settings = Settings()

    def clock(stage: str, started: float) -> float:
        now = time.perf_counter()
        ms[stage].append((now - started) * 1000)
        return now

    network = getattr(engine, "network", None)
    for data in images:
        t = time.perf_counter()
        pixels = decode_image(data, max_bytes=1 << 30, max_pixels=1 << 30).pixels
        t = clock("decode", t)
        found = engine.detector.detect(pixels)
        fallback = engine.fallback_detector
        if (
            not found
            and fallback is not None
            and pixels.shape[0] * pixels.shape[1] <= settings.detector.fallback_max_pixels
        ):
            found = fallback.detect(pixels)
        t = clock("detect", t)
        points = engine.landmarker.landmarks(pixels, found)
        t = clock("landmarks", t)
        if network is not None:  # ONNX: alignment and network are separate steps
            chips = face_chips(pixels, points) if points else np.zeros((0, 150, 150, 3), np.uint8)
            t = clock("align", t)
            vectors = network.embed_chips(chips)
        else:  # dlib aligns inside compute_face_descriptor's caller
            t = clock("align", t)
            vectors = engine.embedder.embed(pixels, points)
        t = clock("embed", t)
        if len(vectors):
            index.search_people(l2_normalise(np.asarray(vectors, dtype=np.float32)), 5)
        clock("search", t)
    return ms


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    args = parser.parse_args()
    if not (SHARED / "lfw-dev").is_dir():
        print(f"skipped: {SHARED} is absent (see shared/data/README.md)")
        return 0
    sets = image_sets(args.lfw)
    rng = np.random.default_rng(0)
    gallery = l2_normalise(rng.normal(size=(10_000, 128)).astype(np.float32))
    index = FaissIndex(128)
    index.add(list(range(1, 10_001)), [i // 4 for i in range(10_000)], gallery)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), inference={"onnx_intra_threads": args.threads})
        engines: dict[str, FaceEngine] = {
            "onnx": OnnxEngine(settings),
            "dlib": DlibEngine(settings.detector),
        }
        for engine in engines.values():
            engine.load()
        print(
            f"{'engine':<6} {'images':<12} "
            + " ".join(f"{s:>9}" for s in STAGES)
            + f" {'total':>9}"
        )
        totals: dict[tuple[str, str], float] = {}
        for name, engine in engines.items():
            for label, images in sets.items():
                ms = time_stages(engine, images, index)
                means = [statistics.mean(ms[s]) for s in STAGES]
                totals[(name, label)] = sum(means)
                print(
                    f"{name:<6} {label:<12} "
                    + " ".join(f"{m:>9.1f}" for m in means)
                    + f" {sum(means):>9.1f}"
                )
            closer = getattr(engine, "close", None)
            if callable(closer):
                closer()
    for label in sets:
        ratio = totals[("dlib", label)] / totals[("onnx", label)]
        print(f"{label}: dlib / onnx time per image = {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
