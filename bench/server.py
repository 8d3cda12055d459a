"""End-to-end ``POST /api/v1/recognize`` throughput and latency, against face_recognition.

By default a ``facerec serve --workers <cores>`` is started on a free 127.0.0.1 port with a
temporary data directory (``--engine`` sets its ``FACEREC_ENGINE``); ``--url`` measures an
already running server instead. Then:

1. 50 LFW-dev identities are enrolled through the API (``POST /people``, then their first
   usable image to ``POST /people/{id}/faces?force=true``), so every search runs against
   a real gallery; a few warm-up requests follow. With ``--url`` those people are deleted
   again at the end.
2. For each ``--concurrency`` level, that many client threads (one keep-alive HTTP
   connection each) send the sampled images as multipart ``file`` uploads, round-robin,
   until ``--requests`` requests (default 10 rounds over the images) or ``--duration``
   seconds have passed, whichever comes first. Every request's latency is recorded; any
   answer other than 200 (or a broken connection) is an error.
3. Baseline, in this process: the face_recognition library's pipeline as a plain loop over
   the same images: dlib's HOG detector with upsample 1, the 5-point predictor,
   ``compute_face_descriptor`` (num_jitters 1) and a brute-force numpy nearest-neighbour
   search (Euclidean, tolerance 0.6) against the 50 gallery descriptors computed the same
   way. Single process, sequential, images decoded from memory as the server does.

The images are a deterministic sample of LFW-dev (``../shared/data/lfw-dev``): every k-th
path in sorted order. Client, server and baseline share this machine's cores, so the
numbers are for comparison within one run; everything stays on loopback.

    python bench/server.py [--engine onnx|dlib] [--images 200] [--concurrency 1,4,16]
                           [--requests N] [--duration 50] [--url http://127.0.0.1:8000]
                           [--detector yunet-2023mar] [--recogniser mobilefacenet]

``--detector`` / ``--recogniser`` set the started server's ``FACEREC_DETECTOR__MODEL`` /
``FACEREC_RECOGNISER__MODEL``; registry models are copied into its data dir from
``--registry`` (default ``data/bench/models-cache/models/registry``, where
``FACEREC_DATA_DIR=data/bench/models-cache facerec models import FILE`` puts them).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.inference.dlib_engine import model_path

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lfw-dev"
API = "/api/v1"
GALLERY = 50
WARMUP = 5
ROUNDS = 10
"""Rounds over the images per concurrency level by default: at 80 img/s, 3 rounds (600
requests) lasted 7 s, and two such runs differed by 15%."""
BOUNDARY = "facerec-bench-7d9f0c2a"
TIMEOUT_S = 120.0


# --------------------------------------------------------------------------- images


def lfw_people(root: Path) -> dict[str, list[Path]]:
    """Every identity with its images, both in sorted order."""
    people: dict[str, list[Path]] = {}
    for path in sorted(root.glob("*/*.jpg")):
        people.setdefault(path.parent.name, []).append(path)
    return people


def sample(paths: Sequence[Path], count: int) -> list[Path]:
    """Every k-th path (sorted order), ``count`` of them."""
    step = max(1, len(paths) // max(1, count))
    return list(paths[::step][:count])


def gallery_names(people: dict[str, list[Path]], probes: Sequence[Path], count: int) -> list[str]:
    """Identities to enrol: those of the probes with at least 2 images first (so that some
    probes are other photos of an enrolled person), then others in name order."""
    names: list[str] = []
    for path in probes:
        name = path.parent.name
        if len(people[name]) >= 2 and name not in names:
            names.append(name)
    names = names[:count]
    for name in people:
        if len(names) >= count:
            break
        if name not in names:
            names.append(name)
    return names


def multipart(data: bytes, filename: str, name: str = "file") -> bytes:
    """A ``multipart/form-data`` body with one file part."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


