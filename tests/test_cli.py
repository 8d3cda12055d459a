"""The facerec command line, in-process, on a real SQLite file with the real models."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from facerec.cli import app
from facerec.config import get_settings
from tests.conftest import hopper_bytes

pytestmark = pytest.mark.models


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _photos(root: Path) -> Path:
    grace = root / "photos" / "Grace Hopper"
    grace.mkdir(parents=True)
    (grace / "a.jpg").write_bytes(hopper_bytes())
    mirrored = ImageOps.mirror(Image.open(io.BytesIO(hopper_bytes())))
    mirrored.save(grace / "b.png")
    (grace / "notes.txt").write_text("not a photo")
    nobody = root / "photos" / "Nobody"
    nobody.mkdir()
    noise = np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(nobody / "noise.jpg")
    (root / "photos" / "loose.jpg").write_bytes(hopper_bytes())
    return root / "photos"


def test_enroll_recognize_people_index(runner: CliRunner, tmp_path: Path) -> None:
    photos = _photos(tmp_path)
    first = runner.invoke(app, ["enroll", str(photos)])
    assert first.exit_code == 1, first.output  # a photo failed: the batch fails
    assert "enrolled 2, skipped 1, failed 2, people created 2" in first.output
    assert "invalid_image" in first.output
    assert "no_face" in first.output

    again = runner.invoke(app, ["enroll", str(photos)])
    assert "enrolled 0, skipped 3, failed 2, people created 0" in again.output
    assert "already enrolled" in again.output

    listed = runner.invoke(app, ["people", "list"])
    assert "Grace Hopper" in listed.output
    assert "2 of 2" in listed.output

    query = tmp_path / "query.jpg"
    Image.open(io.BytesIO(hopper_bytes())).resize((256, 300)).save(query)
    result = runner.invoke(app, ["recognize", str(query), "--json"])
    assert result.exit_code == 0, result.output
    faces = json.loads(result.output)[str(query)]["faces"]
    assert faces[0]["match"]["name"] == "Grace Hopper"
    table = runner.invoke(app, ["recognize", str(query), str(photos / "Nobody" / "noise.jpg")])
    assert "Grace Hopper" in table.output
    assert "no face" in table.output

    verified = runner.invoke(app, ["index", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "faces in database 2, in index 2" in verified.output
    assert runner.invoke(app, ["index", "rebuild"]).exit_code == 0

    shown = runner.invoke(app, ["people", "show", "1"])
    assert "Grace Hopper" in shown.output
    missing = runner.invoke(app, ["people", "show", "99"])
    assert missing.exit_code == 1
    assert "not_found" in missing.output
    deleted = runner.invoke(app, ["people", "delete", "1", "--yes"])
    assert deleted.exit_code == 0
    after = runner.invoke(app, ["recognize", str(query), "--json"])
    assert json.loads(after.output)[str(query)]["faces"][0]["match"] is None


def test_db_upgrade_is_idempotent(runner: CliRunner) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert "newest revision" in result.output


def test_calibrate_on_a_tiny_gallery(runner: CliRunner, tmp_path: Path) -> None:
    photos = _photos(tmp_path)
    runner.invoke(app, ["enroll", str(photos)])
    report = runner.invoke(app, ["calibrate", "--json"])
    assert report.exit_code == 0, report.output
    body = json.loads(report.output)
    assert body["faces"] == 2
    assert body["genuine_pairs"] == 1
    assert body["reliable"] is False
    refused = runner.invoke(app, ["calibrate", "--apply"])
    assert refused.exit_code == 1
    assert "not applied" in refused.output


def test_reembed_after_the_embedding_recipe_changes(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = _photos(tmp_path)
    query = tmp_path / "query.jpg"
    Image.open(io.BytesIO(hopper_bytes())).resize((256, 300)).save(query)
    monkeypatch.setenv("FACEREC_INFERENCE__TTA", "none")
    get_settings.cache_clear()
    assert runner.invoke(app, ["enroll", str(photos)]).exit_code == 1  # notes.txt, noise.jpg
    monkeypatch.delenv("FACEREC_INFERENCE__TTA")
    get_settings.cache_clear()
    # the mirror-averaging engine does not search faces embedded without it...
    before = json.loads(runner.invoke(app, ["recognize", str(query), "--json"]).output)
    assert before[str(query)]["faces"][0]["match"] is None
    result = runner.invoke(app, ["index", "reembed"])
    assert result.exit_code == 0, result.output
    assert "re-embedded 2 faces with dlib-resnet-v1+mirror" in result.output
    # ...until they are re-embedded; a second run has nothing left to do
    after = json.loads(runner.invoke(app, ["recognize", str(query), "--json"]).output)
    assert after[str(query)]["faces"][0]["match"]["name"] == "Grace Hopper"
    assert "re-embedded 0 faces" in runner.invoke(app, ["index", "reembed"]).output
