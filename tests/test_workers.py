"""``facerec serve --workers 2``: a real server, two processes, one truth.

A face enrolled or deleted through whichever worker answers is seen by every
worker on its very next request.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import hopper_bytes
from tests.servers import call, running_server

pytestmark = [pytest.mark.models, pytest.mark.slow]
REQUESTS = 16


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = {"FACEREC_INFERENCE__THREADS": "1"}
    with running_server(tmp_path / "data", workers=2, env=env) as root:
        yield root + "/api/v1"


def _recognised(base: str, image: str) -> tuple[list[str | None], set[int]]:
    names: list[str | None] = []
    workers: set[int] = set()
    for _ in range(REQUESTS):
        status, body = call(base, "POST", "/recognize", {"image_base64": image})
        assert status == 200, body
        names.append(body["faces"][0]["match"]["name"] if body["faces"][0]["match"] else None)
        _, ready = call(base, "GET", "/readyz")
        assert ready["index"] is True, ready
        workers.add(ready["worker"])
    return names, workers


def test_enrol_and_delete_are_seen_by_every_worker(server: str) -> None:
    image = base64.b64encode(hopper_bytes()).decode()
    status, person = call(server, "POST", "/people", {"name": "Grace Hopper"})
    assert status == 201
    status, _ = call(server, "POST", f"/people/{person['id']}/faces", {"image_base64": image})
    assert status == 201

    names, workers = _recognised(server, image)
    assert names == ["Grace Hopper"] * REQUESTS
    assert len(workers) == 2, "the requests did not reach both workers"

    status, _ = call(server, "DELETE", f"/people/{person['id']}")
    assert status == 204
    names, _ = _recognised(server, image)
    assert names == [None] * REQUESTS
