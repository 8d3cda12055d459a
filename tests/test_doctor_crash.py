"""kill -9 during write loops, then ``facerec doctor`` finds nothing to repair.

A real ``facerec serve`` (real models) is SIGKILLed while a loop of enrolments, of
check-ins, or of unknown-face assignments is running, once a set number of requests has
been answered and the next one is in flight. It is restarted on the same data folder
(the restart runs the start-up sweep), stopped, and ``facerec doctor --json`` runs in
its own process on that folder: exit 0, zero findings. The kill moment varies with the
machine's speed; the assertion holds for every moment.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from tests.conftest import hopper_bytes
from tests.servers import ServerProcess, call
from tests.sql import database_of, run_sql

pytestmark = [pytest.mark.models, pytest.mark.slow]
ENV = {"FACEREC_INFERENCE__THREADS": "1", "FACEREC_ATTENDANCE__DEDUPE_MINUTES": "0"}
"""Dedupe off: every check-in of the same face writes an event (or unknown face) and a crop."""
SEED = 11
Step = Callable[[int], tuple[int, Any]]


def _variant(image: Image.Image, i: int) -> str:
    """A different file of the same face: brightness and size vary with ``i``."""
    changed = ImageEnhance.Brightness(image).enhance(0.8 + 0.015 * (i % 20))
    changed = changed.resize((image.width - 2 * (i % 25), image.height - 2 * (i % 25)))
    buffer = io.BytesIO()
    changed.save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode()


def _hopper() -> Image.Image:
    return Image.open(io.BytesIO(hopper_bytes())).convert("RGB")


def _astronaut() -> Image.Image:
    from skimage import data

    pixels: np.ndarray[Any, Any] = data.astronaut()  # type: ignore[no-untyped-call]
    return Image.fromarray(pixels).crop((100, 0, 400, 300))


class Loop:
    """``step(i)`` for i = 0, 1, ... from ``senders`` threads until the server dies."""

    def __init__(self, step: Step, senders: int) -> None:
        self.step = step
        self.answered = 0
        self.in_flight = 0
        self.lost = 0
        self._next = 0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(senders)]

    def _run(self) -> None:
        while True:
            with self._lock:
                i, self._next = self._next, self._next + 1
                self.in_flight += 1
            try:
                status, body = self.step(i)
            except (OSError, http.client.HTTPException, ValueError):
                with self._lock:  # refused, reset or cut off: the server is gone
                    self.in_flight -= 1
                    self.lost += 1
                return
            assert status < 300, (status, body)
            with self._lock:
                self.in_flight -= 1
                self.answered += 1

    def kill_after(self, server: ServerProcess, answered: int, delay: float) -> None:
        """Kill once ``answered`` requests were answered and another is in flight, after
        ``delay`` more seconds."""
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + 60
        while self.answered < answered or self.in_flight == 0:
            assert time.monotonic() < deadline, f"only {self.answered} requests answered"
            assert all(t.is_alive() for t in self.threads), "a sender stopped early"
            time.sleep(0.005)
        time.sleep(delay)
        server.kill()
        for thread in self.threads:
            thread.join(timeout=60)
        assert self.lost, "the kill came after every request had finished"


def _doctor(data: Path) -> tuple[int, dict[str, Any]]:
    facerec = Path(sys.executable).with_name("facerec")
    done = subprocess.run(
        [str(facerec), "doctor", "--json"],
        env={**os.environ, "FACEREC_DATA_DIR": str(data)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def _restart_and_examine(server: ServerProcess) -> None:
    server.start()
    server.stop()
    code, report = _doctor(server.data_dir)
    assert report["findings"] == [], report
    assert code == 0, report
    [(faces,)] = run_sql(database_of(server.data_dir), "SELECT count(*) FROM faces")
    assert report["checked"]["faces"] == report["checked"]["index_entries"] == faces


def _person(base: str, name: str) -> int:
    status, person = call(base, "POST", "/people", {"name": name})
    assert status == 201, person
    return int(person["id"])


@pytest.mark.parametrize("answered", [3, 7])
def test_kill_during_enrolments(tmp_path: Path, answered: int) -> None:
    server = ServerProcess(tmp_path / "data", env=ENV)
    try:
        base = server.start() + "/api/v1"
        person = _person(base, "Grace Hopper")
        photos = [_variant(_hopper(), i) for i in range(40)]

        def enrol(i: int) -> tuple[int, Any]:
            return call(base, "POST", f"/people/{person}/faces", {"image_base64": photos[i]})

        delay = random.Random(SEED + answered).uniform(0.0, 0.3)
        Loop(enrol, senders=3).kill_after(server, answered, delay)
        _restart_and_examine(server)
    finally:
        server.stop()


def test_kill_during_check_ins(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=ENV)
    try:
        base = server.start() + "/api/v1"
        person = _person(base, "Grace Hopper")
        enrolled = call(
            base, "POST", f"/people/{person}/faces", {"image_base64": _variant(_hopper(), 0)}
        )
        assert enrolled[0] == 201, enrolled
        frames = [_variant(_hopper(), i) for i in range(1, 40)]

        def check_in(i: int) -> tuple[int, Any]:
            status, body = call(base, "POST", "/attendance/check-in", {"image_base64": frames[i]})
            assert status != 200 or body["events"][0]["status"] == "checked_in", body
            return status, body

        Loop(check_in, senders=3).kill_after(server, 5, random.Random(SEED).uniform(0.0, 0.3))
        _restart_and_examine(server)
    finally:
        server.stop()


def test_kill_during_unknown_face_assignments(tmp_path: Path) -> None:
    """Each round: the astronaut checks in (an unknown face, with its crop), her group is
    assigned to a person (crops become photos, faces, change-log rows), and those faces
    are deleted again, so that she is unknown at the next round."""
    server = ServerProcess(tmp_path / "data", env=ENV)
    try:
        base = server.start() + "/api/v1"
        person = _person(base, "Eileen Collins")
        frames = [_variant(_astronaut(), i) for i in range(40)]

        def round_of(i: int) -> tuple[int, Any]:
            status, body = call(base, "POST", "/attendance/check-in", {"image_base64": frames[i]})
            if status != 200:
                return status, body
            assert body["unknown_faces"] == 1, body
            group = call(base, "GET", "/attendance/unknown")[1]["items"][0]["group_id"]
            status, body = call(
                base,
                "POST",
                f"/attendance/unknown/{group}/assign?force=true",
                {"person_id": person},
            )
            if status != 200:
                return status, body
            for face in call(base, "GET", f"/people/{person}/faces")[1]["items"]:
                assert call(base, "DELETE", f"/faces/{face['id']}")[0] == 204
            return status, body

        Loop(round_of, senders=1).kill_after(server, 3, random.Random(SEED).uniform(0.0, 0.5))
        _restart_and_examine(server)
    finally:
        server.stop()
