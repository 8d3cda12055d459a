"""``facerec serve --workers 2``: a real server, two processes, one truth.

A face enrolled or deleted through whichever worker answers is seen by every
worker on its very next request.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import hopper_bytes

pytestmark = [pytest.mark.models, pytest.mark.slow]
REQUESTS = 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"content-type": "application/json", "connection": "close"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "FACEREC_DATA_DIR": str(tmp_path / "data"),
        "FACEREC_INFERENCE__THREADS": "1",
    }
    facerec = Path(sys.executable).with_name("facerec")
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(facerec), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 90
        workers: set[int] = set()
        while len(workers) < 2:  # both workers up and answering
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            try:
                status, body = _call(base, "GET", "/readyz")
                if status == 200:
                    workers.add(body["worker"])
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _recognised(base: str, image: str) -> tuple[list[str | None], set[int]]:
    names: list[str | None] = []
    workers: set[int] = set()
    for _ in range(REQUESTS):
        status, body = _call(base, "POST", "/recognize", {"image_base64": image})
        assert status == 200, body
        names.append(body["faces"][0]["match"]["name"] if body["faces"][0]["match"] else None)
        _, ready = _call(base, "GET", "/readyz")
        assert ready["index"] is True, ready
        workers.add(ready["worker"])
    return names, workers


def test_enrol_and_delete_are_seen_by_every_worker(server: str) -> None:
    image = base64.b64encode(hopper_bytes()).decode()
    status, person = _call(server, "POST", "/people", {"name": "Grace Hopper"})
    assert status == 201
    status, _ = _call(server, "POST", f"/people/{person['id']}/faces", {"image_base64": image})
    assert status == 201

    names, workers = _recognised(server, image)
    assert names == ["Grace Hopper"] * REQUESTS
    assert len(workers) == 2, "the requests did not reach both workers"

    status, _ = _call(server, "DELETE", f"/people/{person['id']}")
    assert status == 204
    names, _ = _recognised(server, image)
    assert names == [None] * REQUESTS
