"""Overload and memory: what one server worker answers, and holds, under bursts (#11).

A real ``facerec serve`` (1 worker, real models, temporary data directory, 127.0.0.1)
gets a small gallery (Grace Hopper from matplotlib, the astronaut from scikit-image), then:

1. **burst**: ``--burst`` (150) requests at once, half ``/recognize``, half ``/verify``
   (two photos), each on its own connection, released together by a barrier, while
   ``/healthz`` is sampled every 50 ms. Prints statuses by code, whether every 503 had
   Retry-After, and the health latency p50/p100.
2. **memory**: server RSS (``/proc/PID/status`` VmRSS, and VmHWM) before, at the peak
   (sampled every 100 ms) and 30 s after each of: one enrolment of ``--files`` (40)
   photos of ~19 MB in one multipart request; ``--large`` (64) concurrent
   ``/detect`` of a 7000x7000 PNG made here.

    python bench/overload.py [--burst 150] [--files 40] [--large 64] [--after 30]
                             [--env FACEREC_INFERENCE__MAX_PENDING=16 ...]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

API = "/api/v1"
BOUNDARY = "facerec-overload-5be1"


# --------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """(port, pid) of a fresh one-worker server, stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="facerec-overload-") as tmp:
        port = free_port()
        facerec = Path(sys.executable).with_name("facerec")
        full = {
            "FACEREC_AUTH__ENABLED": "false",  # loopback only; unless the caller's env says
            **os.environ,
            "FACEREC_DATA_DIR": str(Path(tmp) / "data"),
            **env,
        }
        log = (Path(tmp) / "server.log").open("wb")
        command = [str(facerec), "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(command, env=full, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while request(port, "GET", "/readyz")[0] != 200:
                assert process.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.5)
            yield port, process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)
            log.close()


def request(
    port: int, method: str, path: str, body: bytes | None = None, ctype: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body); status 0 when the connection failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    except (OSError, http.client.HTTPException):
        return 0, {}, b""
    finally:
        conn.close()


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.img"'
        f"\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode(), (
        f"multipart/form-data; boundary={BOUNDARY}"
    )


# --------------------------------------------------------------------------- images
def hopper() -> bytes:
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()


def astronaut() -> bytes:
    from skimage import data

    out = io.BytesIO()
    face = data.astronaut()[:300, 80:380]  # type: ignore[no-untyped-call]
    Image.fromarray(face).save(out, format="JPEG", quality=92)
    return out.getvalue()


def rescaled(jpeg: bytes, factor: float) -> bytes:
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    image = image.resize((int(image.width * factor), int(image.height * factor)))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def large_png(side: int = 7000) -> bytes:
    """A ``side`` x ``side`` PNG (Hopper on a smooth gradient: small file, many pixels)."""
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    pixels = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1).astype(np.uint8)
    face = np.asarray(Image.open(io.BytesIO(hopper())).convert("RGB"))
    pixels[100 : 100 + face.shape[0], 100 : 100 + face.shape[1]] = face
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=6)
    return out.getvalue()


def noise_jpeg(megabytes: float, seed: int) -> bytes:
    """A JPEG of about ``megabytes`` (noise does not compress), within the file limit."""
    side = int((megabytes * 1e6 / 2.0) ** 0.5)  # ~2 bytes a pixel at quality 100
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(
        out, format="JPEG", quality=100
    )
    return out.getvalue()


