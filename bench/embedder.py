"""Descriptor throughput: dlib against ONNX Runtime, on the same aligned chips, same run.

Chips are cut by dlib (``DlibEngine.chips``) from Grace Hopper and, when
``../shared/data/lfw-dev`` is there, LFW images (else Hopper's chip is repeated), then:

- dlib: ``compute_face_descriptor`` over all chips (dlib batches 16 at a time). Its CPU
  convolutions are single-threaded and its Python binding keeps the GIL, so "2 threads"
  for dlib means 2 worker processes, each with half the chips, as FaceRec would scale it;
- ONNX: one ``OnnxEmbedder.embed_chips`` call with every chip in a single batch, with
  ``intra_op_threads`` 1 and 2.

    python bench/embedder.py [--faces 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.inference.dlib_engine import DlibEngine, model_path
from facerec.inference.onnx_embedder import OnnxEmbedder

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lfw-dev"
Chips = NDArray[np.uint8]


def _hopper() -> NDArray[np.uint8]:
    from matplotlib import cbook

    path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"))


def _images() -> Iterator[NDArray[np.uint8]]:
    """Hopper, then LFW images one at a time (when the folder is there)."""
    yield _hopper()
    for path in sorted(LFW.glob("*/*.jpg")) if LFW.is_dir() else []:
        yield np.asarray(Image.open(path).convert("RGB"))


def collect_chips(count: int) -> tuple[Chips, str]:
    """``count`` dlib-cut chips and a word on where they came from."""
    engine = DlibEngine()
    chips: list[NDArray[np.uint8]] = []
    for image in _images():
        landmarks = engine.landmarks(image, engine.detect(image))
        if landmarks:
            chips += engine.chips(image, landmarks)
        if len(chips) >= count:
            break
    source = "Hopper + LFW" if len(chips) >= count else "Hopper, repeated"
    while len(chips) < count:
        chips += chips[: count - len(chips)]
    return np.stack(chips[:count]), source


def _dlib_descriptors(net: object, chips: Chips) -> NDArray[np.float32]:
    found = net.compute_face_descriptor(list(chips))  # type: ignore[attr-defined]
    return np.asarray([list(d) for d in found], dtype=np.float32)


def _dlib_worker(chips: Chips, rounds: int, barrier: Barrier, results: mp.Queue[float]) -> None:
    """Load dlib, warm up, wait for the others, then time ``rounds`` passes."""
    import dlib

    net = dlib.face_recognition_model_v1(str(model_path("embedder")))
    _dlib_descriptors(net, chips[:2])
    barrier.wait()
    start = time.perf_counter()
    for _ in range(rounds):
        _dlib_descriptors(net, chips)
    results.put(time.perf_counter() - start)


def time_dlib(chips: Chips, rounds: int, processes: int) -> float:
    """Faces per second with ``processes`` dlib workers sharing the chips."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    parts = np.array_split(chips, processes)
    workers = [
        ctx.Process(target=_dlib_worker, args=(part, rounds, barrier, results)) for part in parts
    ]
    for worker in workers:
        worker.start()
    elapsed = max(float(results.get()) for _ in workers)
    for worker in workers:
        worker.join()
    return len(chips) * rounds / elapsed


def time_onnx(chips: Chips, rounds: int, threads: int, cache: Path) -> float:
    """Faces per second for ONNX Runtime with ``threads`` intra-op threads, one batch."""
    embedder = OnnxEmbedder(cache, intra_op_threads=threads, inter_op_threads=1)
    embedder.max_batch = len(chips)
    embedder.embed_chips(chips[:2])
    start = time.perf_counter()
    for _ in range(rounds):
        embedder.embed_chips(chips)
    return len(chips) * rounds / (time.perf_counter() - start)


def min_cosine(chips: Chips, cache: Path) -> float:
    """The worst agreement between the two engines on these chips."""
    import dlib

    theirs = _dlib_descriptors(dlib.face_recognition_model_v1(str(model_path("embedder"))), chips)
    ours = OnnxEmbedder(cache).embed_chips(chips)
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    return float(cos.min())


def measure(chips: Chips, rounds: int, cache: Path) -> dict[tuple[str, int], float]:
    """Faces per second for each (engine, threads)."""
    rows = {}
    for threads in (1, 2):
        rows["dlib", threads] = time_dlib(chips, rounds, threads)
        rows["onnx", threads] = time_onnx(chips, rounds, threads, cache)
    return rows


def print_table(rows: dict[tuple[str, int], float]) -> None:
    print(f"{'engine':<8}{'threads':>8}  {'batching':<30}{'faces/s':>9}")
    for (engine, threads), rate in sorted(rows.items()):
        batching = "16/call, 1 process per thread" if engine == "dlib" else "all chips, one run()"
        print(f"{engine:<8}{threads:>8}  {batching:<30}{rate:>9.1f}")
    print(
        f"\nONNX / dlib: {rows['onnx', 1] / rows['dlib', 1]:.2f}x at 1 thread, "
        f"{rows['onnx', 2] / rows['dlib', 2]:.2f}x at 2 threads"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    chips, source = collect_chips(args.faces)
    with tempfile.TemporaryDirectory(prefix="facerec-bench-") as tmp:
        cache = Path(tmp)
        OnnxEmbedder(cache).load()  # convert once, outside the timings
        print(
            f"{len(chips)} chips ({source}), {args.rounds} rounds, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        print(f"min cosine dlib vs ONNX on these chips: {min_cosine(chips, cache):.7f}\n")
        print_table(measure(chips, args.rounds, cache))


if __name__ == "__main__":
    main()
