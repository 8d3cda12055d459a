"""``facerec serve --workers 2`` with ``FACEREC_INDEX=milvus`` on a Milvus Lite file: the
supervisor serves the file, both workers search the same collections, and a face
enrolled (or deleted) through one worker is what every worker answers from its next
request on (no ``/readyz`` in between); and the server's log holds no traceback (Milvus
Lite's missing ``AllocTimestamp`` is filtered)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import call, running_server
from tests.test_workers import (
    WORKERS,
    _changed_hopper_b64,
    _hopper_b64,
    _names,
    _recognise_on_every_worker,
)

pytestmark = [pytest.mark.models, pytest.mark.slow]


def test_an_enrolment_through_one_worker_is_recognised_through_the_other(tmp_path: Path) -> None:
    env = {
        "FACEREC_INFERENCE__THREADS": "1",
        "FACEREC_INDEX": "milvus",
        "FACEREC_MILVUS__URI": str(tmp_path / "milvus.db"),
    }
    with running_server(tmp_path / "data", workers=WORKERS, env=env) as root:
        base = root + "/api/v1"
        status, person = call(base, "POST", "/people", {"name": "Grace Hopper"})
        assert status == 201
        path = f"/people/{person['id']}/faces"
        status, _ = call(base, "POST", path, {"image_base64": _hopper_b64()})
        assert status == 201

        after_enrol = _recognise_on_every_worker(base, _changed_hopper_b64())
        assert _names(after_enrol) == {"Grace Hopper"}
        assert len({reply.worker for reply in after_enrol}) == WORKERS

        status, _ = call(base, "DELETE", f"/people/{person['id']}")
        assert status == 204
        assert _names(_recognise_on_every_worker(base, _changed_hopper_b64())) == {None}
    assert (tmp_path / "milvus.db").is_dir()  # the file named, not a server elsewhere
    log = "".join(path.read_text() for path in tmp_path.glob("server-*.log"))
    assert "Application startup complete" in log  # the log this reads is the server's
    assert "Traceback" not in log
    assert "AllocTimestamp" not in log
