"""``GET /metrics`` in one process (TestClient, fake engine): what each series counts.

The process-local instruments are module-wide, so these tests compare two scrapes (before
and after known traffic) and assert on the difference; the database series are absolute.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlmodel import Session

from facerec.app import create_app
from facerec.config import Settings
from facerec.errors import Busy
from facerec.inference.batching import MicroBatcher
from facerec.inference.runtime import FaceRuntime
from facerec.metrics.collector import DatabaseCollector, DbSeries, count_rows
from facerec.metrics.multiproc import ENV, worker_metrics_dir
from facerec.metrics.multiproc import scrape as metrics_scrape
from facerec.people.models import Person
from tests import credentials
from tests.fakes import FakeEngine, picture

RED, GREEN, BLUE = (220, 40, 40), (40, 220, 40), (40, 40, 220)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


@pytest.fixture
def noon(settings: Settings) -> datetime:
    """A fixed moment in the attendance zone (check-ins are per local day)."""
    return datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo(settings.attendance.timezone))


@pytest.fixture
def app_client(settings: Settings, noon: datetime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=FakeEngine(), clock=lambda: noon)) as client:
        yield client


def _enrol(client: TestClient, name: str, colour: tuple[int, int, int]) -> int:
    person = int(client.post("/api/v1/people", json={"name": name}).json()["id"])
    files = {"file": ("a.png", picture([(colour, 80)]))}
    assert client.post(f"/api/v1/people/{person}/faces", files=files).status_code == 201
    return person


def test_requests_are_counted_by_route_template_method_and_status(
    app_client: TestClient,
) -> None:
    before = scrape(app_client)
    for person_id in (7, 8, 9):  # three raw paths, one template
        assert app_client.get(f"/api/v1/people/{person_id}").status_code == 404
    assert app_client.get("/api/v1/healthz").status_code == 200
    for _ in range(2):
        assert app_client.get("/healthz").status_code == 200
    assert app_client.get("/no/such/page/here").status_code == 404
    after = scrape(app_client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    person = {"method": "GET", "route": "/api/v1/people/{person_id}", "status": "404"}
    assert delta("facerec_http_requests_total", **person) == 3
    assert delta("facerec_http_request_duration_seconds_count", **person) == 3
    assert delta("facerec_http_request_duration_seconds_sum", **person) > 0
    bucket = {**person, "le": "+Inf"}
    assert delta("facerec_http_request_duration_seconds_bucket", **bucket) == 3
    health = {"method": "GET", "status": "200"}
    assert delta("facerec_http_requests_total", route="/api/v1/healthz", **health) == 1
    assert delta("facerec_http_requests_total", route="/healthz", **health) == 2
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert delta("facerec_http_requests_total", **unmatched) == 1
    # the first scrape is counted by the second; the raw paths are never labels
    scraped = {"method": "GET", "route": "/metrics", "status": "200"}
    assert delta("facerec_http_requests_total", **scraped) == 1
    routes = {dict(labels).get("route") for _, labels in after}
    assert not {r for r in routes if r and ("/7" in r or "/no/such" in r)}


def test_recognition_records_every_stage_once(app_client: TestClient) -> None:
    _enrol(app_client, "Red", RED)
    before = scrape(app_client)
    for _ in range(2):
        files = {"file": ("p.png", picture([(RED, 80), (GREEN, 80)]))}
        assert app_client.post("/api/v1/recognize", files=files).status_code == 200
    after = scrape(app_client)
    for stage in ("decode", "detect", "landmarks", "embed", "search"):
        name = "facerec_stage_seconds_count"
        assert value(after, name, stage=stage) - value(before, name, stage=stage) == 2, stage
    assert value(after, "facerec_inference_queue_depth") == 0


def test_database_series_and_checkins_by_device_and_status(app_client: TestClient) -> None:
    red = _enrol(app_client, "Red", RED)
    _enrol(app_client, "Green", GREEN)
    app_client.post("/api/v1/people", json={"name": "No face yet"})
    assert app_client.delete(f"/api/v1/people/{red}").status_code == 204
    before = scrape(app_client)
    frame = {"file": ("f.png", picture([(GREEN, 80), (BLUE, 80)]))}  # Green and a stranger
    for _ in range(2):  # the second is a duplicate within the dedupe window
        answer = app_client.post("/api/v1/attendance/check-in?device=door-1", files=frame)
        assert answer.status_code == 200, answer.text
    after = scrape(app_client)

    def checkins(status: str) -> float:
        labels = {"device": "door-1", "status": status}
        return value(after, "facerec_checkins_total", **labels) - value(
            before, "facerec_checkins_total", **labels
        )

    assert (checkins("checked_in"), checkins("duplicate"), checkins("unknown")) == (1, 1, 2)
    assert value(after, "facerec_people") == 2  # Red was removed
    assert value(after, "facerec_faces", model=FakeEngine.model_id) == 1  # Red's face went
    assert value(after, "facerec_unknown_faces_queued") == 1  # the stranger, once (dedupe)
    assert value(after, "facerec_attendance_events", source="camera") == 1
    assert value(after, "facerec_database_up") == 1
    # enrol, enrol, delete: three changes; this worker's index has caught up with them
    assert value(after, "facerec_index_db_generation") == 3
    assert value(after, "facerec_index_generation") == 3
    assert value(after, "facerec_index_faces") == 1


def test_metrics_need_the_metrics_permission(settings: Settings, noon: datetime) -> None:
    secured = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"enabled": True})}
    )
    with TestClient(create_app(secured, engine=FakeEngine(), clock=lambda: noon)) as client:
        db = client.app.state.facerec.db  # type: ignore[attr-defined]
        viewer = credentials.api_key(db, name="v", role="viewer", now=noon)
        manager = credentials.api_key(db, name="m", role="manager", now=noon)
        scraper = credentials.api_key(db, name="p", role="admin", now=noon, scopes=("metrics",))
        narrow = credentials.api_key(db, name="r", role="admin", now=noon, scopes=("status",))
        assert client.get("/metrics").status_code == 401
        for key in (viewer, manager, narrow):
            answer = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 403, answer.text
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {scraper}"})
        assert answer.status_code == 200
        assert "facerec_people 0.0" in answer.text


class _Blocking(FakeEngine):
    """Detection waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def detect(self, image: np.ndarray) -> list:  # type: ignore[type-arg]
        self.started.set()
        self.release.wait(10)
        return super().detect(image)