# --------------------------------------------------------------------------- HTTP


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects after a failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._conn: http.client.HTTPConnection | None = None
        self._used = False

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        """``(status, body)``. A reused connection the server closed while idle is
        retried once on a fresh one (as HTTP clients do); other failures raise."""
        headers = {"Content-Type": content_type} if content_type else {}
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
                self._conn.connect()
                # http.client writes headers and body separately: without TCP_NODELAY,
                # Nagle's algorithm and delayed ACKs add ~40 ms to every keep-alive request.
                assert self._conn.sock is not None
                self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._used = False
            try:
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                stale = self._used and attempt == 0
                self.close()
                if stale:
                    continue
                raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            self._used = True
            if response.will_close:
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body, "application/json" if body else None)
        return status, json.loads(data) if data else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def started_server(
    engine: str, workers: int = 1, parts: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """``facerec serve`` on a temporary data dir; yields ``(root URL, process id)`` once
    /readyz answers 200 (as tests/servers.py does, with the process id exposed).
    ``parts``: extra settings (``FACEREC_DETECTOR__MODEL``...) and ``registry``, a
    folder of installed models to copy in."""
    parts = dict(parts or {})
    with tempfile.TemporaryDirectory(prefix="facerec-bench-server-") as tmp:
        data_dir = Path(tmp) / "data"
        registry = parts.pop("registry", None)
        if registry and Path(registry).is_dir():
            shutil.copytree(registry, data_dir / "models" / "registry")
        log = Path(tmp) / "server.log"
        port = free_port()
        share = str(
            max(1, (os.cpu_count() or 1) // workers)
        )  # threads per worker: no oversubscription
        env = {
            "FACEREC_AUTH__ENABLED": "false",  # loopback only; unless the caller's env says
            **os.environ,
            "FACEREC_DATA_DIR": str(data_dir),
            "FACEREC_ENGINE": engine,
            "FACEREC_INFERENCE__THREADS": share,
            "FACEREC_INFERENCE__ONNX_INTRA_THREADS": share,
            **parts,
        }
        facerec = Path(sys.executable).with_name("facerec")
        command = [str(facerec), "serve", "--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*command, "--workers", str(workers)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        root = f"http://127.0.0.1:{port}"
        try:
            client, deadline = Client("127.0.0.1", port), time.monotonic() + 300
            while True:
                if process.poll() is not None:
                    raise RuntimeError("server exited:\n" + log.read_text())
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start:\n" + log.read_text())
                try:
                    if client.request("GET", f"{API}/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.3)
            client.close()
            yield root, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --------------------------------------------------------------------------- memory


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def rss_each(pids: Sequence[int]) -> dict[int, float]:
    """VmRSS in MB of each of these processes and their descendants."""
    tree, seen, todo, each = _children(), set[int](), list(pids), {}
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += tree.get(pid, [])
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                each[pid] = int(line.split()[1]) / 1024
    return each


def rss_mb(pids: Sequence[int]) -> float | None:
    """VmRSS of these processes and all their descendants, in MB (None: not readable)."""
    each = rss_each(pids)
    return sum(each.values()) if each else None


# --------------------------------------------------------------------------- the server


@dataclass
class Level:
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    wall: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return self.requests - self.statuses[200]

    @property
    def throughput(self) -> float:
        return self.statuses[200] / self.wall if self.wall else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1000) if self.latencies else float("nan")


def enrol_gallery(
    client: Client, people: dict[str, list[Path]], names: Sequence[str], ids: list[int]
) -> list[Path]:
    """Create each person (their id goes into ``ids`` at once, for clean-up) and enrol
    their first image that has a usable face. Returns the enrolled image paths."""
    enrolled: list[Path] = []
    for name in names:
        status, person = client.json("POST", f"{API}/people", {"name": name})
        if status != 201:
            raise RuntimeError(f"POST /people answered {status}: {person}")
        ids.append(int(person["id"]))
        for path in people[name]:
            status, _ = client.request(
                "POST",
                f"{API}/people/{person['id']}/faces?force=true",
                multipart(path.read_bytes(), path.name),
                MULTIPART_TYPE,
            )
            if status == 201:
                enrolled.append(path)
                break
    return enrolled


def run_level(
    host: str,
    port: int,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    max_requests: int,
    duration: float,
) -> Level:
    """``concurrency`` clients share ``max_requests`` requests (round-robin over the
    images); none starts after ``duration`` seconds."""
    level = Level(concurrency)
    lock = threading.Lock()
    issued = 0
    start = time.perf_counter()
    deadline = start + duration

    def take() -> int | None:
        nonlocal issued
        with lock:
            if issued >= max_requests or time.perf_counter() >= deadline:
                return None
            issued += 1
            return issued - 1

    def loop() -> None:
        client = Client(host, port)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        while (number := take()) is not None:
            began = time.perf_counter()
            try:
                status, _ = client.request(
                    "POST", f"{API}/recognize", bodies[number % len(bodies)], MULTIPART_TYPE
                )
            except (OSError, http.client.HTTPException):
                status = 0  # no answer at all
            latencies.append(time.perf_counter() - began)
            statuses[status] += 1
        client.close()
        with lock:
            level.latencies += latencies
            level.statuses.update(statuses)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(loop) for _ in range(concurrency)]:
            future.result()
    level.wall = time.perf_counter() - start
    return level


def print_levels(levels: Sequence[Level]) -> None:
    print(
        f"{'concurrency':>11} {'requests':>9} {'errors':>7} {'img/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    for lv in levels:
        print(
            f"{lv.concurrency:>11} {lv.requests:>9} {lv.errors:>7} {lv.throughput:>8.2f} "
            f"{lv.percentile(50):>8.1f} {lv.percentile(95):>8.1f} {lv.percentile(99):>8.1f}"
        )
    for lv in levels:
        if lv.errors:
            codes = ", ".join(
                f"{'no answer' if s == 0 else s}: {n}"
                for s, n in sorted(lv.statuses.items())
                if s != 200
            )
            print(f"  errors at concurrency {lv.concurrency}: {codes}")


# --------------------------------------------------------------------------- baseline


@dataclass
class Baseline:
    rate: float
    latencies: list[float]
    faces: int
    matched: int

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1000)


class FaceRecognitionLoop:
    """What ``face_recognition.face_locations`` + ``face_encodings`` + ``face_distance`` do:
    HOG with upsample 1, 5-point landmarks, one descriptor per face, no jitter."""

    def __init__(self) -> None:
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(model_path("landmarks")))
        self.net = dlib.face_recognition_model_v1(str(model_path("embedder")))

    def encodings(self, data: bytes) -> list[NDArray[np.float64]]:
        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        boxes = self.detector(image, 1)
        return [
            np.asarray(self.net.compute_face_descriptor(image, self.predictor(image, box), 1))
            for box in boxes
        ]


def run_baseline(bodies: Sequence[bytes], gallery: Sequence[bytes]) -> Baseline:
    loop = FaceRecognitionLoop()
    known = np.asarray([e[0] for e in map(loop.encodings, gallery) if e])
    for data in bodies[:3]:  # warm-up
        loop.encodings(data)
    latencies: list[float] = []
    faces = matched = 0
    start = time.perf_counter()
    for data in bodies:
        began = time.perf_counter()
        for encoding in loop.encodings(data):
            distances = np.linalg.norm(known - encoding, axis=1)
            best = int(np.argmin(distances))
            faces += 1
            matched += bool(distances[best] <= 0.6)
        latencies.append(time.perf_counter() - began)
    return Baseline(len(bodies) / (time.perf_counter() - start), latencies, faces, matched)


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="root URL of a running server (default: start one)")
    parser.add_argument("--engine", choices=("onnx", "dlib"), default="onnx")
    parser.add_argument("--detector", default="hog", help="hog | cnn | an installed detector")
    parser.add_argument("--recogniser", default="dlib-resnet", help="or an installed one")
    parser.add_argument(
        "--registry", default="data/bench/models-cache/models/registry", help="models to copy in"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="server worker processes when starting one (default: one per core)",
    )
    parser.add_argument("--images", type=int, default=200, help="LFW-dev images to send")
    parser.add_argument(
        "--concurrency",
        default="1,4,16",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        help="comma-separated client counts",
    )
    parser.add_argument("--requests", type=int, help="requests per level (default 10 x images)")
    parser.add_argument("--duration", type=float, default=50.0, help="seconds per level, at most")
    parser.add_argument("--no-baseline", action="store_true", help="skip the face_recognition loop")
    args = parser.parse_args()
    if args.images < 1 or not args.concurrency or min(args.concurrency) < 1:
        parser.error("--images and every --concurrency must be at least 1")
    return args


