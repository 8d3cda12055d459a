"""``facerec serve --workers 2``: a real server, two processes, one truth.

Every response names the worker that answered (``X-FaceRec-Worker``). Each check
sends the same request until both workers have answered it, and asserts on every
answer: a face enrolled or deleted, or a threshold stored, through one worker is what
every worker answers from its next request on. Nothing here calls ``/readyz`` between
a change and the check, so no probe can bring a worker up to date for the test.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import hopper_bytes
from tests.servers import Reply, call, from_every_worker, running_server

pytestmark = [pytest.mark.models, pytest.mark.slow]
WORKERS = 2


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = {"FACEREC_INFERENCE__THREADS": "1"}
    with running_server(tmp_path / "data", workers=WORKERS, env=env) as root:
        yield root + "/api/v1"


def _hopper_b64() -> str:
    return base64.b64encode(hopper_bytes()).decode()


def _changed_hopper_b64() -> str:
    """Another photo of the same face: scaled down and re-encoded (different bytes)."""
    image = Image.open(io.BytesIO(hopper_bytes())).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return base64.b64encode(out.getvalue()).decode()


def _recognise_on_every_worker(base: str, image: str) -> list[Reply]:
    replies = from_every_worker(
        base, "POST", "/recognize", {"image_base64": image}, workers=WORKERS
    )
    flat = [reply for answers in replies.values() for reply in answers]
    assert all(reply.status == 200 for reply in flat), flat
    return flat


def _names(replies: list[Reply]) -> set[str | None]:
    return {
        face["match"]["name"] if face["match"] else None
        for reply in replies
        for face in reply.body["faces"]
    }


def test_enrol_and_delete_are_seen_by_every_worker(server: str) -> None:
    status, person = call(server, "POST", "/people", {"name": "Grace Hopper"})
    assert status == 201
    status, _ = call(
        server, "POST", f"/people/{person['id']}/faces", {"image_base64": _hopper_b64()}
    )
    assert status == 201

    after_enrol = _recognise_on_every_worker(server, _changed_hopper_b64())
    assert _names(after_enrol) == {"Grace Hopper"}
    assert len({reply.worker for reply in after_enrol}) == WORKERS

    status, _ = call(server, "DELETE", f"/people/{person['id']}")
    assert status == 204
    after_delete = _recognise_on_every_worker(server, _changed_hopper_b64())
    assert _names(after_delete) == {None}


def test_a_stored_threshold_is_used_by_every_worker(server: str) -> None:
    status, person = call(server, "POST", "/people", {"name": "Grace Hopper"})
    assert status == 201
    status, _ = call(
        server, "POST", f"/people/{person['id']}/faces", {"image_base64": _hopper_b64()}
    )
    assert status == 201
    probe = _changed_hopper_b64()
    default = _recognise_on_every_worker(server, probe)
    assert _names(default) == {"Grace Hopper"}
    similarity = default[0].body["faces"][0]["match"]["similarity"]
    assert similarity < 0.999, "the changed photo must not be identical to the enrolled one"

    status, stored = call(server, "PUT", "/calibration/threshold", {"threshold": 0.999})
    assert (status, stored["active_threshold"], stored["source"]) == (200, 0.999, "calibrated")
    strict = _recognise_on_every_worker(server, probe)
    assert {reply.body["threshold"] for reply in strict} == {0.999}
    assert _names(strict) == {None}

    status, _ = call(server, "DELETE", "/calibration/threshold")
    assert status == 204
    restored = _recognise_on_every_worker(server, probe)
    assert {reply.body["threshold"] for reply in restored} == {default[0].body["threshold"]}
    assert _names(restored) == {"Grace Hopper"}
