"""Webhooks end to end (issue #13 item 2): ``facerec serve --workers 2`` against a local
receiver on 127.0.0.1 that first answers 500, then hangs past the timeout, then
recovers; the server is stopped and started again with deliveries pending.

Everything arrives: every delivery id in the database reaches the receiver with a 2xx
(at least once; repeats only of the same id), every request's signature verifies with
the endpoint's secret, and the delivery log says ``sent`` for each. Intervals are made
small through the settings (poll 0.2 s, timeout 0.5 s, back-off 0.2 s doubling to 1 s).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess, call

pytestmark = [pytest.mark.models, pytest.mark.slow]
SECRET = "end-to-end-secret-0123456789"
ENV = {
    "FACEREC_INFERENCE__THREADS": "1",
    "FACEREC_WEBHOOKS__POLL_SECONDS": "0.2",
    "FACEREC_WEBHOOKS__TIMEOUT_SECONDS": "0.5",
    "FACEREC_WEBHOOKS__RETRY_BASE_SECONDS": "0.2",
    "FACEREC_WEBHOOKS__RETRY_MAX_SECONDS": "1",
}
HANG_SECONDS = 1.5


class Receiver:
    """A tiny threaded HTTP receiver. ``mode``: ``fail`` (500), ``hang`` (answers after
    ``HANG_SECONDS``, past the sender's timeout) or ``ok`` (204). Keeps every request
    and the answer it got."""

    def __init__(self) -> None:
        self.mode = "fail"
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                mode = receiver.mode
                if mode == "hang":
                    time.sleep(HANG_SECONDS)
                with receiver.lock:
                    receiver.seen.append(
                        {
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "mode": mode,
                        }
                    )
                self.send_response(500 if mode == "fail" else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def count(self, mode: str) -> int:
        with self.lock:
            return sum(1 for r in self.seen if r["mode"] == mode)

    def received(self) -> dict[str, int]:
        """Delivery id -> times it got a 2xx."""
        with self.lock:
            ids = [r["headers"]["x-facerec-delivery"] for r in self.seen if r["mode"] == "ok"]
        return {i: ids.count(i) for i in ids}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _people(api: str, names: list[str]) -> None:
    for name in names:
        status, body = call(api, "POST", "/people", {"name": name})
        assert status == 201, body


def _deliveries(api: str, hook_id: int) -> list[dict[str, Any]]:
    status, page = call(api, "GET", f"/webhooks/{hook_id}/deliveries?limit=500")
    assert status == 200, page
    return list(page["items"])


def _verifies(request: dict[str, Any]) -> bool:
    """The receiver's check, as README shows it."""
    headers, body = request["headers"], request["body"]
    signed = headers["x-facerec-timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-facerec-signature"])


def test_a_receiver_that_fails_hangs_and_recovers_gets_everything_across_a_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    data = tmp_path / "data"
    first = ServerProcess(data, workers=2, env=ENV)
    try:
        api = first.start() + "/api/v1"
        status, hook = call(
            api,
            "POST",
            "/webhooks",
            {"url": receiver.url, "events": ["person.created"], "secret": SECRET},
        )
        assert status == 201, hook
        _people(api, [f"before {n}" for n in range(5)])
        _wait(lambda: receiver.count("fail") >= 3, "attempts answered 500")
        receiver.mode = "hang"
        _wait(lambda: receiver.count("hang") >= 1, "an attempt that times out")
        pending = [d for d in _deliveries(api, hook["id"]) if d["status"] == "pending"]
        assert len(pending) == 5
        assert all(d["last_error"] for d in pending if d["attempts"])
    finally:
        first.stop()
    assert receiver.received() == {}  # nothing was accepted before the restart

    receiver.mode = "ok"
    second = ServerProcess(data, workers=2, env=ENV)
    try:
        api = second.start() + "/api/v1"
        _people(api, [f"after {n}" for n in range(3)])
        _wait(lambda: len(receiver.received()) >= 8, "every delivery accepted")
        _wait(
            lambda: all(d["status"] == "sent" for d in _deliveries(api, hook["id"])),
            "the log to say sent",
        )
        log = _deliveries(api, hook["id"])
    finally:
        second.stop()

    assert len(log) == 8
    ids = {d["delivery_id"] for d in log}
    assert set(receiver.received()) == ids  # everything arrived, nothing else did
    assert all(_verifies(r) for r in receiver.seen)
    names = set()
    for request in receiver.seen:
        document = json.loads(request["body"])
        assert document["id"] == request["headers"]["x-facerec-delivery"]
        names.add(document["data"]["name"])
    assert names == {f"before {n}" for n in range(5)} | {f"after {n}" for n in range(3)}
    failed_first = [d for d in log if d["payload"]["name"].startswith("before")]
    assert all(d["attempts"] >= 2 for d in failed_first)
