"""Load test: a realistic mix of kiosk check-ins, recognition, enrolment and reports.

Run against a server with access control on (the default) and an admin API key::

    make run                                                  # or any running FaceRec
    export FACEREC_BENCH_KEY=$(.venv/bin/facerec keys create --name bench --role admin)
    make bench-load                                           # 8 users, 60 s, headless
    # = .venv/bin/locust -f bench/locustfile.py --headless -u 8 -r 2 -t 60s --host http://127.0.0.1:8000

Set-up (once, before the users start) creates ``FACEREC_BENCH_PEOPLE`` people (default 20)
through the API, enrols one photo of each, and registers and pairs one kiosk device per
kiosk user (each kiosk sends its own device token, as a door tablet does). Images: real
LFW photos from ``../shared/data/lfw-dev`` (``FACEREC_BENCH_LFW``); other photos of the
enrolled people are the probes, people with one photo are the strangers (unknown faces).
Without LFW it falls back, loudly, to the two packaged images (grace_hopper.jpg from
matplotlib, astronaut from scikit-image): a smoke test, not a realistic mix.

Users (weights): ``Kiosk`` (3) sends a frame about every second, 80 % enrolled people
(first a check-in, then duplicates within the dedupe window), 20 % strangers; ``Operator``
(1) recognises (6), enrols a new person with a photo (1) and reads reports (2: today, the
month's report as JSON and as CSV). Every answer is checked: a recognition or check-in
that is not 200 with the expected shape counts as a failure, and so does 429/503.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from locust import HttpUser, between, events, task

API = "/api/v1"
HERE = Path(__file__).resolve().parent
DEFAULT_LFW = HERE.parent.parent / "shared" / "data" / "lfw-dev"


@dataclass
class Gallery:
    """What set-up made: images to send, and one device token per kiosk."""

    probes: list[bytes] = field(default_factory=list)  # other photos of enrolled people
    strangers: list[bytes] = field(default_factory=list)  # people never enrolled
    spare: list[bytes] = field(default_factory=list)  # photos for the enrol task
    tokens: list[str] = field(default_factory=list)
    people: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_token: itertools.count[int] = field(default_factory=itertools.count)


GALLERY = Gallery()
RNG = random.Random(13)  # the same mix each run


def _lfw_sets(root: Path, people: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(one photo per enrolled person, probes, strangers) from an LFW folder."""
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    many = [sorted(f.glob("*.jpg")) for f in folders]
    multi = [files for files in many if len(files) >= 3][:people]
    single = [files[0] for files in many if len(files) == 1][: people * 2]
    enrol = [files[0].read_bytes() for files in multi]
    probes = [f.read_bytes() for files in multi for f in files[1:4]]
    return enrol, probes, [f.read_bytes() for f in single]


def _packaged_sets() -> tuple[list[bytes], list[bytes], list[bytes]]:
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    hopper = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()
    out = io.BytesIO()
    Image.fromarray(data.astronaut()).save(out, format="JPEG", quality=92)  # type: ignore[no-untyped-call]
    return [hopper], [hopper], [out.getvalue()]


def _images(people: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    root = Path(os.environ.get("FACEREC_BENCH_LFW", DEFAULT_LFW))
    if root.is_dir():
        return _lfw_sets(root, people)
    print(f"!!! {root} not found: replaying the 2 packaged images only (not a realistic mix)")
    return _packaged_sets()


def _setup(host: str, key: str, people: int, kiosks: int) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {key}"
    run = uuid.uuid4().hex[:6]
    enrol, probes, strangers = _images(people)
    enrolled = 0
    for n, photo in enumerate(enrol):
        made = http.post(f"{host}{API}/people", json={"name": f"bench-{run}-{n}"}, timeout=30)
        made.raise_for_status()
        person = made.json()["id"]
        answer = http.post(
            f"{host}{API}/people/{person}/faces",
            files={"file": ("face.jpg", photo, "image/jpeg")},
            timeout=120,
        )
        enrolled += answer.status_code == 201 and bool(answer.json()["faces"])
    for n in range(kiosks):
        pairing = http.post(
            f"{host}{API}/devices", json={"name": f"bench-{run}-kiosk-{n}"}, timeout=30
        )
        pairing.raise_for_status()
        code = parse_qs(urlparse(pairing.json()["pairing_url"]).query)["pair"][0]
        paired = requests.post(f"{host}{API}/devices/pair", json={"code": code}, timeout=30)
        paired.raise_for_status()
        GALLERY.tokens.append(paired.json()["token"])
    GALLERY.probes, GALLERY.strangers, GALLERY.spare = probes, strangers, enrol
    GALLERY.people = enrolled
    print(
        f"set-up: {enrolled}/{len(enrol)} people enrolled, {len(probes)} probes, "
        f"{len(strangers)} strangers, {kiosks} kiosk devices"
    )


@events.test_start.add_listener
def on_test_start(environment: Any, **_: Any) -> None:
    key = os.environ.get("FACEREC_BENCH_KEY")
    if not key:
        raise SystemExit("FACEREC_BENCH_KEY is not set: an admin API key (facerec keys create)")
    people = int(os.environ.get("FACEREC_BENCH_PEOPLE", "20"))
    kiosks = int(os.environ.get("FACEREC_BENCH_KIOSKS", "8"))
    _setup(environment.host.rstrip("/"), key, people, kiosks)


def _jpeg(photo: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("frame.jpg", photo, "image/jpeg")}


class Kiosk(HttpUser):
    """A door tablet: one frame about every second with its own device token."""

    weight = 3
    wait_time = between(0.6, 1.4)

    def on_start(self) -> None:
        with GALLERY.lock:
            n = next(GALLERY.next_token)
        self.token = GALLERY.tokens[n % len(GALLERY.tokens)]

    @task
    def check_in(self) -> None:
        pool = GALLERY.strangers if RNG.random() < 0.2 else GALLERY.probes
        with self.client.post(
            f"{API}/attendance/check-in",
            files=_jpeg(RNG.choice(pool)),
            headers={"Authorization": f"Bearer {self.token}"},
            name="check-in (kiosk)",
            catch_response=True,
        ) as answer:
            if answer.status_code != 200 or "events" not in answer.json():
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")


class Operator(HttpUser):
    """Someone at a desk or a script with an API key: recognise, enrol, reports."""

    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['FACEREC_BENCH_KEY']}"

    @task(6)
    def recognize(self) -> None:
        pool = GALLERY.strangers if RNG.random() < 0.3 else GALLERY.probes
        with self.client.post(
            f"{API}/recognize",
            files=_jpeg(RNG.choice(pool)),
            name="recognize",
            catch_response=True,
        ) as answer:
            if answer.status_code != 200 or "faces" not in answer.json():
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")

    @task(1)
    def enrol(self) -> None:
        made = self.client.post(
            f"{API}/people",
            json={"name": f"bench-new-{uuid.uuid4().hex[:8]}"},
            name="enrol: create person",
        )
        if made.status_code != 201:
            return
        with self.client.post(
            f"{API}/people/{made.json()['id']}/faces",
            files=_jpeg(RNG.choice(GALLERY.spare)),
            name="enrol: add photo",
            catch_response=True,
        ) as answer:
            if answer.status_code != 201:
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")

    @task(2)
    def reports(self) -> None:
        self.client.get(f"{API}/attendance/today", name="report: today")
        self.client.get(f"{API}/attendance/report", name="report: month (JSON)")
        self.client.get(
            f"{API}/attendance/report", params={"format": "csv"}, name="report: month (CSV)"
        )
