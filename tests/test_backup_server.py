"""A backup made by ``facerec backup`` (its own process) while a real server
enrols people, restored into a new data dir: ``facerec doctor`` is clean and a server
on it answers exactly as the original does for everyone the backup holds (same ids,
names, boxes, scores within 1e-6). Real models and images (matplotlib's Grace Hopper,
scikit-image's astronaut)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from tests.conftest import hopper_bytes
from tests.servers import call, running_server

pytestmark = [pytest.mark.models, pytest.mark.slow]
FACEREC = str(Path(sys.executable).with_name("facerec"))


def _hopper() -> Image.Image:
    return Image.open(io.BytesIO(hopper_bytes())).convert("RGB")


def _astronaut() -> Image.Image:
    from skimage import data

    pixels: np.ndarray[Any, Any] = data.astronaut()  # type: ignore[no-untyped-call]
    return Image.fromarray(pixels).crop((100, 0, 400, 300))


def _variant(image: Image.Image, i: int) -> str:
    """A different file of the same face (brightness and size vary), as base64."""
    changed = ImageEnhance.Brightness(image).enhance(0.85 + 0.01 * i)
    changed = changed.resize((image.width - 2 * i, image.height - 2 * i))
    out = io.BytesIO()
    changed.save(out, format="JPEG", quality=90)
    return base64.b64encode(out.getvalue()).decode()


def _facerec(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FACEREC_DATA_DIR": str(data_dir),
        "FACEREC_AUTH__ENABLED": "false",
        **(env or {}),
    }
    return subprocess.run(
        [FACEREC, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _person(base: str, name: str, *photos: str) -> int:
    status, person = call(base, "POST", "/people", {"name": name})
    assert status == 201, person
    for photo in photos:
        status, body = call(base, "POST", f"/people/{person['id']}/faces", {"image_base64": photo})
        assert status == 201, body
    return int(person["id"])


class Enrolments:
    """New people, one photo each, enrolled one after another until stopped."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.done: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            i = 0
            while not self._stop.is_set() and i < 60:
                source = _hopper() if i % 2 == 0 else _astronaut()
                self.done.append(_person(self.base, f"Visitor {i}", _variant(source, 3 + i)))
                i += 1
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        assert self.error is None, self.error


def _answers(base: str, queries: list[str]) -> list[dict[str, Any]]:
    out = []
    for query in queries:
        status, body = call(base, "POST", "/recognize", {"image_base64": query, "top_k": 100})
        assert status == 200, body
        out.append(body)
    return out


def _people(base: str) -> dict[int, dict[str, Any]]:
    status, page = call(base, "GET", "/people?limit=500")
    assert status == 200, page
    return {p["id"]: p for p in page["items"]}


def _restricted(answer: dict[str, Any], people: set[int]) -> dict[str, Any]:
    """What the original would answer if it held only ``people`` (the candidates are
    scored one by one, so the others only drop out; the match is the best one left)."""
    faces = []
    for face in answer["faces"]:
        kept = [c for c in face["candidates"] if c["person_id"] in people]
        best = kept[0] if kept and kept[0]["similarity"] >= answer["threshold"] else None
        faces.append({**face, "candidates": kept, "match": best})
    return {**answer, "faces": faces}


def _same(restored: Any, expected: Any, where: str = "") -> None:
    """Equal, floats within 1e-6."""
    if isinstance(expected, float):
        assert abs(restored - expected) <= 1e-6, (where, restored, expected)
    elif isinstance(expected, dict):
        assert set(restored) == set(expected), where
        for key in expected:
            _same(restored[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(restored) == len(expected), (where, restored, expected)
        for i, (a, b) in enumerate(zip(restored, expected, strict=True)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert restored == expected, (where, restored, expected)


def test_a_backup_during_enrolments_restores_to_a_server_that_answers_the_same(
    tmp_path: Path, other_database_url: str | None
) -> None:
    # On PostgreSQL the restore goes into a new empty database; on SQLite, into the file
    # in the new data dir.
    second = {"FACEREC_DATABASE_URL": other_database_url} if other_database_url else {}
    original, restored = tmp_path / "a" / "data", tmp_path / "b" / "data"
    archive = tmp_path / "backups" / "facerec.tar"
    queries = [
        base64.b64encode(hopper_bytes()).decode(),
        _variant(_astronaut(), 0),
        _variant(_hopper(), 40),
    ]
    with running_server(original) as root:
        base = root + "/api/v1"
        _person(base, "Grace Hopper", _variant(_hopper(), 0), _variant(_hopper(), 1))
        _person(base, "Eileen Collins", _variant(_astronaut(), 1), _variant(_astronaut(), 2))
        status, checked = call(
            base, "POST", "/attendance/check-in", {"image_base64": _variant(_hopper(), 2)}
        )
        assert status == 200 and checked["events"][0]["status"] == "checked_in", checked

        enrolments = Enrolments(base)
        enrolments.start()
        deadline = time.monotonic() + 120
        while len(enrolments.done) < 2:
            assert time.monotonic() < deadline and enrolments.error is None, enrolments.error
            time.sleep(0.05)
        before = len(enrolments.done)
        made = _facerec(original, "backup", str(archive), "--json")
        after = len(enrolments.done)
        enrolments.stop()
        assert made.returncode == 0, made.stderr
        assert after > before, "no enrolment finished while the backup ran"
        answers = _answers(base, queries)
        people = _people(base)

    backup = json.loads(made.stdout)
    done = _facerec(restored, "restore", str(archive), env=second)
    assert done.returncode == 0, done.stdout + done.stderr
    doctor = _facerec(restored, "doctor", "--json", env=second)
    assert doctor.returncode == 0, doctor.stdout
    assert json.loads(doctor.stdout)["ok"] is True, doctor.stdout

    with running_server(restored, env=second) as root:
        base = root + "/api/v1"
        restored_people = _people(base)
        restored_answers = _answers(base, queries)

    # The snapshot holds the people enrolled before it, and perhaps some enrolled while it
    # was taken (a visitor created just before it may have no face in it yet); every
    # person it holds is the original's, with the same name, and the same faces if any.
    with_faces = {pid for pid, p in restored_people.items() if p["face_count"]}
    visitors = {p for p in with_faces if restored_people[p]["name"].startswith("Visitor")}
    assert before <= len(visitors) <= after
    assert visitors == set(enrolments.done[: len(visitors)])
    assert backup["counts"]["people_with_faces"] == len(with_faces) == 2 + len(visitors)
    for pid, person in restored_people.items():
        if pid in with_faces:
            assert person == people[pid]
        else:
            assert person["name"] == people[pid]["name"] and person["face_count"] == 0
    for query, (got, original_answer) in enumerate(zip(restored_answers, answers, strict=True)):
        expected = _restricted(original_answer, with_faces)
        assert expected["faces"] and expected["faces"][0]["candidates"], query
        _same(got, expected, f"query {query}")
