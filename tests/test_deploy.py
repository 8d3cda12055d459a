"""The deployment files: Dockerfile, deploy/docker-compose.yml and deploy/facerec.service.

Cheap checks always run (the files parse, say what the README promises, and the health
check command really tells a ready server from one that is not). Building and running the
image needs a Docker engine and a Debian base image; without them the test says exactly
which is missing and is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from facerec.auth.exposure import check_exposure, is_loopback
from facerec.config import Settings
from facerec.errors import UnsafeSetup

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
UNIT = ROOT / "deploy" / "facerec.service"
BASE_IMAGES = ("debian:bookworm-slim", "facerec-base:bookworm")


# ---- Dockerfile ---------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction; continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in _final_stage():
        if word == "ENV":
            for pair in args.split():
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def test_the_image_is_built_in_stages_and_runs_as_a_user_that_is_not_root() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    assert sum(word == "FROM" for word, _ in steps) >= 2  # build stage, then a clean one
    users = [args for word, args in _final_stage() if word == "USER"]
    assert users, "the final stage sets no USER: the server would run as root"
    name = users[-1].split(":")[0]
    assert name not in ("", "root", "0")
    created = " ".join(args for word, args in _final_stage() if word == "RUN")
    assert f"useradd --system --uid 10001 --gid {name}" in created


def test_the_image_carries_converted_models_in_its_data_volume() -> None:
    stage = _final_stage()
    assert ("VOLUME", '["/data"]') in stage
    assert _image_env()["FACEREC_DATA_DIR"] == "/data"
    copies = [args for word, args in stage if word == "COPY"]
    assert "--from=build --chown=facerec:facerec /data /data" in copies
    build = DOCKERFILE.read_text().split("\nFROM ${BASE_IMAGE}\n")[0]
    assert "FACEREC_DATA_DIR=/data" in build and "OnnxEngine(Settings()).load()" in build


def test_the_image_listens_on_every_address_only_with_access_control_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _image_env()
    assert env["FACEREC_HOST"] == "0.0.0.0"
    for name, value in env.items():
        if name.startswith("FACEREC_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path))
    check_exposure(Settings())  # the image's own settings are accepted
    monkeypatch.setenv("FACEREC_AUTH__ENABLED", "false")
    with pytest.raises(UnsafeSetup):  # and the rule really applies to them
        check_exposure(Settings())


def test_only_the_project_files_go_into_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # data/, .venv, test artifacts: nothing unless allowed
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == {
        "pyproject.toml", "requirements.lock", "README.md", "src", "deploy/ca-certificates"
    }  # fmt: skip


# ---- the health check command -------------------------------------------------------------


class _Probe(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/readyz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _readyz(status: int) -> Iterator[int]:
    handler = type("Probe", (_Probe,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _healthchecks() -> dict[str, list[str]]:
    image = [args for word, args in _final_stage() if word == "HEALTHCHECK"]
    assert len(image) == 1
    exec_form = image[0][image[0].index("CMD ") + 4 :]
    compose = yaml.safe_load(COMPOSE.read_text())["services"]["facerec"]["healthcheck"]["test"]
    assert compose[0] == "CMD"
    return {"Dockerfile": json.loads(exec_form), "compose": compose[1:]}


@pytest.mark.parametrize("where", ["Dockerfile", "compose"])
def test_the_health_check_passes_only_when_readyz_answers_200(where: str) -> None:
    command = _healthchecks()[where]
    assert command[0] == "python3"  # no curl or wget in a slim image
    for status, healthy in ((200, True), (503, False)):
        with _readyz(status) as port:
            env = {"PATH": os.environ.get("PATH", ""), "FACEREC_PORT": str(port)}
            done = subprocess.run(
                [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30,
                check=False,
            )  # fmt: skip
        assert (done.returncode == 0) is healthy, (status, done.stderr)


# ---- docker-compose.yml -------------------------------------------------------------------


def test_compose_runs_facerec_on_postgresql_behind_a_health_check() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(services) == {"facerec", "db"}
    app, db = services["facerec"], services["db"]
    assert db["image"].startswith("postgres:")
    assert app["depends_on"] == {"db": {"condition": "service_healthy"}}
    env = app["environment"]
    url = make_url(
        env["FACEREC_DATABASE_URL"].replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "x")
    )
    assert (url.drivername, url.host, url.database) == ("postgresql+psycopg", "db", "facerec")
    assert env["FACEREC_HOST"] == "0.0.0.0" and env["FACEREC_AUTH__ENABLED"] == "true"
    assert app["ports"] == ["127.0.0.1:8000:8000"]  # only the proxy on the host reaches it
    assert "facerec-data:/data" in app["volumes"]
    assert "/readyz" in " ".join(app["healthcheck"]["test"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert any(dep.startswith("psycopg[binary]==") for dep in extras["postgres"])


# ---- facerec.service ----------------------------------------------------------------------


def _unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a systemd unit, each a list of (key, value): keys may repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None and "=" in line, f"not a unit line: {raw!r}"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def test_the_systemd_unit_is_hardened_and_writes_only_its_data_dir() -> None:
    unit = _unit(UNIT.read_text())
    assert set(unit) == {"Unit", "Service", "Install"}
    service = dict(unit["Service"])  # the last value of a repeated key
    env = dict(value.partition("=")[::2] for key, value in unit["Service"] if key == "Environment")
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service.get("DynamicUser") == "yes" or service.get("User") not in (None, "root")
    assert service["ReadWritePaths"].split() == [env["FACEREC_DATA_DIR"]]
    assert service["ExecStart"].endswith("/facerec serve")
    assert is_loopback(env["FACEREC_HOST"])  # a proxy in front; never 0.0.0.0 by default
    assert dict(unit["Install"])["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_systemd_accepts_every_line_of_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` exits 0 even for a line it ignores, so its output must
    not mention the unit; ExecStart points at this environment's facerec (it must exist)."""
    facerec = Path(sys.executable).parent / "facerec"
    text = UNIT.read_text().replace("/opt/facerec/bin/facerec", str(facerec))
    copy = tmp_path / "facerec.service"
    copy.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert copy.name not in done.stdout + done.stderr, done.stdout + done.stderr


