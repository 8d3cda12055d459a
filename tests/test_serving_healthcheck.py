"""Several workers: uvicorn's supervisor must not kill a worker that is still starting.

A spawned worker re-imports the CLI and the app before the thread that answers the
supervisor's pings starts: about 5-7 s on 2 busy cores with Python 3.13 (measured with
``python -X importtime -c "import facerec.cli"``). uvicorn's default (5 s) then killed every
new worker, forever (tests/test_auth_sessions.py's two-worker test never got ready)."""

from __future__ import annotations

from pathlib import Path

from facerec import serving
from facerec.config import Settings

SLOWEST_MEASURED_START_S = 7.1


def test_a_starting_worker_gets_far_longer_than_its_import_takes(tmp_path: Path) -> None:
    options = serving.uvicorn_options(Settings(data_dir=tmp_path, workers=2))
    assert options["timeout_worker_healthcheck"] >= 4 * SLOWEST_MEASURED_START_S
