"""A real crash: ``facerec serve`` is SIGKILLed while enrolments are in flight.

After a restart on the same data folder, every enrolment the server acknowledged is
there, every image row has its file, no file lacks a row (the start-up sweep removes
what a killed write left behind), and every worker's index holds exactly the faces in
the database. The database is read here with plain SQL (``tests/sql.py``), not with
the code under test.
"""

from __future__ import annotations

import base64
import http.client
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from tests.conftest import hopper_bytes
from tests.servers import ServerProcess, call, from_every_worker
from tests.sql import database_of, run_sql

pytestmark = [pytest.mark.models, pytest.mark.slow]
PHOTOS = 24
ACKNOWLEDGED_BEFORE_KILL = 4


def _variants(count: int) -> list[str]:
    """``count`` different files of one face (brightness and size vary)."""
    base = Image.open(io.BytesIO(hopper_bytes())).convert("RGB")
    out = []
    for i in range(count):
        image = ImageEnhance.Brightness(base).enhance(0.85 + 0.01 * i)
        image = image.resize((base.width - 2 * i, base.height - 2 * i))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        out.append(base64.b64encode(buffer.getvalue()).decode())
    return out


def _rows(data: Path) -> tuple[set[str], set[int]]:
    """Image paths and face ids as committed in the database."""
    url = database_of(data)
    paths = {row[0] for row in run_sql(url, "SELECT path FROM images")}
    faces = {row[0] for row in run_sql(url, "SELECT id FROM faces")}
    return paths, faces


def _files(root: Path) -> set[str]:
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_sigkill_during_enrolment_leaves_rows_files_and_index_in_agreement(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {"FACEREC_INFERENCE__THREADS": "1"}
    server = ServerProcess(data, workers=2, env=env)
    base = server.start() + "/api/v1"
    try:
        status, person = call(base, "POST", "/people", {"name": "Grace Hopper"})
        assert status == 201
        acknowledged: list[int] = []
        lost: list[str] = []
        lock = threading.Lock()

        def enrol(photo: str) -> None:
            try:
                status, body = call(
                    base, "POST", f"/people/{person['id']}/faces", {"image_base64": photo}
                )
            except (OSError, http.client.HTTPException, ValueError) as exc:
                # refused, reset, timed out, or cut off mid-answer (URLError is an OSError;
                # a truncated JSON body is a ValueError): not acknowledged
                with lock:
                    lost.append(type(exc).__name__)
                return
            assert status == 201, body
            with lock:
                acknowledged.extend(face["id"] for face in body["faces"])

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(enrol, photo) for photo in _variants(PHOTOS)]
            deadline = time.monotonic() + 120
            while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL:
                assert time.monotonic() < deadline, "no enrolment was acknowledged"
                time.sleep(0.01)
            server.kill()
            for future in futures:
                future.result()
        assert lost, "the kill came after every enrolment had finished"
        killed_with = set(acknowledged)

        server.start()
        paths, faces = _rows(data)
        assert killed_with <= faces, "an acknowledged enrolment was lost"
        assert _files(data / "images") == paths, "rows and files disagree"
        for replies in from_every_worker(
            server.root, "GET", "/api/v1/readyz", workers=2, each=1
        ).values():
            for reply in replies:
                assert reply.status == 200, reply.body
                assert reply.body["index_count"] == reply.body["db_count"] == len(faces)
        listed = call(base, "GET", f"/people/{person['id']}/faces")[1]
        assert {face["id"] for face in listed["items"]} == faces
    finally:
        server.stop()
