"""``facerec calibrate --apply`` on a gallery big enough to measure the target FAR: the
recommended threshold becomes the active one for every worker.

The gallery is the one of tests/test_calibration_math.py (known cosines): 33 impostor
pairs whose four highest scores are 0.93012, 0.86243, 0.755574 and 0.477105. For a
target FAR of 0.05, floor(0.05 * 33) = 1 impostor may reach the threshold: the lowest
one in steps of 0.0001 above the second highest score, 0.86243, is 0.8625.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from facerec.app import create_app
from facerec.cli import app
from facerec.config import get_settings
from facerec.db.engine import make_engine
from tests.fakes import FakeEngine
from tests.test_calibration_math import insert_gallery

pytestmark = pytest.mark.models  # the command loads the configured (real) engine


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEREC_AUTH__ENABLED", "false")  # _threshold asks without a key
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _threshold() -> dict[str, object]:
    """What the API answers on the same data dir (another process, any engine)."""
    with TestClient(create_app(get_settings(), engine=FakeEngine())) as client:
        body: dict[str, object] = client.get("/api/v1/calibration/threshold").json()
    return body


def test_calibrate_apply_stores_the_recommended_threshold(runner: CliRunner) -> None:
    empty = runner.invoke(app, ["calibrate", "--json"])
    assert empty.exit_code == 0, empty.output
    model = json.loads(empty.output)["model"]  # the model the command calibrates
    engine = make_engine(get_settings().db_url)
    try:
        insert_gallery(engine, model=model, dim=128)
    finally:
        engine.dispose()

    # 0.02 * 33 = 0.66 expected false accepts: not measurable, nothing is stored
    refused = runner.invoke(app, ["calibrate", "--apply", "--target-far", "0.02"])
    assert refused.exit_code == 1
    assert "not applied" in refused.output
    assert _threshold()["source"] == "settings"

    # 0.8625 is below the floor (auth.threshold_floor 0.9; 33 pairs cannot calibrate
    # the safe value): it needs --force
    risky = runner.invoke(app, ["calibrate", "--apply", "--target-far", "0.05"])
    assert risky.exit_code == 1
    assert "risky_threshold" in risky.output
    assert _threshold()["source"] == "settings"

    applied = runner.invoke(app, ["calibrate", "--apply", "--target-far", "0.05", "--force"])
    assert applied.exit_code == 0, applied.output
    said = " ".join(applied.output.split())  # as wrapped at any terminal width
    assert "6 people, 9 faces: 33 different-person pairs, 3 same-person pairs" in said
    assert "active threshold is now 0.8625" in said
    stored = _threshold()
    assert (stored["active_threshold"], stored["source"]) == (0.8625, "calibrated")
