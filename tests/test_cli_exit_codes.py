"""Exit status and messages of the command line, on the fake engine (fast).

Every failure exits non-zero with its message on standard error; a batch exits 1 when
any item failed, after ``N ok, M failed``; a usage error is Click's 2. The recognise
table labels an image by its name (or its path under a folder argument), never cut.
Flags take no value, and ``--help`` does not say they do.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner, Result

from facerec.cli import CliContext, app
from facerec.config import get_settings
from tests.fakes import FakeEngine, picture

RED, GREEN = (200, 30, 30), (30, 200, 30)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEREC_ENROL__MIN_FACE_PX", "0")  # fake faces are flat squares
    monkeypatch.setenv("FACEREC_ENROL__MIN_SHARPNESS", "0")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def invoke(runner: CliRunner, *args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], obj=CliContext(engine=FakeEngine()))


def _gallery(root: Path) -> Path:
    """Red has two photos; a notes file sits in Green's folder."""
    for person, colour, names in (("Red", RED, ["1.png", "2.png"]), ("Green", GREEN, ["1.png"])):
        folder = root / "photos" / person
        folder.mkdir(parents=True)
        for i, name in enumerate(names):
            (folder / name).write_bytes(picture([(colour, 60 + 10 * i)]))
    return root / "photos"


def test_recognize_a_text_file_exits_1_with_the_reason_on_stderr(
    run: CliRunner, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    result = invoke(run, "recognize", notes)
    assert result.exit_code == 1
    assert "error notes.txt: [invalid_image]" in result.stderr
    assert "1 ok" not in result.stderr


def test_batches_exit_1_when_any_item_failed_after_a_summary(
    run: CliRunner, tmp_path: Path
) -> None:
    photos = _gallery(tmp_path)
    clean = invoke(run, "enroll", photos)
    assert clean.exit_code == 0, clean.output
    assert "3 ok, 0 failed" in clean.stderr

    (photos / "Green" / "notes.txt").write_text("not a photo")
    again = invoke(run, "enroll", photos)  # 3 already enrolled (skipped), 1 failed
    assert again.exit_code == 1, again.output
    assert "3 ok, 1 failed" in again.stderr
    assert "Green/notes.txt" in again.stdout  # the table names it under the folder

    query = tmp_path / "query.png"
    query.write_bytes(picture([(RED, 70)]))
    stranger = tmp_path / "stranger.png"
    stranger.write_bytes(picture([((10, 10, 220), 70)]))
    mixed = invoke(run, "recognize", query, stranger, photos / "Green" / "notes.txt")
    assert mixed.exit_code == 1
    assert "2 ok, 1 failed" in mixed.stderr
    assert "error notes.txt: [invalid_image]" in mixed.stderr
    assert "Red" in mixed.stdout and "unknown" in mixed.stdout

    good = invoke(run, "recognize", query, stranger, "--json")
    assert good.exit_code == 0, good.output
    assert "2 ok, 0 failed" in good.stderr
    assert '"name": "Red"' in good.stdout


def test_other_failures_exit_non_zero_on_stderr(run: CliRunner, tmp_path: Path) -> None:
    missing = invoke(run, "people", "show", "99")
    assert missing.exit_code == 1
    assert "[not_found]" in missing.stderr
    assert "not_found" not in missing.stdout
    usage = invoke(run, "recognize", tmp_path / "absent.jpg")
    assert usage.exit_code == 2


def test_the_table_labels_images_by_name_or_path_under_the_folder(
    run: CliRunner, tmp_path: Path
) -> None:
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 6)) / "team"
    (deep / "2026").mkdir(parents=True)
    name = "grace-hopper-portrait-01.png"
    (deep / name).write_bytes(picture([(RED, 70)]))
    (deep / "2026" / name).write_bytes(picture([(GREEN, 70)]))
    (deep / "2026" / ".hidden.png").write_bytes(picture([(GREEN, 70)]))

    single = invoke(run, "recognize", deep / name)
    assert single.exit_code == 0, single.output
    assert name in single.stdout
    assert "a-rather-long-folder-name" not in single.stdout

    folder = invoke(run, "recognize", deep)
    assert folder.exit_code == 0, folder.output
    lines = folder.stdout.splitlines()
    assert any(f"│ {name} " in line for line in lines)
    assert any(f"│ 2026/{name} " in line for line in lines)
    assert ".hidden.png" not in folder.stdout
    assert "a-rather-long-folder-name" not in folder.stdout
    assert "2 ok, 0 failed" in folder.stderr


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path (Typer's own Click: its groups have ``commands``)."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_no_flag_shows_a_value_in_help(run: CliRunner) -> None:
    root = typer.main.get_command(app)
    flags_seen = 0
    for path in _commands(root):
        shown = run.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, (path, shown.output)
        assert "<bool>" not in shown.output, path
        command: Any = root
        for name in path:
            command = command.commands[name]
        for param in command.params:
            if getattr(param, "is_flag", False) and not param.hidden:
                flags_seen += 1
                line = next(x for x in shown.output.splitlines() if param.opts[0] in x)
                after = line.split(param.opts[0], 1)[1].split()
                assert not after or not after[0].startswith("<"), (path, line)
    assert flags_seen >= 8  # --json, --force, --yes, --repair, --apply, --dry-run...


def test_an_unreadable_image_is_a_failure_too(run: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    data = io.BytesIO()
    Image.new("RGB", (120, 120), RED).save(data, format="JPEG")
    broken.write_bytes(data.getvalue()[:40])  # truncated: not decodable
    result = invoke(run, "recognize", broken)
    assert result.exit_code == 1
    assert "error broken.jpg: [invalid_image]" in result.stderr
