"""Every HTTP example in README.md, run as a first-day user would, against a real server.

The README's convention (stated in its HTTP API section):

- Every ```` ```sh ```` block that uses ``$API`` runs, in README order, on one fresh
  server with access control on. The first of them assigns ``API=...``: it runs once,
  with ``http://127.0.0.1:8000`` replaced by the test server's address, and the variables
  it sets (``API``, ``KEY``, ``AUTH``) are kept for the rest.
- A command is one line, or several joined by a trailing ``\\`` or ``|``; lines holding
  only a comment are not commands. Every command must exit 0 and must not answer an
  error body (on standard output or in a file it writes).
- A command's trailing comment ``# 204`` (any three digits) is what it prints; a trailing
  ``# {...}`` is the shape of its JSON answer. Otherwise a ```` ```json ```` block right
  after the command block (blank lines only between) is the shape of the answer of every
  command of that block that prints JSON, and at least one must.
- Shapes: the same keys recursively (an object that shows a ``"..."`` key may hold more),
  the same JSON types (``null`` stands for any), lists compared by their first element;
  values may differ, except the model, engine and detector names.

The commands run in a temporary folder holding the files the README names, made from
packaged pictures: Grace Hopper's portrait (matplotlib) as Ada's photos, and her next to
scikit-image's astronaut and two faces from its LFW subset as ``group.jpg``/``frame.jpg``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
README_ADDRESS = "http://127.0.0.1:8000"
MORE_KEYS = "..."
EXACT_KEYS = frozenset({"model", "engine", "detector"})
"""Keys whose README value must be the server's (the issue: the model id had drifted)."""

_FENCE = re.compile(r"^```(\w*)\s*$")
_STATUS = re.compile(r"^(\d{3})\b")


@dataclass
class Block:
    lang: str
    text: str
    line: int
    """The README line of the opening fence."""
    answer: Any = None
    """The JSON block right after this one, parsed (None when there is none)."""
    answer_line: int = 0


@dataclass
class Command:
    code: str
    comment: str | None
    block: Block
    problems: list[str] = field(default_factory=list)


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block; each ``sh`` block gets the ``json`` block right after it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    last_end = -2
    while i < len(lines):
        opened = _FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        block = Block(opened.group(1), "\n".join(lines[start + 1 : i]), start + 1)
        between = lines[last_end + 1 : start]
        right_after = all(not line.strip() for line in between)
        if block.lang == "json" and blocks and blocks[-1].lang == "sh" and right_after:
            blocks[-1].answer = json.loads(block.text)
            blocks[-1].answer_line = block.line
        blocks.append(block)
        last_end = i
        i += 1
    return blocks


def split_comment(line: str) -> tuple[str, str | None]:
    """``(code, comment)``: a ``#`` outside quotes that starts a word begins a comment."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line, None


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    pending: list[str] = []
    for raw in block.text.splitlines():
        code, comment = split_comment(raw)
        if not code.strip() and not pending:
            continue  # a comment-only (or blank) line
        pending.append(code)
        if code.endswith("\\") or code.endswith("|"):
            continue
        found.append(Command("\n".join(pending), comment, block))
        pending = []
    assert not pending, f"README.md:{block.line}: a command continues past its block"
    return found


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape_problems(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """How ``actual`` differs in shape from the README's ``expected`` (empty: same)."""
    if expected is None or actual is None:
        return []
    if json_type(expected) != json_type(actual):
        return [f"{path}: README shows {json_type(expected)}, the server sent {json_type(actual)}"]
    if isinstance(expected, list) and expected:
        if not actual:
            return [f"{path}: README shows items, the server sent an empty list"]
        return shape_problems(expected[0], actual[0], f"{path}[0]")
    return _object_problems(expected, actual, path) if isinstance(expected, dict) else []


def _object_problems(expected: dict[str, Any], actual: dict[str, Any], path: str) -> list[str]:
    shown = set(expected) - {MORE_KEYS}
    missing = sorted(shown - set(actual))
    problems = [f"{path}.{k}: README shows it, the server does not send it" for k in missing]
    if MORE_KEYS not in expected:
        extra = sorted(set(actual) - shown)
        problems += [f"{path}.{k}: the server sends it, README does not show it" for k in extra]
    for key in sorted(shown & set(actual)):
        if key in EXACT_KEYS and expected[key] != actual[key]:
            shows, sent = expected[key], actual[key]
            problems.append(f"{path}.{key}: README shows {shows!r}, the server sent {sent!r}")
        problems += shape_problems(expected[key], actual[key], f"{path}.{key}")
    return problems


def expected_answer(command: Command) -> Any:
    """The shape a command's JSON answer must have: its own ``# {...}`` comment, else its
    block's answer (None: not compared)."""
    comment = command.comment or ""
    if not comment.startswith("{"):
        return command.block.answer
    try:
        return json.JSONDecoder().raw_decode(comment)[0]
    except json.JSONDecodeError:
        command.problems.append(f"the comment {comment!r} looks like an answer but is not JSON")
        return None