def measure_server(
    root: str, args: argparse.Namespace, people: dict[str, list[Path]], probes: Sequence[Path]
) -> tuple[list[Level], list[Path], list[int]]:
    """Enrol, warm up, run every level; the enrolled paths and the worker pids seen."""
    split = urllib.parse.urlsplit(root)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    client = Client(host, port)
    status, ready = client.json("GET", f"{API}/readyz")
    if status != 200:
        raise RuntimeError(f"{root} is not ready: {status} {ready}")
    ids: list[int] = []
    try:
        enrolled = enrol_gallery(client, people, gallery_names(people, probes, GALLERY), ids)
        _, info = client.json("GET", f"{API}/status")
        print(
            f"server {root}: engine {info['engine']}, detector {info['detector']}, "
            f"{info['people']} people, {info['indexed_faces']} indexed faces "
            f"({len(enrolled)} enrolled by this run)"
        )
        bodies = [multipart(p.read_bytes(), p.name) for p in probes]
        for body in bodies[:WARMUP]:
            client.request("POST", f"{API}/recognize", body, MULTIPART_TYPE)
        total = args.requests or ROUNDS * len(bodies)
        print(
            f"{len(bodies)} images, per level at most {total} requests or {args.duration:.0f} s\n"
        )
        levels = [
            run_level(host, port, bodies, concurrency=c, max_requests=total, duration=args.duration)
            for c in args.concurrency
        ]
    finally:
        if args.url:  # leave a server we did not start as we found it
            for person_id in ids:
                client.request("DELETE", f"{API}/people/{person_id}")
    client.close()
    return levels, enrolled, [int(ready["worker"])]


