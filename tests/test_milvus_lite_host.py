"""Milvus Lite beside a server: a CLI command on a Lite file another process holds says
exactly what to do (and no traceback), and the error records Lite logs for what is no
fault (pymilvus asking for ``AllocTimestamp``, a locked file, workers racing to create
a collection) stay out of the log while every other record of those loggers passes."""

from __future__ import annotations

import fcntl
import io
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner, Result

from facerec.cli import app
from facerec.config import get_settings
from facerec.index.factory import COLLECTIONS_LOCK, open_milvus
from facerec.index.milvus_index import MilvusIndex, connect
from facerec.index.milvus_lite_host import quiet_milvus_logs
from tests.conftest import hopper_bytes

HOLD = """
import sys, time
from milvus_lite.server_manager import server_manager_instance
print(server_manager_instance.start_and_get_uri(sys.argv[1]), flush=True)
time.sleep(600)
"""


@pytest.fixture
def lite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The data folder's Milvus Lite file, named to the CLI by its settings."""
    data = tmp_path / "data"
    data.mkdir()
    path = data / "milvus.db"
    monkeypatch.setenv("FACEREC_DATA_DIR", str(data))
    monkeypatch.setenv("FACEREC_INDEX", "milvus")
    monkeypatch.setenv("FACEREC_MILVUS__URI", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
def held(lite: Path) -> Iterator[Path]:
    """The file, held open by another process (as ``facerec serve`` holds it)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lite)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith(b"http://127.0.0.1:")
        yield lite
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _says_what_to_do(result: Result, path: Path) -> None:
    text = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 1, result.output
    assert f"the Milvus Lite file {path} is open in another process" in text
    assert "Stop that process and run this again" in text
    assert "FACEREC_MILVUS__URI=http://HOST:19530" in text
    assert "Traceback" not in result.output


def test_doctor_and_index_rebuild_on_a_held_file_say_what_to_do(held: Path) -> None:
    assert _cli("db", "upgrade").exit_code == 0
    _says_what_to_do(_cli("doctor"), held)
    rebuild = _cli("index", "rebuild")
    _says_what_to_do(rebuild, held)
    assert "rebuild requested at generation 1" in rebuild.output  # the holder reloads it


@pytest.mark.models
def test_index_verify_on_a_held_file_says_what_to_do(held: Path) -> None:
    _says_what_to_do(_cli("index", "verify"), held)


def test_the_same_commands_work_once_the_file_is_free(lite: Path) -> None:
    assert _cli("db", "upgrade").exit_code == 0
    doctor = _cli("doctor")
    assert doctor.exit_code == 0, doctor.output
    assert "is open in another process" not in doctor.output
    rebuild = _cli("index", "rebuild")
    assert rebuild.exit_code == 0, rebuild.output
    assert "milvus reloaded with 0 faces" in rebuild.output


def test_creating_collections_on_lite_logs_no_alloc_timestamp_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    index = MilvusIndex(connect(str(tmp_path / "fresh.db")), 8)  # creates three collections
    index.close()
    assert [r for r in caplog.records if r.name == "grpc._server"] == []
    assert "AllocTimestamp" not in caplog.text


def test_workers_on_one_host_take_turns_creating_the_collections(lite: Path) -> None:
    """Milvus Lite loses a race of two creators with a traceback in the log (its
    ``os.makedirs(exist_ok=False)``): ``open_milvus`` creates them under the data folder's
    lock, so a second worker waits, then finds them made."""
    settings = get_settings()
    opened: list[MilvusIndex] = []
    errors: list[BaseException] = []

    def start_worker() -> None:
        try:
            opened.append(open_milvus(settings, 8))
        except BaseException as exc:
            errors.append(exc)

    faces = lite / "collections" / f"{settings.milvus.collection_prefix}faces"
    with (settings.data_dir / COLLECTIONS_LOCK).open("a") as held_lock:
        fcntl.flock(held_lock, fcntl.LOCK_EX)  # another worker is creating them
        worker = threading.Thread(target=start_worker)
        worker.start()
        worker.join(timeout=8)
        assert worker.is_alive(), "open_milvus did not wait for the lock"
        assert not faces.exists()
        fcntl.flock(held_lock, fcntl.LOCK_UN)
    worker.join(timeout=60)
    assert errors == []
    assert faces.is_dir()
    opened[0].close()


def _raised_in(name: str, exc: Exception) -> Exception:
    def raiser() -> None:
        raise exc

    raiser.__code__ = raiser.__code__.replace(co_name=name)
    try:
        raiser()
    except Exception as caught:
        return caught
    raise AssertionError("unreachable")


def test_other_records_of_those_loggers_pass(caplog: pytest.LogCaptureFixture) -> None:
    quiet_milvus_logs()
    quiet_milvus_logs()  # installed once, whatever the calls
    server = logging.getLogger("grpc._server")
    manager = logging.getLogger("milvus_lite.server_manager")
    assert len(server.filters) == len(set(map(id, server.filters)))
    caplog.set_level(logging.INFO)
    for logger, exc in [
        (server, _raised_in("AllocTimestamp", NotImplementedError("Method not implemented!"))),
        (server, _raised_in("Search", NotImplementedError("Method not implemented!"))),
        (server, _raised_in("AllocTimestamp", ValueError("a real fault"))),
        (manager, _raised_in("start", OSError("disk full"))),
    ]:
        logger.error("Exception calling application: %s", exc, exc_info=exc)
    server.info("plain record")
    client = logging.getLogger("pymilvus.decorators")
    exists = "<MilvusException: (code=1, message=collection 'facerec_meta' already exists)>"
    client.error(f"RPC error: [create_collection], {exists}, <elapsed:1.4ms>")  # a race
    client.error(f"RPC error: [search], {exists}, <elapsed:1.4ms>")
    client.error("RPC error: [create_collection], <MilvusException: (code=2, message=no)>")
    kept = [(r.name, str(r.exc_info[1]) if r.exc_info else None) for r in caplog.records]
    assert kept == [
        ("grpc._server", "Method not implemented!"),  # from Search: a real gap, kept
        ("grpc._server", "a real fault"),
        ("milvus_lite.server_manager", "disk full"),
        ("grpc._server", None),
        ("pymilvus.decorators", None),
        ("pymilvus.decorators", None),
    ]
    assert "[search]" in caplog.records[-2].getMessage()


@pytest.mark.models
def test_index_verify_rebuild_and_doctor_work_on_milvus_lite(lite: Path, tmp_path: Path) -> None:
    grace = tmp_path / "photos" / "Grace Hopper"
    grace.mkdir(parents=True)
    (grace / "a.jpg").write_bytes(hopper_bytes())
    (grace / "b.jpg").write_bytes(_mirrored(hopper_bytes()))
    enrolled = _cli("enroll", str(tmp_path / "photos"))
    assert "enrolled 2" in enrolled.output, enrolled.output
    verified = _cli("index", "verify")
    assert verified.exit_code == 0, verified.output
    assert "faces in database 2, in index 2 (milvus)" in verified.output
    assert "entries that differ 0" in verified.output
    rebuild = _cli("index", "rebuild")
    assert "milvus reloaded with 2 faces" in rebuild.output, rebuild.output
    assert _cli("doctor").exit_code == 0

    index = MilvusIndex(connect(str(lite)), 128)  # behind the change log's back
    face = int(index.entries().face_ids[0])
    index.delete_faces([face])
    index.close()
    broken = _cli("index", "verify")
    assert broken.exit_code == 1, broken.output
    assert "faces in database 2, in index 1" in broken.output
    assert f"index_missing: faces {face}" in broken.output
    assert _cli("doctor", "--repair").exit_code == 0
    assert _cli("index", "verify").exit_code == 0


def _mirrored(data: bytes) -> bytes:
    out = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(data))).save(out, format="JPEG", quality=95)
    return out.getvalue()