def parsed_answer(command: Command, text: str) -> Any:
    """The JSON a command printed (None when it printed none, or an error body)."""
    if not text.startswith(("{", "[")):
        if (command.comment or "").startswith("{"):
            command.problems.append(f"printed {text[:200]!r}, not the JSON its comment shows")
        return None
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        command.problems.append(f"printed something that is not JSON: {text[:200]!r}")
        return None
    if isinstance(answer, dict) and "error" in answer:
        command.problems.append(f"answered an error: {text[:300]}")
        return None
    return answer


def check_output(command: Command, out: str) -> bool:
    """Record what is wrong with one command's output; whether it was compared with its
    block's README answer."""
    text = out.strip()
    status = _STATUS.match(command.comment or "")
    if status:
        if text != status.group(1):
            command.problems.append(f"printed {text!r}, README says {status.group(1)}")
        return False
    expected = expected_answer(command)
    answer = parsed_answer(command, text)
    if answer is None or expected is None:
        return False
    command.problems += shape_problems(expected, answer)
    return expected is command.block.answer


def error_files(folder: Path, before: dict[Path, int]) -> list[str]:
    """Files a command wrote that hold an error body instead of what it fetched."""
    written = []
    for path in folder.iterdir():
        if path.is_file() and before.get(path) != path.stat().st_mtime_ns:
            head = path.read_bytes()[:200]
            if head.lstrip().startswith(b'{"error"'):
                written.append(f"wrote an error body to {path.name}: {head!r}")
    return written


def write_example_files(folder: Path) -> None:
    """The files the README's examples name (see its HTTP API section)."""
    import numpy as np
    from PIL import Image, ImageOps
    from skimage import data

    from tests.conftest import hopper_bytes

    (folder / "ada-1.jpg").write_bytes(hopper_bytes())
    ada = Image.open(folder / "ada-1.jpg").convert("RGB")
    ImageOps.mirror(ada).save(folder / "ada-2.jpg", quality=95)
    ada.crop((30, 20, 500, 580)).save(folder / "ada-3.jpg", quality=90)
    ada.resize((384, 450)).save(folder / "ada-4.jpg", quality=90)
    ada.crop((10, 10, 505, 590)).save(folder / "a.jpg", quality=90)
    ImageOps.mirror(ada).resize((400, 469)).save(folder / "b.jpg", quality=90)
    faces: np.ndarray[Any, Any] = data.lfw_subset()  # type: ignore[no-untyped-call]
    lfw = (faces * 255).astype(np.uint8)  # 25x25 grey LFW faces, 0 to 1
    group = Image.new("RGB", (1624, 600), "white")
    group.paste(ada, (0, 0))
    astronaut: np.ndarray[Any, Any] = data.astronaut()  # type: ignore[no-untyped-call]
    group.paste(Image.fromarray(astronaut), (512, 44))
    for index, top in ((0, 0), (50, 300)):
        face = (
            Image.fromarray(lfw[index]).convert("RGB").resize((300, 300), Image.Resampling.BICUBIC)
        )
        group.paste(face, (1024, top))
    group.save(folder / "group.jpg", quality=90)
    (folder / "frame.jpg").write_bytes((folder / "group.jpg").read_bytes())
    chelsea: np.ndarray[Any, Any] = data.chelsea()  # type: ignore[no-untyped-call]
    Image.fromarray(chelsea).save(folder / "cat.jpg", quality=90)
    (folder / "notes.txt").write_text("not an image\n")
    bin_dir = folder / ".venv" / "bin"  # the README runs `.venv/bin/facerec`
    bin_dir.mkdir(parents=True)
    (bin_dir / "facerec").symlink_to(Path(sys.executable).with_name("facerec"))