def test_queue_depth_and_shed_requests(settings: Settings) -> None:
    from facerec.metrics.instruments import QUEUE_DEPTH, SHED

    full = settings.model_copy(
        update={"inference": settings.inference.model_copy(update={"max_pending": 1})}
    )
    engine = _Blocking()
    runtime = FaceRuntime(engine, full)
    runtime.load()
    shed = SHED.labels("inference_queue")

    async def scenario() -> tuple[float, float, float]:
        depth_before, shed_before = QUEUE_DEPTH._value.get(), shed._value.get()
        first = asyncio.ensure_future(runtime.run(picture([(RED, 80)])))
        await asyncio.to_thread(engine.started.wait, 10)
        depth_during = QUEUE_DEPTH._value.get() - depth_before
        with pytest.raises(Busy):
            await runtime.run(picture([(RED, 80)]))
        engine.release.set()
        await first
        return (
            depth_during,
            QUEUE_DEPTH._value.get() - depth_before,
            shed._value.get() - shed_before,
        )

    try:
        assert asyncio.run(scenario()) == (1, 0, 1)
    finally:
        engine.release.set()
        runtime.close()


def test_batch_sizes_are_observed() -> None:

    def run(chips: np.ndarray) -> np.ndarray:
        return np.ones((len(chips), 4), dtype=np.float32)

    batcher = MicroBatcher(run, max_batch=64, max_wait_ms=0, max_queue=4)
    before = parse_family("facerec_embed_batch_size")
    try:
        batcher.submit(np.zeros((3, 2, 2, 3), dtype=np.uint8))
        batcher.submit(np.zeros((5, 2, 2, 3), dtype=np.uint8))
    finally:
        batcher.close()
    after = parse_family("facerec_embed_batch_size")
    assert after["facerec_embed_batch_size_count"] - before["facerec_embed_batch_size_count"] == 2
    assert after["facerec_embed_batch_size_sum"] - before["facerec_embed_batch_size_sum"] == 8


