"""A real server (1 worker, real models) under a bounded burst of 150 recognise/verify
requests: every answer is 200 or 503 with Retry-After (never a 500, never a dropped
connection), and ``/healthz`` answers within a second throughout (#11, item 1).

``inference.max_pending`` is small (8), so most of the burst is shed.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import hopper_bytes
from tests.servers import running_server

pytestmark = [pytest.mark.models, pytest.mark.slow]

BURST = 150
BOUNDARY = "facerec-burst-test"


def _multipart(files: dict[str, bytes]) -> bytes:
    parts = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.jpg"'
        f"\r\nContent-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files.items()
    )
    return parts + f"--{BOUNDARY}--\r\n".encode()


def _post(port: int, path: str, body: bytes) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        conn.close()


def _health(port: int) -> float:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    return time.monotonic() - started


def test_a_burst_gets_only_200_or_503_with_retry_after_and_health_stays_fast(
    tmp_path: Path,
) -> None:
    env = {"FACEREC_INFERENCE__MAX_PENDING": "8"}
    with running_server(tmp_path / "data", env=env) as root:
        port = int(root.rsplit(":", 1)[1])
        photo = hopper_bytes()
        assert _post(port, "/api/v1/recognize", _multipart({"file": photo}))[0] == 200
        bodies = [
            ("/api/v1/recognize", _multipart({"file": photo}))
            if i % 2 == 0
            else ("/api/v1/verify", _multipart({"file1": photo, "file2": photo}))
            for i in range(BURST)
        ]
        barrier = threading.Barrier(BURST)
        health: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                health.append(_health(port))
                done.wait(0.05)

        def send(item: tuple[str, bytes]) -> tuple[int, str | None]:
            barrier.wait()
            return _post(port, *item)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(max_workers=BURST) as pool:
                answers = list(pool.map(send, bodies))
        finally:
            done.set()
            sampler.join()
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= 1, statuses
    assert all(retry == "1" for status, retry in answers if status == 503), answers
    assert health and max(health) < 1.0, (len(health), max(health))