def bash(script: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["bash", "-c", "set -o pipefail\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def set_up(block: Block, *, root: str, cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """Run the README's set-up block; the environment it leaves (its variables too)."""
    assert README_ADDRESS in block.text, f"README.md:{block.line}: the set-up names no address"
    script = "set -a\n" + block.text.replace(README_ADDRESS, root) + "\nenv -0"
    done = bash(script, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr.decode()
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


def runnable_blocks() -> list[Block]:
    """The set-up block (the first ``sh`` block that assigns ``API=``), then every later
    ``sh`` block that uses ``$API``."""
    shell = [b for b in fenced_blocks(README.read_text()) if b.lang == "sh"]
    first = next((i for i, b in enumerate(shell) if re.search(r"^API=", b.text, re.M)), None)
    assert first is not None, "README.md: no sh block assigns API="
    return [shell[first], *(b for b in shell[first + 1 :] if "$API" in b.text)]


@pytest.mark.models
@pytest.mark.slow
def test_every_readme_example_answers_as_the_readme_shows(tmp_path: Path) -> None:
    from tests.servers import running_server

    blocks = runnable_blocks()
    assert shutil.which("curl") and shutil.which("bash"), "the README examples need bash and curl"
    work = tmp_path / "examples"
    work.mkdir()
    write_example_files(work)
    data_dir = work / "data"
    env = {**os.environ, "FACEREC_DATA_DIR": str(data_dir)}
    server_env = {"FACEREC_AUTH__ENABLED": "true", "FACEREC_ATTENDANCE__TIMEZONE": "Asia/Shanghai"}
    ran: list[Command] = []
    answered: set[int] = set()
    with running_server(data_dir, env=server_env) as root:
        shell_env = set_up(blocks[0], root=root, cwd=work, env=env)
        for block in blocks[1:]:
            for command in commands(block):
                before = {p: p.stat().st_mtime_ns for p in work.iterdir() if p.is_file()}
                done = bash(command.code, cwd=work, env=shell_env)
                if done.returncode != 0:
                    command.problems.append(f"exit {done.returncode}: {done.stderr.decode()[:300]}")
                if check_output(command, done.stdout.decode(errors="replace")):
                    answered.add(block.line)
                command.problems += error_files(work, before)
                ran.append(command)
    problems = [
        f"README.md:{c.block.line}: {c.code.splitlines()[0][:90]}\n    " + "\n    ".join(c.problems)
        for c in ran
        if c.problems
    ]
    problems += [
        f"README.md:{b.answer_line}: no command of the block above printed the JSON this shows"
        for b in blocks[1:]
        if b.answer is not None and b.line not in answered
    ]
    assert not problems, "\n".join(problems)
    assert len(ran) >= 40 and len(answered) >= 10, (len(ran), len(answered))


# The checker itself, without a server: it must notice each kind of drift.

PERSON = {"id": 1, "name": "Ada", "faces": [{"id": 1, "box": [1, 2, 3, 4]}], "note": None}


def test_same_shape_passes_whatever_the_values() -> None:
    actual = {"id": 7, "name": "Bob", "faces": [{"id": 9, "box": [5, 6, 7, 8]}, {}], "note": "x"}
    assert shape_problems(PERSON, actual) == []


def test_a_key_the_server_adds_is_reported() -> None:
    actual = {**PERSON, "cover_face_id": 1}
    assert shape_problems(PERSON, actual) == [
        "$.cover_face_id: the server sends it, README does not show it"
    ]


def test_a_renamed_key_is_reported_both_ways() -> None:
    actual = {"id": 1, "full_name": "Ada", "faces": PERSON["faces"], "note": None}
    assert shape_problems(PERSON, actual) == [
        "$.name: README shows it, the server does not send it",
        "$.full_name: the server sends it, README does not show it",
    ]


def test_nested_keys_types_and_lists_are_compared() -> None:
    actual = {**PERSON, "faces": [{"id": "1", "box": [1, 2, 3, 4], "score": 1.0}]}
    assert shape_problems(PERSON, actual) == [
        "$.faces[0].score: the server sends it, README does not show it",
        "$.faces[0].id: README shows number, the server sent string",
    ]
    assert shape_problems(PERSON, {**PERSON, "faces": []}) == [
        "$.faces: README shows items, the server sent an empty list"
    ]


def test_more_keys_marker_and_exact_model_id() -> None:
    shown = {"id": 1, MORE_KEYS: MORE_KEYS, "model": "dlib-resnet-v1"}
    actual = {"id": 2, "box": [1], "model": "dlib-resnet-v1+mirror"}
    assert shape_problems(shown, actual) == [
        "$.model: README shows 'dlib-resnet-v1', the server sent 'dlib-resnet-v1+mirror'"
    ]


def test_blocks_commands_and_comments_are_read_as_the_readme_says() -> None:
    text = "\n".join(
        [
            "```sh",
            'curl -s "$API/a" \\',
            '  -d \'{"x": "#1"}\'   # 204',
            "# only a comment",
            "printf x |",
            '  curl -s "$API/b"',
            "```",
            "",
            "```json",
            '{"ok": true}',
            "```",
            "prose",
            "```json",
            '{"not": "an answer"}',
            "```",
        ]
    )
    blocks = fenced_blocks(text)
    assert [b.lang for b in blocks] == ["sh", "json", "json"]
    assert blocks[0].answer == {"ok": True}
    found = commands(blocks[0])
    assert [(c.code, c.comment) for c in found] == [
        ('curl -s "$API/a" \\\n  -d \'{"x": "#1"}\'', "204"),
        ('printf x |\n  curl -s "$API/b"', None),
    ]


def test_an_error_answer_or_a_wrong_status_is_a_problem() -> None:
    block = Block("sh", "", 1, answer={"ok": True})
    failed = Command("curl", None, block)
    assert not check_output(failed, '{"error": {"code": "not_found"}}')
    assert failed.problems and "answered an error" in failed.problems[0]
    status = Command("curl", "204", block)
    check_output(status, "404\n")
    assert status.problems == ["printed '404', README says 204"]
    fine = Command("curl", None, block)
    assert check_output(fine, '{"ok": false}') and not fine.problems


if __name__ == "__main__":  # `python -m tests.test_readme_examples`
    sys.exit(pytest.main([__file__, "-q", "-p", "no:randomly"]))