# ---- the image, built and run -------------------------------------------------------------


def _docker(*args: str, timeout: float = 60, check: bool = True) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr[-2000:]}")
    return done.stdout.strip()


def _logs(container: str) -> str:
    """What the container wrote (the server logs to stderr)."""
    done = subprocess.run(
        ["docker", "logs", container], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout + done.stderr


def _base_image() -> str:
    """The Debian base image to build on, or skip saying exactly what is missing."""
    if shutil.which("docker") is None:
        pytest.skip("no docker command on PATH")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"no Docker engine answers `docker info`: {reason}")
    wanted = os.environ.get("FACEREC_DOCKER_BASE")
    for image in (wanted,) if wanted else BASE_IMAGES:
        found = subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, check=False
        )
        if found.returncode == 0:
            return image
    pytest.skip(
        f"no base image ({wanted or ' or '.join(BASE_IMAGES)}) and no registry here: "
        "make one from Debian's packages with deploy/debootstrap-base.sh"
    )


def _context(tmp_path: Path) -> Path:
    """A copy of the build context plus this machine's own CA certificates (Debian keeps
    local ones in /usr/local/share/ca-certificates): behind a TLS-re-signing proxy the
    build stage's pip needs them, as deploy/ca-certificates/README says."""
    context = tmp_path / "context"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", context / "src", ignore=skip)
    shutil.copytree(ROOT / "deploy" / "ca-certificates", context / "deploy" / "ca-certificates")
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "requirements.lock", "README.md"):
        shutil.copy2(ROOT / name, context / name)
    for cert in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy2(cert, context / "deploy" / "ca-certificates" / cert.name)
    return context


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_image_builds_starts_healthy_and_refuses_strangers(tmp_path: Path) -> None:
    base = _base_image()
    tag = f"facerec-test:{uuid.uuid4().hex[:8]}"
    name = tag.replace(":", "-")
    _docker(
        "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "-t", tag,
        str(_context(tmp_path)), timeout=1500,
    )  # fmt: skip
    try:
        refused = subprocess.run(
            ["docker", "run", "--rm", "-e", "FACEREC_AUTH__ENABLED=false", tag],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert refused.returncode != 0 and "refusing to serve" in refused.stdout + refused.stderr
        _docker(
            "run", "-d", "--name", name, "-p", "127.0.0.1::8000", "--health-interval", "2s",
            "--health-start-period", "300s", tag,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while (health := _docker("inspect", "-f", "{{.State.Health.Status}}", name)) != "healthy":
            assert health in ("starting", "") and time.monotonic() < deadline, (
                health, _logs(name)
            )  # fmt: skip
            time.sleep(2)
        port = _docker("port", name, "8000/tcp").splitlines()[0].rsplit(":", 1)[1]
        root = f"http://127.0.0.1:{port}"
        assert _get(f"{root}/readyz") == 200
        assert _get(f"{root}/api/v1/people") == 401  # access control is on
        assert _docker("exec", name, "id", "-u") == "10001"
        models = _docker("exec", name, "ls", "/data/models").split()
        assert sum(model.endswith(".onnx") for model in models) == 2
        assert "converted a model" not in _logs(name)  # converted at build time
    finally:
        _docker("rm", "-f", "-v", name, check=False)
        _docker("rmi", tag, check=False)
