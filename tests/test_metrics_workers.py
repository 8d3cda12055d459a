"""``/metrics`` from a real ``facerec serve --workers 2``: one scrape sees both workers.

Known traffic goes out on fresh connections (the kernel picks the worker; each reply
names it), then every worker is scraped: each answer, parsed with the Prometheus
client's own parser, must count exactly the requests sent, whichever worker served them.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import hopper_bytes
from tests.servers import from_every_worker, running_server, send

pytestmark = [pytest.mark.models, pytest.mark.slow]
WORKERS = 2
API = "/api/v1"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with running_server(tmp_path / "data", workers=WORKERS) as root:
        yield root


def _scrape_every_worker(root: str) -> list[tuple[int, Samples]]:
    """``/metrics`` as answered by each worker (raw text, parsed)."""
    import urllib.request

    texts: list[tuple[int, Samples]] = []
    seen: set[int] = set()
    for _ in range(200):
        request = urllib.request.Request(root + "/metrics", headers={"connection": "close"})
        with urllib.request.urlopen(request, timeout=30) as response:
            worker = int(response.headers["x-facerec-worker"])
            text = response.read().decode()
        if worker not in seen:
            seen.add(worker)
            texts.append((worker, _parse(text)))
        if len(seen) == WORKERS:
            return texts
    raise AssertionError(f"only workers {sorted(seen)} answered /metrics")


def _parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _settled(root: str, wanted: dict[str, tuple[dict[str, str], int]]) -> list[tuple[int, Samples]]:
    """Every worker's scrape once the requests sent are counted (at most 15 s). A worker
    counts a request when its answer has gone out, so the client may read the answer, and
    scrape, a moment before; a count that is wrong stays wrong and fails the asserts."""
    deadline = time.monotonic() + 15
    while True:
        scrapes = _scrape_every_worker(root)
        counted = all(
            _value(samples, "facerec_http_requests_total", **labels) >= count
            for _, samples in scrapes
            for labels, count in wanted.values()
        )
        if counted or time.monotonic() > deadline:
            return scrapes
        time.sleep(0.1)


def test_counts_add_up_across_workers(server: str) -> None:
    status = send(server, "POST", f"{API}/people", {"name": "Grace Hopper"}).status
    assert status == 201
    listed = from_every_worker(server, "GET", f"{API}/people", workers=WORKERS, each=3)
    sent = sum(len(replies) for replies in listed.values())
    assert all(r.status == 200 for replies in listed.values() for r in replies)
    image = {"image_base64": base64.b64encode(hopper_bytes()).decode()}
    recognised = from_every_worker(
        server, "POST", f"{API}/recognize", image, workers=WORKERS, each=1
    )
    recognitions = sum(len(replies) for replies in recognised.values())
    assert all(r.status == 200 for replies in recognised.values() for r in replies)

    people = {"method": "GET", "route": f"{API}/people", "status": "200"}
    recognize = {"method": "POST", "route": f"{API}/recognize", "status": "200"}
    scrapes = _settled(server, {"GET": (people, sent), "POST": (recognize, recognitions)})
    assert len(scrapes) == WORKERS
    for worker, samples in scrapes:
        assert _value(samples, "facerec_http_requests_total", **people) == sent, worker
        histogram = "facerec_http_request_duration_seconds_count"
        assert _value(samples, histogram, **people) == sent, worker
        assert _value(samples, "facerec_http_requests_total", **recognize) == recognitions
        for stage in ("decode", "detect", "landmarks", "embed", "search"):
            count = _value(samples, "facerec_stage_seconds_count", stage=stage)
            assert count == recognitions, (worker, stage)
        created = {"method": "POST", "route": f"{API}/people", "status": "201"}
        assert _value(samples, "facerec_http_requests_total", **created) == 1
        assert _value(samples, "facerec_people") == 1  # from the database: never doubled
        assert _value(samples, "facerec_inference_queue_depth") == 0
        # the index series are each worker's own: one sample per live worker
        pids = {
            dict(labels)["pid"]
            for name, labels in samples
            if name == "facerec_index_faces" and "pid" in dict(labels)
        }
        assert pids == {str(w) for w in listed}, (pids, sorted(listed))
