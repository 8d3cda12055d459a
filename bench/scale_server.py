"""Start-up to ready of a real ``facerec serve`` whose database holds the gallery.

``bench/scale.py`` calls :func:`serve_ready` per FAISS backend and size: a temporary data
dir gets a migrated SQLite database with one person row per person, one image row and
one face row (the descriptor, the running model's id) per face, written with
``executemany`` (a million faces: about a minute), and the change-log generation 1. For
the approximate backend the index that ``bench/scale.py`` built is saved under
``<data dir>/index`` at that generation, as a worker saves it, so the server loads it
memory-mapped; for the exact backend there is none and every worker rebuilds from the
faces table, as today. Then ``facerec serve --workers N`` is spawned and ``/readyz``
polled every 0.1 s: the time from spawn to its first 200 (models loaded, index ready,
in every worker: the probe is answered by a worker only once its lifespan finished; with
two workers, each is asked until both have answered), and each worker's RSS and PSS
then (``/proc/PID/smaps_rollup``: models and the index as loaded, before any search).
Then the server recognises a sample of LFW-dev photos (``POST /recognize``, a new
connection each, so both workers answer) and the workers' RSS and PSS are read again:
what the searches brought in of the memory-mapped index, in real server workers.
"""

from __future__ import annotations

import http.client
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facerec.config import Settings
from facerec.db.migrate import upgrade
from facerec.index.frozen import Frozen
from facerec.index.saved import SavedIndexes
from facerec.inference.engines import build_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import (  # type: ignore[import-not-found]
    LFW,
    MULTIPART_TYPE,
    free_port,
    lfw_people,
    multipart,
    sample,
)

GENERATION = 1
NOW = "2026-01-01 00:00:00.000000"
API = "/api/v1"


def model_id() -> str:
    """The model id a server started with the default settings stores and searches."""
    return str(build_engine(Settings()).embedder.model_id)


def seed(
    data: Path,
    model: str,
    faces: NDArray[np.int64],
    people: NDArray[np.int64],
    vectors: NDArray[np.float32],
) -> float:
    """Write the gallery into a new database under ``data``; seconds taken."""
    start = time.perf_counter()
    path = data / "facerec.db"
    upgrade(f"sqlite:///{path}", lock_dir=data)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")  # a scratch database: no need to wait for the disk
    with con:
        con.executemany(
            "INSERT INTO people (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            ((p, f"p{p}", NOW, NOW) for p in np.unique(people).tolist()),
        )
        con.executemany(
            "INSERT INTO images (id, sha256, size, width, height, format, path, created_at)"
            " VALUES (?, ?, 1, 1, 1, 'PNG', ?, ?)",
            ((f, f"{f:064d}", f"{f}.png", NOW) for f in faces.tolist()),
        )
        con.executemany(
            "INSERT INTO faces (id, person_id, image_id, x1, y1, x2, y2, landmarks, det_score,"
            " quality, embedding, model, created_at)"
            " VALUES (?, ?, ?, 0, 0, 1, 1, '[]', 1.0, '{}', ?, ?, ?)",
            _face_rows(faces, people, vectors, model),
        )
        con.execute("UPDATE index_state SET generation = ? WHERE id = 1", (GENERATION,))
    con.close()
    return time.perf_counter() - start


def _face_rows(
    faces: NDArray[np.int64], people: NDArray[np.int64], vectors: NDArray[np.float32], model: str
) -> Iterator[tuple[int, int, int, bytes, str, str]]:
    for face_id, person_id, vector in zip(faces.tolist(), people.tolist(), vectors, strict=True):
        yield face_id, person_id, face_id, vector.astype("<f4").tobytes(), model, NOW


def memory(pid: int) -> tuple[float, float]:
    """RSS and PSS in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        values[key] = int(value.split()[0]) / 1024
    return values["Rss"], values["Pss"]


def _workers(pid: int, count: int) -> list[int]:
    """The server's worker processes (itself when it runs one)."""
    if count == 1:
        return [pid]
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return [c for c in children if memory(c)[0] > 50]  # not uvicorn's small helpers