def ratio_lines(levels: Sequence[Level], baseline: Baseline | None, rss: float | None) -> None:
    by = {lv.concurrency: lv for lv in levels}
    if 4 in by and baseline is not None:
        value = f"{by[4].throughput / baseline.rate:.1f}x"
    else:
        value = "n/a (needs concurrency 4 and the baseline)"
    print(f"throughput ratio (server at concurrency 4 / face_recognition loop): {value}")
    if 4 in by and 1 in by:
        value = f"{by[4].percentile(95) / by[1].percentile(50):.1f}x"
    else:
        value = "n/a (needs concurrency 1 and 4)"
    print(f"p95 at concurrency 4 / p50 at concurrency 1: {value}")
    print(f"errors at concurrency 16: {by[16].errors if 16 in by else 'n/a (not measured)'}")
    print(f"server RSS after the run: {'n/a' if rss is None else f'{rss:.0f} MB'}")


def main() -> int:
    args = parse_args()
    root = LFW.resolve()
    if not root.is_dir():
        print(f"skipped: {root} is absent (see shared/data/README.md)")
        return 0
    people = lfw_people(root)
    every = [p for paths in people.values() for p in paths]
    probes = sample(every, args.images)
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {len(probes)} of "
        f"{len(every)} LFW-dev images (one in {max(1, len(every) // args.images)}), "
        f"gallery of {GALLERY} identities"
    )
    rss: float | None
    if args.url:
        levels, enrolled, workers = measure_server(args.url.rstrip("/"), args, people, probes)
        # the answering worker, when it runs on this machine
        rss = rss_mb(workers) if Path(f"/proc/{workers[0]}").is_dir() else None
    else:
        parts = {
            "FACEREC_DETECTOR__MODEL": args.detector,
            "FACEREC_RECOGNISER__MODEL": args.recogniser,
            "registry": args.registry,
        }
        with started_server(args.engine, args.workers, parts) as (url, pid):
            levels, enrolled, _ = measure_server(url, args, people, probes)
            rss = rss_mb([pid])
            each = rss_each([pid])
            print(
                "server RSS per process (MB): "
                + ", ".join(f"{mb:.0f}" for mb in sorted(each.values(), reverse=True))
            )
    print_levels(levels)
    baseline = None
    if not args.no_baseline:
        baseline = run_baseline(
            [p.read_bytes() for p in probes], [p.read_bytes() for p in enrolled]
        )
        print(
            f"\nface_recognition loop (dlib HOG upsample 1, 5 points, descriptor, numpy NN, "
            f"1 process): {baseline.rate:.2f} img/s, p50 {baseline.percentile(50):.1f} ms, "
            f"p95 {baseline.percentile(95):.1f} ms; {baseline.faces} faces, "
            f"{baseline.matched} within 0.6 of a gallery face"
        )
    print()
    ratio_lines(levels, baseline, rss)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
