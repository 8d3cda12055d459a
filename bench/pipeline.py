"""Per-stage milliseconds of the face pipeline, for both engines, in one run.

Stages: decode (bytes -> upright RGB), detect (HOG at the server's scale policy, CNN
fallback when it finds nothing), landmarks (5 points), align (150x150 chips), embed
(the network), search (best face per person among 10,000 indexed faces). Images: a
deterministic LFW-dev sample (250x250, one face) and photos of 640x480, 1280x720 and
1920x1080 made from the shared group photos.

    python bench/pipeline.py [--lfw 100] [--threads 1]
    python bench/pipeline.py --all [--lfw 100] [--cnn-lfw 50]

``--all``: the fast engine for every available detector x recogniser (``bench/combos.py``;
the fixtures of ``../shared/models`` installed into ``--data-dir`` first), on the LFW-dev
sample only; align is each recogniser's own (dlib's chip or the ArcFace template), embed
is the chip and its mirror image in one call, as the server runs (``inference.tta =
mirror``). The CNN detector gets the first ``--cnn-lfw`` images of the sample. Writes
data/bench/pipeline_all.json and prints the one table with ``bench/eval_lfw.py --all``.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from facerec.config import Settings
from facerec.index.faiss_index import FaissIndex
from facerec.inference.augment import mirrored
from facerec.inference.decode import decode_image
from facerec.inference.dlib_align import dlib_chips
from facerec.inference.dlib_engine import DlibEngine
from facerec.inference.onnx_engine import OnnxEngine
from facerec.inference.runtime import l2_normalise
from facerec.inference.types import Detection, FaceEngine, RGBImage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.combos import TIMING_ALL, combinations, print_table

OUT = Path("data/bench")

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


class Stopwatch:
    """ms per stage: ``lap(stage)`` adds the time since ``start`` or the last lap."""

    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.last = time.perf_counter()

    def start(self) -> None:
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage].append((now - self.last) * 1000)
        self.last = now


def decode_and_detect(
    engine: FaceEngine, data: bytes, watch: Stopwatch
) -> tuple[RGBImage, list[Detection]]:
    """Decode, then detect as the server does (the fallback detector when the first finds
    nothing in an image small enough for it); both timed."""
    watch.start()
    pixels = decode_image(data, max_bytes=1 << 30, max_pixels=1 << 30).pixels
    watch.lap("decode")
    found = engine.detector.detect(pixels)
    fallback = engine.fallback_detector
    limit = Settings().detector.fallback_max_pixels
    if not found and fallback is not None and pixels.shape[0] * pixels.shape[1] <= limit:
        found = fallback.detect(pixels)
    watch.lap("detect")
    return pixels, found


def time_stages(
    engine: FaceEngine, images: list[bytes], index: FaissIndex
) -> dict[str, list[float]]:
    watch = Stopwatch()
    network = getattr(engine, "network", None)
    for data in images:
        pixels, found = decode_and_detect(engine, data, watch)
        points = engine.landmarker.landmarks(pixels, found)
        watch.lap("landmarks")
        if network is not None:  # ONNX: alignment and network are separate steps
            chips = dlib_chips(pixels, points)
            watch.lap("align")
            vectors = network.embed_chips(chips)
        else:  # dlib aligns inside compute_face_descriptor's caller
            watch.lap("align")
            vectors = engine.embedder.embed(pixels, points)
        watch.lap("embed")
        if len(vectors):
            index.search_people(l2_normalise(np.asarray(vectors, dtype=np.float32)), 5)
        watch.lap("search")
    return watch.ms


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    parser.add_argument("--all", action="store_true", help="every detector x recogniser")
    parser.add_argument("--cnn-lfw", type=int, default=50, help="with --all: images for cnn")
    parser.add_argument("--data-dir", type=Path, default=OUT / "models-cache")
    args = parser.parse_args()
    if not (SHARED / "lfw-dev").is_dir():
        print(f"skipped: {SHARED} is absent (see shared/data/README.md)")
        return 0
    sets = image_sets(args.lfw)
    if args.all:
        return time_all(args, sets["LFW 250x250"])
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


def time_parts(engine: OnnxEngine, images: list[bytes]) -> dict[str, list[float]]:
    """ms per stage of one engine from parts, as the server runs it (its own alignment,
    chip and mirror image in one network call); the fallback counts as detection."""
    watch = Stopwatch()
    for data in images:
        pixels, found = decode_and_detect(engine, data, watch)
        points = engine.landmarker.landmarks(pixels, found)
        watch.lap("landmarks")
        chips = engine.network.align(pixels, points) if points else None
        watch.lap("align")
        if chips is not None:
            engine.network.embed_chips(np.concatenate([chips, mirrored(chips)]))
        watch.lap("embed")
    return watch.ms


def time_all(args: argparse.Namespace, lfw: list[bytes]) -> int:
    """Mean ms per stage of every available detector x recogniser (bench/combos.py)."""
    rows: dict[str, dict[str, object]] = {}
    for combo in combinations(args.data_dir):
        if combo.skipped:
            rows[combo.label] = {"skipped": combo.skipped}
            continue
        settings = Settings(
            data_dir=args.data_dir,
            inference={"onnx_intra_threads": args.threads},
            detector={"model": combo.detector},
            recogniser={"model": combo.recogniser},
        )
        engine = OnnxEngine(settings)
        engine.load()
        images = lfw[: args.cnn_lfw] if combo.detector == "cnn" else lfw
        time_parts(engine, images[:3])  # warm-up: first calls allocate
        ms = time_parts(engine, images)
        engine.close()
        means: dict[str, object] = {s: statistics.mean(ms[s]) for s in ms}
        rows[combo.label] = means | {"images": len(images)}
        print(f"{combo.label}: {sum(statistics.mean(v) for v in ms.values()):.1f} ms/image")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / TIMING_ALL).write_text(json.dumps(rows, indent=2))
    print_table(OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
