"""Access control may be switched off only on a loopback address: serving the data to the
network unprotected is refused at start-up, with a clear message and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facerec.auth.exposure import check_exposure, is_loopback
from facerec.cli import app
from facerec.config import Settings, get_settings
from facerec.errors import UnsafeSetup
from facerec.serving import serve
from tests.servers import free_port

LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "localhost."]
OPEN = ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org", "localhost.example", ""]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", OPEN)
def test_reachable_hosts(host: str) -> None:
    assert not is_loopback(host)


def _settings(tmp_path: Path, *, host: str, auth: bool) -> Settings:
    return Settings(data_dir=tmp_path / "data", host=host, auth={"enabled": auth})


@pytest.mark.parametrize("host", OPEN[:4])
def test_auth_off_on_an_open_address_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(UnsafeSetup, match="access control switched off"):
        check_exposure(_settings(tmp_path, host=host, auth=False))
    with pytest.raises(UnsafeSetup):
        serve(_settings(tmp_path, host=host, auth=False))  # before any socket is bound


def test_auth_off_on_loopback_and_auth_on_anywhere_are_fine(tmp_path: Path) -> None:
    check_exposure(_settings(tmp_path, host="127.0.0.1", auth=False))
    check_exposure(_settings(tmp_path, host="0.0.0.0", auth=True))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEREC_AUTH__ENABLED", "false")
    monkeypatch.setenv("FACEREC_HOST", "127.0.0.1")  # serve sets it; restored after
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.mark.timeout(60)  # a broken check would serve until stopped
def test_serve_refuses_before_writing_anything(env: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 1
    assert "unsafe_setup" in result.output
    assert "refusing to serve on 0.0.0.0" in " ".join(result.output.split())
    assert not env.exists()  # no data directory, no database


def test_the_real_command_exits_non_zero(tmp_path: Path) -> None:
    facerec = Path(sys.executable).with_name("facerec")
    port = str(free_port())
    data = tmp_path / "data"
    environ = {**os.environ, "FACEREC_DATA_DIR": str(data), "FACEREC_AUTH__ENABLED": "false"}
    done = subprocess.run(
        [str(facerec), "serve", "--host", "0.0.0.0", "--port", port],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,  # a broken check would serve until killed
        check=False,
    )
    assert done.returncode == 1
    assert "refusing to serve on 0.0.0.0" in " ".join(done.stderr.split())  # errors: stderr
    assert not data.exists()