def photos(count: int) -> list[bytes]:
    """``count`` LFW-dev photos as multipart bodies (none without ../shared/data)."""
    root = LFW.resolve()
    if count <= 0 or not root.is_dir():
        return []
    every = [p for paths in lfw_people(root).values() for p in paths]
    return [multipart(p.read_bytes(), p.name) for p in sample(every, count)]


def _recognise(port: int, bodies: Sequence[bytes]) -> None:
    for body in bodies:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request(
            "POST",
            f"{API}/recognize",
            body,
            {"Content-Type": MULTIPART_TYPE, "Connection": "close"},
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200, response.status


def serve(
    data: Path, workers: int, env: dict[str, str], bodies: Sequence[bytes] = ()
) -> dict[str, float]:
    """Spawn ``facerec serve`` on ``data``; seconds to ready and the workers' memory, at
    ready and after recognising ``bodies``."""
    port = free_port()
    facerec = Path(sys.executable).with_name("facerec")
    command = [str(facerec), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = data / f"server-{workers}.log"
    full_env = {
        **os.environ,
        "FACEREC_AUTH__ENABLED": "false",
        "FACEREC_DATA_DIR": str(data),
        "FACEREC_INFERENCE__THREADS": "1",
        **env,
    }
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--workers", str(workers)], env=full_env, stdout=sink, stderr=sink
        )
    try:
        ready = _wait_ready(process, port, workers, log)
        ready_s = time.perf_counter() - started
        pids = _workers(process.pid, workers)
        mem = [memory(p) for p in pids]
        _recognise(port, bodies)
        after = [memory(p) for p in pids]
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert ready == workers, f"{ready} of {workers} workers answered"
    return {
        "ready_s": ready_s,
        "rss": max(m[0] for m in mem),
        "pss": max(m[1] for m in mem),
        "rss_after": max(m[0] for m in after),
        "pss_after": max(m[1] for m in after),
    }


def _wait_ready(process: subprocess.Popen[bytes], port: int, workers: int, log: Path) -> int:
    """Poll /readyz until every worker answered 200; how many did."""
    seen: set[str] = set()
    deadline = time.monotonic() + 900
    while len(seen) < workers:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start:\n" + log.read_text()[-3000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", f"{API}/readyz")
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                seen.add(response.getheader("X-FaceRec-Worker") or "")
                continue
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    return len(seen)


def serve_ready(
    *,
    approximate: Frozen | None,
    faces: NDArray[np.int64],
    people: NDArray[np.int64],
    vectors: NDArray[np.float32],
    bodies: Sequence[bytes] = (),
    nprobe: int,
) -> dict[str, float]:
    """Seed a data dir, save ``approximate`` (if given) and time 1 and 2 workers; their
    memory at ready and after recognising ``bodies``."""
    model = model_id()
    with tempfile.TemporaryDirectory(prefix="facerec-scale-", dir=_scratch()) as tmp:
        data = Path(tmp)
        seeded = seed(data, model, faces, people, vectors)
        env = {"FACEREC_FAISS__APPROXIMATE_ABOVE": str(max(1, len(faces) * 10))}
        if approximate is not None:
            name = SavedIndexes(data / "index").save(
                approximate, generation=GENERATION, model=model
            )
            env = {
                "FACEREC_FAISS__APPROXIMATE_ABOVE": str(max(1, len(faces) // 2)),
                "FACEREC_FAISS__NPROBE": str(nprobe),
            }
        one, two = serve(data, 1, env, bodies), serve(data, 2, env, bodies)
        if approximate is not None:  # every worker served from the saved index
            for workers in (1, 2):
                text = (data / f"server-{workers}.log").read_text()
                assert text.count(f"index loaded from the saved {name}") == workers, text
    return {
        "seed_s": seeded,
        "ready_1w": one["ready_s"],
        "ready_2w": two["ready_s"],
        "rss_1w": one["rss"],
        "pss_1w": one["pss"],
        "rss_2w": two["rss"],
        "pss_2w": two["pss"],
        "rss_after_1w": one["rss_after"],
        "pss_after_1w": one["pss_after"],
        "rss_after_2w": two["rss_after"],
        "pss_after_2w": two["pss_after"],
    }


def _scratch() -> Path:
    path = Path(__file__).resolve().parents[1] / "data" / "bench" / "scale"
    path.mkdir(parents=True, exist_ok=True)
    return path