# --------------------------------------------------------------------------- memory
def vm(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@contextmanager
def sampled(pid: int, every: float) -> Iterator[list[float]]:
    samples: list[float] = []
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            samples.append(vm(pid)[0])
            done.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def memory_run(name: str, pid: int, after: float, work: Callable[[], Counter[int]]) -> None:
    before = vm(pid)[0]
    with sampled(pid, 0.1) as samples:
        started = time.monotonic()
        statuses = work()
        took = time.monotonic() - started
    peak, hwm = max(samples, default=before), vm(pid)[1]
    time.sleep(after)
    later = vm(pid)[0]
    codes = ", ".join(f"{code or 'failed'} x {n}" for code, n in sorted(statuses.items()))
    print(
        f"{name}: {codes} in {took:.1f} s; RSS before {before:.0f} MB, peak {peak:.0f} MB "
        f"(VmHWM {hwm:.0f} MB), {after:.0f} s after {later:.0f} MB"
    )


# --------------------------------------------------------------------------- runs
def enrol_gallery(port: int) -> dict[str, int]:
    people = {}
    for name, photo in (("Grace Hopper", hopper()), ("Astronaut", astronaut())):
        status, _, body = request(
            port, "POST", f"{API}/people", json.dumps({"name": name}).encode(), "application/json"
        )
        assert status == 201, body
        people[name] = json.loads(body)["id"]
        data, ctype = multipart([("file", photo)])
        status, _, body = request(
            port, "POST", f"{API}/people/{people[name]}/faces?force=true", data, ctype
        )
        assert status == 201, body
    return people


def burst(port: int, count: int) -> None:
    photo, other = hopper(), rescaled(hopper(), 0.8)
    bodies = [
        ("/recognize", *multipart([("file", photo)]))
        if i % 2 == 0
        else ("/verify", *multipart([("file1", photo), ("file2", other)]))
        for i in range(count)
    ]
    barrier = threading.Barrier(count)
    health: list[float] = []
    stop = threading.Event()

    def sample_health() -> None:
        while not stop.is_set():
            started = time.monotonic()
            status = request(port, "GET", "/healthz")[0]
            health.append(time.monotonic() - started if status == 200 else float("inf"))
            stop.wait(0.05)

    def send(item: tuple[str, bytes, str]) -> tuple[int, bool]:
        path, data, ctype = item
        barrier.wait()
        status, headers, _ = request(port, "POST", API + path, data, ctype)
        return status, "Retry-After" in headers or "retry-after" in headers

    sampler = threading.Thread(target=sample_health, daemon=True)
    sampler.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(send, bodies))
    took = time.monotonic() - started
    stop.set()
    sampler.join()
    codes = Counter(status for status, _ in answers)
    retry = all(has for status, has in answers if status == 503)
    ordered = sorted(health)
    print(
        f"burst of {count} (recognize + verify) in {took:.1f} s: "
        + ", ".join(f"{code or 'failed'} x {n}" for code, n in sorted(codes.items()))
        + f"; every 503 with Retry-After: {retry}"
    )
    print(
        f"/healthz during the burst: {len(ordered)} samples, "
        f"p50 {1000 * ordered[len(ordered) // 2]:.1f} ms, p100 {1000 * ordered[-1]:.1f} ms"
    )


def enrol_many(port: int, person: int, files: int) -> Counter[int]:
    photos = [("file", noise_jpeg(19, seed)) for seed in range(files)]
    data, ctype = multipart(photos)
    print(f"  one request of {files} files, {len(data) / 1e6:.0f} MB in all")
    status, sent = send_raw(port, f"{API}/people/{person}/faces?force=true", data, ctype)
    print(f"  the server answered {status or 'nothing'} after {sent / 1e6:.0f} MB were sent")
    return Counter([status])


def send_raw(port: int, path: str, body: bytes, ctype: str) -> tuple[int, int]:
    """(status, bytes sent): a server may answer (413) and close before reading it all,
    which http.client reports as a broken pipe; this reads the answer anyway."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(head)
        try:
            for start in range(0, len(body), 1 << 20):
                sock.sendall(body[start : start + (1 << 20)])
                sent += min(1 << 20, len(body) - start)
        except OSError:
            pass
        try:
            answer = sock.recv(65536)
        except OSError:
            answer = b""
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent


def large_images(port: int, count: int) -> Counter[int]:
    png = large_png()
    data, ctype = multipart([("file", png)])
    print(f"  {count} x a 7000x7000 PNG of {len(png) / 1e6:.1f} MB, at once")
    barrier = threading.Barrier(count)

    def send(_: int) -> int:
        barrier.wait()
        return request(port, "POST", f"{API}/detect", data, ctype)[0]

    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(send, range(count)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=150)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--large", type=int, default=64)
    parser.add_argument("--after", type=float, default=30.0)
    parser.add_argument("--skip", choices=["burst", "memory"], action="append", default=[])
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    print(f"server: 1 worker, {os.cpu_count()} cores here, env {env or '{}'}")
    with server(env) as (port, pid):
        people = enrol_gallery(port)
        if "burst" not in args.skip:
            burst(port, args.burst)
        if "memory" not in args.skip:
            person = people["Grace Hopper"]
            memory_run(
                "enrol, many large files",
                pid,
                args.after,
                lambda: enrol_many(port, person, args.files),
            )
            memory_run(
                "detect, large PNGs", pid, args.after, lambda: large_images(port, args.large)
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
