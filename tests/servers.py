"""Start a real ``facerec serve`` on 127.0.0.1 for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facerec.api.worker import WORKER_HEADER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    worker: int
    """The process that answered (the ``X-FaceRec-Worker`` header)."""


def send(
    base: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One JSON request on a fresh connection (so the kernel picks a worker for it);
    ``headers`` adds e.g. ``Authorization``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"content-type": "application/json", "connection": "close", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            worker = int(response.headers.get(WORKER_HEADER, "0"))
            return Reply(response.status, json.loads(raw) if raw else None, worker)
    except urllib.error.HTTPError as exc:
        worker = int(exc.headers.get(WORKER_HEADER, "0"))
        return Reply(exc.code, json.loads(exc.read() or b"null"), worker)


def call(
    base: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One JSON request on a fresh connection; ``(status, parsed body)``."""
    reply = send(base, method, path, body, headers=headers)
    return reply.status, reply.body


def from_every_worker(
    base: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    workers: int,
    each: int = 2,
    timeout: float = 120.0,
    headers: dict[str, str] | None = None,
) -> dict[int, list[Reply]]:
    """Send the same request until every one of ``workers`` processes has answered it at
    least ``each`` times; the replies by worker.

    The workers share one listening socket and the kernel chooses who accepts each
    connection, often unevenly; requests go out several at a time, so a worker busy
    with one leaves the next connection to another, and sending goes on (within
    ``timeout``) until each has answered.
    """
    replies: dict[int, list[Reply]] = {}
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len(replies) < workers or min(len(r) for r in replies.values()) < each:
            assert time.monotonic() < deadline, (
                f"only workers {sorted(replies)} answered {path} within {timeout} s"
            )
            batch = list(
                pool.map(lambda _: send(base, method, path, body, headers=headers), range(4))
            )
            for reply in batch:
                replies.setdefault(reply.worker, []).append(reply)
    assert len(replies) == workers, f"{len(replies)} workers answered, expected {workers}"
    return replies


class ServerProcess:
    """``facerec serve`` in its own process group (so a crash test can kill all of it)."""

    def __init__(
        self, data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "FACEREC_DATA_DIR": str(data_dir),
            "FACEREC_AUTH__ENABLED": "false",  # unless ``env`` says otherwise
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start and wait until every worker has answered /readyz with 200; the root URL."""
        facerec = Path(sys.executable).with_name("facerec")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [str(facerec), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [*command, "--workers", str(self.workers)],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while True:  # the supervisor binds the socket before any worker serves it
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "server did not start:\n" + self.log.read_text()
            try:
                if send(self.root, "GET", "/healthz").status == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        ready = from_every_worker(self.root, "GET", "/readyz", workers=self.workers, each=1)
        for replies in ready.values():
            assert any(r.status == 200 for r in replies), replies
        return self.root

    def kill(self) -> None:
        """SIGKILL every process of the server at once: a crash, no clean-up."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def running_server(
    data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Yields the server's root URL once every worker answers /readyz."""
    server = ServerProcess(data_dir, workers=workers, env=env)
    try:
        yield server.start()
    finally:
        server.stop()