def parse_family(name: str) -> dict[str, float]:
    from prometheus_client import REGISTRY, generate_latest

    text = generate_latest(REGISTRY).decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        if family.name == name
        for s in family.samples
        if not s.labels
    }


def test_one_more_database_series_is_one_entry(tmp_path: Path) -> None:
    db = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    Person.metadata.create_all(db)
    with Session(db) as session:
        session.add_all([Person(name="A"), Person(name="B"), Person(name="B")])
        session.commit()
    series = [DbSeries("test_people_by_name", "People by name", count_rows(Person, Person.name))]
    families = list(DatabaseCollector(db, series).collect())
    samples = {(s.name, tuple(s.labels.items())): s.value for f in families for s in f.samples}
    assert samples == {
        ("test_people_by_name", (("name", "A"),)): 1,
        ("test_people_by_name", (("name", "B"),)): 2,
        ("facerec_database_up", ()): 1,
    }


def test_a_database_that_does_not_answer_leaves_the_other_series(tmp_path: Path) -> None:
    db = create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")  # no such directory
    families = list(DatabaseCollector(db).collect())
    assert [(f.name, [s.value for s in f.samples]) for f in families] == [
        ("facerec_database_up", [0.0])
    ]


def test_workers_get_a_fresh_directory_removed_afterwards(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with worker_metrics_dir() as path:
        assert path.is_dir() and not any(path.iterdir())
        assert os.environ[ENV] == str(path)
        (path / "counter_1.db").write_bytes(b"x")
    assert not path.exists()
    assert ENV not in os.environ
    # a directory the operator named is kept, emptied of the last run's files
    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_99.db").write_bytes(b"old")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv(ENV, str(given))
    with worker_metrics_dir() as path:
        assert path == given
        assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]
    assert given.is_dir()


RECORD = """
import os, sys
from facerec.metrics.instruments import QUEUE_DEPTH, index_state, observe_request
for _ in range(int(sys.argv[1])):
    observe_request("GET", "/api/v1/people", 200, 0.01)
index_state(5, 7)
QUEUE_DEPTH.inc()
os._exit(0)  # killed: no clean stop, no mark_process_dead
"""


def test_one_scrape_sums_every_process_and_forgets_dead_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two processes record into one directory and die without a clean stop; a scrape
    sums their counters and leaves out their live gauges (their processes are gone)."""
    directory = tmp_path / "prom"
    directory.mkdir()
    env = {**os.environ, ENV: str(directory)}
    for count in (3, 4):
        subprocess.run([sys.executable, "-c", RECORD, str(count)], env=env, check=True)
    assert len(list(directory.glob("gauge_live*.db"))) == 4  # two gauges x two processes
    monkeypatch.setenv(ENV, str(directory))
    db = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    samples = parse(metrics_scrape(db).decode())
    labels = {"method": "GET", "route": "/api/v1/people", "status": "200"}
    assert value(samples, "facerec_http_requests_total", **labels) == 7
    assert value(samples, "facerec_http_request_duration_seconds_count", **labels) == 7
    assert not [key for key in samples if key[0] == "facerec_index_faces"]
    assert value(samples, "facerec_inference_queue_depth") == 0
    assert not list(directory.glob("gauge_live*.db"))
