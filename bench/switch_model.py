"""Switching the recogniser under load: no request may fail (issue #14 item 3).

1. A ``facerec serve --workers 2`` (dlib's ResNet on the fast engine, HOG) starts on a free
   127.0.0.1 port with a temporary data dir, the MobileFaceNet fixture imported into its
   registry (``--model-file``, default ``../shared/models/mobilefacenet/mobilefacenet.onnx``).
2. ``--faces`` faces are enrolled through the API, one person each: the first usable
   image of each LFW-dev identity, then mirrored copies of them, then copies re-encoded
   at lower JPEG quality, until there are enough (``--faces 10000`` is the issue's target).
3. ``--clients`` threads send ``POST /recognize`` (LFW-dev probes, round-robin) for
   ``--before`` seconds, then ``POST /models/mobilefacenet/use`` starts the switch, and the
   load goes on while the gallery is re-embedded and every worker switches, and for
   ``--after`` seconds after ``GET /models/switch`` says done.

Printed: failures (any answer but 200, or a broken connection; target 0), p50/p99 latency
before / during / after, the re-embedding time, and which model answered after.

    python bench/switch_model.py [--faces 200] [--clients 4] [--before 10] [--after 10]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import (
    API,
    LFW,
    MULTIPART_TYPE,
    Client,
    lfw_people,
    multipart,
    sample,
    started_server,
)

MODEL_FILE = Path(__file__).resolve().parents[2] / "shared" / "models" / "mobilefacenet"
TARGET = "mobilefacenet"


@dataclass(frozen=True, slots=True)
class Answer:
    start: float
    seconds: float
    status: int
    model: str


def gallery(people: dict[str, list[Path]], count: int) -> list[bytes]:
    """``count`` distinct photos: originals, then mirrored, then re-encoded copies."""
    originals = [paths[0].read_bytes() for paths in people.values()][:count]
    photos, variant = list(originals), 0
    while len(photos) < count:
        variant += 1
        for data in originals:
            if len(photos) >= count:
                break
            image = Image.open(io.BytesIO(data)).convert("RGB")
            if variant % 2:
                image = ImageOps.mirror(image)
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=max(50, 95 - 5 * (variant // 2)))
            photos.append(out.getvalue())
    return photos


def enrol(port: int, photos: list[bytes], threads: int) -> int:
    def one(item: tuple[int, bytes]) -> bool:
        number, data = item
        client = Client("127.0.0.1", port)
        try:
            status, person = client.json("POST", f"{API}/people", {"name": f"person {number}"})
            if status != 201:
                return False
            body = multipart(data, f"{number}.jpg")
            path = f"{API}/people/{person['id']}/faces?force=true"
            return client.request("POST", path, body, MULTIPART_TYPE)[0] == 201
        finally:
            client.close()

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one, enumerate(photos)))


def load(port: int, probes: list[bytes], stop: threading.Event, out: list[Answer]) -> None:
    client, turn = Client("127.0.0.1", port), 0
    while not stop.is_set():
        body = multipart(probes[turn % len(probes)], "probe.jpg")
        turn += 1
        start = time.monotonic()
        try:
            status, data = client.request("POST", f"{API}/recognize", body, MULTIPART_TYPE)
            model = json.loads(data).get("model", "") if status == 200 else ""
        except OSError:
            status, model = 0, ""
        out.append(Answer(start, time.monotonic() - start, status, model))
    client.close()


def import_model(model_file: Path, cache: Path) -> Path:
    facerec = Path(sys.executable).with_name("facerec")
    options = ["--kind", "arcface", "--size", "112", "--mean", "127.5", "--std", "128"]
    subprocess.run(
        [str(facerec), "models", "import", str(model_file), "--name", TARGET, *options],
        env={**os.environ, "FACEREC_DATA_DIR": str(cache)},
        check=True,
        capture_output=True,
    )
    return cache / "models" / "registry"


def phase(answers: list[Answer], start: float, end: float) -> str:
    chosen = [a for a in answers if start <= a.start < end]
    if not chosen:
        return "no requests"
    ms = np.asarray([a.seconds * 1000 for a in chosen])
    failed = sum(a.status != 200 for a in chosen)
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    return f"{len(chosen):6d} requests, {failed} failed, p50 {p50:7.1f} ms, p99 {p99:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--after", type=float, default=10.0)
    parser.add_argument("--model-file", type=Path, default=MODEL_FILE / "mobilefacenet.onnx")
    args = parser.parse_args()
    people = lfw_people(LFW)
    probes = [p.read_bytes() for p in sample(sorted(p for ps in people.values() for p in ps), 50)]
    with tempfile.TemporaryDirectory(prefix="facerec-bench-switch-") as cache:
        registry = import_model(args.model_file, Path(cache))
        parts = {"registry": str(registry)}
        with started_server("onnx", workers=2, parts=parts) as (root, _pid):
            port = int(root.rsplit(":", 1)[1])
            began = time.monotonic()
            enrolled = enrol(port, gallery(people, args.faces), threads=4)
            print(f"enrolled {enrolled} faces in {time.monotonic() - began:.1f} s")
            answers: list[Answer] = []
            stop = threading.Event()
            threads = [
                threading.Thread(target=load, args=(port, probes, stop, answers))
                for _ in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            time.sleep(args.before)
            admin = Client("127.0.0.1", port)
            switch_start = time.monotonic()
            status, body = admin.json("POST", f"{API}/models/{TARGET}/use")
            if status != 202:
                raise RuntimeError(f"POST /models/{TARGET}/use answered {status}: {body}")
            while True:
                status, shown = admin.json("GET", f"{API}/models/switch")
                if shown["switch"]["status"] != "running":
                    break
                time.sleep(0.2)
            switch_end = time.monotonic()
            time.sleep(args.after)
            stop.set()
            for thread in threads:
                thread.join()
            admin.close()
    switch = shown["switch"]
    print(
        f"switch: {switch['status']}, {switch['done']}/{switch['total']} faces re-embedded "
        f"in {switch_end - switch_start:.1f} s, {switch['failed']} unreadable"
    )
    first = min(a.start for a in answers)
    print(f"before  {phase(answers, first, switch_start)}")
    print(f"during  {phase(answers, switch_start, switch_end)}")
    print(f"after   {phase(answers, switch_end, float('inf'))}")
    late = {a.model for a in answers if a.start >= switch_end + 1.0 and a.status == 200}
    print(f"failures in all: {sum(a.status != 200 for a in answers)}; answered after: {late}")


if __name__ == "__main__":
    main()
