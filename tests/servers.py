"""Start a real ``facerec serve`` on 127.0.0.1 for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One JSON request on a fresh connection; ``(status, parsed body)``."""
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


@contextmanager
def running_server(
    data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Yields the server's root URL once every worker answers /readyz."""
    port = free_port()
    environment = {**os.environ, "FACEREC_DATA_DIR": str(data_dir), **(env or {})}
    facerec = Path(sys.executable).with_name("facerec")
    log = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                str(facerec),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        seen: set[int] = set()
        while len(seen) < workers:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start:\n" + log.read_text()
            try:
                status, body = call(root, "GET", "/api/v1/readyz")
                if status == 200:
                    seen.add(body["worker"])
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        yield root
    finally:
        process.terminate()
        process.wait(timeout=30)
