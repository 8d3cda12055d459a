"""Two real workers start from the saved approximate index and answer as a fresh build.

The gallery (300 seeded faces, then Grace Hopper enrolled over HTTP) is past
``faiss.approximate_above``; the first server saves its index. A face added while no
server runs is replayed from the log. The second server's workers load the saved index
(it is not saved anew: a worker that rebuilt would save at its first tick) and answer
what a server that rebuilt from the database answers.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlmodel import Session

from facerec.db.engine import lock_for_write, make_engine
from facerec.db.migrate import upgrade
from facerec.index.models import record_changes
from facerec.inference.types import FaceEngine
from facerec.people.models import Person
from tests.conftest import hopper_bytes
from tests.factories import face_row
from tests.servers import call, from_every_worker, running_server
from tests.sql import database_of

pytestmark = [pytest.mark.models, pytest.mark.slow]
WORKERS = 2
ENV = {
    "FACEREC_INFERENCE__THREADS": "1",
    "FACEREC_FAISS__APPROXIMATE_ABOVE": "100",
    "FACEREC_FAISS__NPROBE": "1000",
    "FACEREC_FAISS__SAVE_CHECK_S": "0.2",
}


def _seed(data: Path, model: str, people: range, seed: int) -> None:
    url = database_of(data)  # the data dir's SQLite file, or the test's PostgreSQL database
    upgrade(url, lock_dir=data)
    engine = make_engine(url)
    x = np.random.default_rng(seed).normal(size=(len(people) * 3, 128))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    with Session(engine) as session:
        lock_for_write(session)
        changes = []
        ids: dict[int, int] = {}  # the database numbers them (PostgreSQL: its sequence)
        for i, vector in enumerate(x):
            number = people[i // 3]
            if number not in ids:
                person = Person(name=f"p{number}")
                session.add(person)
                session.flush()
                assert person.id is not None
                ids[number] = person.id
            person_id = ids[number]
            face = face_row(session, person_id=person_id, embedding=vector, model=model)
            changes.append(("add", face.id or 0, person_id))
        record_changes(session, changes)
        session.commit()
    engine.dispose()


def _photo() -> str:
    """Another photo of Grace Hopper: scaled down and re-encoded."""
    image = Image.open(io.BytesIO(hopper_bytes())).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return base64.b64encode(out.getvalue()).decode()


def _answers(base: str) -> set[str]:
    """Every worker's matches for the photo (top 5), as one canonical text each."""
    replies = from_every_worker(
        base, "POST", "/recognize", {"image_base64": _photo(), "top_k": 5}, workers=WORKERS
    )
    texts = set()
    for answers in replies.values():
        for reply in answers:
            assert reply.status == 200, reply
            faces = reply.body["faces"]
            texts.add(json.dumps([_rounded(f) for f in faces], sort_keys=True))
    return texts


def _rounded(face: dict[str, Any]) -> object:
    return [(c["person_id"], round(c["similarity"], 5)) for c in face["candidates"]]


def _saved(data: Path) -> str | None:
    pointer = data / "index" / "current"
    return pointer.read_text() if pointer.is_file() else None


def test_two_workers_start_from_the_saved_index(tmp_path: Path, real_engine: FaceEngine) -> None:
    data = tmp_path / "data"
    data.mkdir()
    model = real_engine.embedder.model_id
    _seed(data, model, range(1, 101), seed=1)
    with running_server(data, workers=WORKERS, env=ENV) as root:
        base = root + "/api/v1"
        status, person = call(base, "POST", "/people", {"name": "Grace Hopper"})
        assert status == 201
        image = base64.b64encode(hopper_bytes()).decode()
        status, _ = call(base, "POST", f"/people/{person['id']}/faces", {"image_base64": image})
        assert status == 201
        _answers(base)  # both workers took the enrolment in
        deadline = time.monotonic() + 30
        while _saved(data) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    name = _saved(data)
    assert name is not None, "no worker saved the index"
    _seed(data, model, range(101, 102), seed=2)  # while no server runs: replayed at start

    with running_server(data, workers=WORKERS, env=ENV) as root:
        loaded = _answers(root + "/api/v1")
        time.sleep(1.0)  # several save ticks: a worker that had rebuilt would save anew
    assert _saved(data) == name, "a worker rebuilt instead of loading the saved index"

    shutil.rmtree(data / "index")
    fresh_env = {**ENV, "FACEREC_FAISS__SAVE": "false"}
    with running_server(data, workers=WORKERS, env=fresh_env) as root:
        fresh = _answers(root + "/api/v1")
    assert not (data / "index").exists()
    assert len(loaded) == 1 and loaded == fresh
    (text,) = loaded
    assert json.loads(text)[0][0][0] == person["id"]
