"""Request ids (``X-Request-ID``), log lines and unhandled errors, in process.

``tests/test_request_logs_server.py`` checks the same through ``facerec serve``."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import LogSettings, Settings
from facerec.inference.types import Detection, RGBImage
from facerec.logs import make_handler
from tests.fakes import FakeEngine, picture

API = "/api/v1"
FILE = {"file": ("a.png", picture([((200, 40, 40), 80)]))}
HEX32 = re.compile(r"[0-9a-f]{32}")
TEXT_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<level>[A-Z]+) (?P<logger>\S+) "
    r"\[(?P<request_id>[^\]]+)\] (?P<message>.*)"
)


class ChattyEngine(FakeEngine):
    """Logs a line from the inference thread for every image it looks at."""

    def detect(self, image: RGBImage) -> list[Detection]:
        logging.getLogger("tests.engine").warning("looking at %dx%d", *image.shape[:2])
        return super().detect(image)


class BrokenEngine(FakeEngine):
    def detect(self, image: RGBImage) -> list[Detection]:
        raise RuntimeError("the detector broke")


def capture(fmt: str) -> Iterator[io.StringIO]:
    """Our handler (``fmt``) on the root logger for one test."""
    stream = io.StringIO()
    handler = make_handler(LogSettings(format=fmt), stream=stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    yield from capture("text")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    yield from capture("json")


def app_client(settings: Settings, engine: FakeEngine) -> TestClient:
    return TestClient(create_app(settings, engine=engine))


# --- X-Request-ID -------------------------------------------------------------------


def test_every_response_gets_a_new_id(client: TestClient) -> None:
    answers = [
        client.get(f"{API}/people"),
        client.get(f"{API}/people/12345"),  # an error
        client.get("/healthz"),
        client.get("/"),  # the web UI
    ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(HEX32.fullmatch(rid) for rid in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "incoming", ["abc", "0f8e-4c2a.b_c:d", "A" * 64, "7b4a2c3e-6d5f-4e1a-9b8c-0d1e2f3a4b5c"]
)
def test_a_valid_incoming_id_is_kept(client: TestClient, incoming: str) -> None:
    answer = client.get(f"{API}/people/12345", headers={"X-Request-ID": incoming})
    assert answer.headers["x-request-id"] == incoming
    assert answer.json()["error"]["request_id"] == incoming


@pytest.mark.parametrize("incoming", ["", "has space", "A" * 65, "semi;colon", 'quo"te', "é"])
def test_an_invalid_incoming_id_is_replaced(client: TestClient, incoming: str) -> None:
    answer = client.get(
        f"{API}/people/12345", headers={b"X-Request-ID": incoming.encode("latin-1")}
    )
    rid = answer.headers["x-request-id"]
    assert HEX32.fullmatch(rid), rid
    assert answer.json()["error"]["request_id"] == rid


def test_every_error_body_names_the_request(client: TestClient) -> None:
    answers = {
        404: client.get(f"{API}/people/12345"),
        422: client.get(f"{API}/people", params={"limit": "x"}),
        405: client.put(f"{API}/people"),
        400: client.post(f"{API}/detect", files={"file": ("a.png", b"not an image")}),
    }
    for status, answer in answers.items():
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]


# --- one traceback per unhandled error ------------------------------------------------


def test_an_unhandled_error_is_one_500_and_one_traceback(
    settings: Settings, text_log: io.StringIO
) -> None:
    # raise_server_exceptions (the default): had the error reached Starlette's outermost
    # middleware, which raises it again for the server to log, the client would raise it
    with app_client(settings, BrokenEngine()) as client:
        answer = client.post(f"{API}/detect", files=FILE, headers={"X-Request-ID": "boom-1"})
    assert answer.status_code == 500
    assert answer.json()["error"] == {
        "code": "internal_error",
        "message": "an unexpected error occurred",
        "request_id": "boom-1",
    }
    assert answer.headers["x-request-id"] == "boom-1"
    assert answer.headers["x-facerec-worker"]  # a 500 passes the header middleware too
    log = text_log.getvalue()
    assert log.count("Traceback (most recent call last)") == 1, log
    assert log.count("RuntimeError: the detector broke") == 1, log
    (line,) = [line for line in log.splitlines() if "unhandled error" in line]
    parsed = TEXT_LINE.fullmatch(line)
    assert parsed is not None, line
    assert (parsed["level"], parsed["request_id"]) == ("ERROR", "boom-1")
    assert parsed["message"] == "unhandled error in POST /api/v1/detect"


# --- log lines ------------------------------------------------------------------------


def test_text_lines_have_time_level_logger_and_request_id(
    settings: Settings, text_log: io.StringIO
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    with app_client(settings, ChattyEngine()) as client:
        answer = client.post(f"{API}/detect", files=FILE)
    after = datetime.now(UTC)
    assert answer.status_code == 200, answer.text
    lines = [TEXT_LINE.fullmatch(line) for line in text_log.getvalue().splitlines()]
    assert lines and all(lines), text_log.getvalue()
    ours = [m for m in lines if m is not None and m["logger"] == "tests.engine"]
    assert [(m["level"], m["request_id"], m["message"]) for m in ours] == [
        ("WARNING", answer.headers["x-request-id"], "looking at 100x100")
    ]
    stamp = datetime.fromisoformat(ours[0]["time"])
    assert before <= stamp <= after
    start_up = [m for m in lines if m is not None and m["logger"] == "facerec.app"]
    assert start_up and all(m["request_id"] == "-" for m in start_up)


def test_json_lines_have_time_level_logger_and_request_id(
    settings: Settings, json_log: io.StringIO
) -> None:
    with app_client(settings, ChattyEngine()) as client:
        answer = client.post(f"{API}/detect", files=FILE, headers={"X-Request-ID": "r-42"})
    entries = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert entries
    for entry in entries:
        assert {"time", "level", "logger", "request_id", "message"} <= entry.keys(), entry
        assert datetime.fromisoformat(entry["time"]).tzinfo is not None
    (ours,) = [e for e in entries if e["logger"] == "tests.engine"]
    assert (ours["level"], ours["request_id"], ours["message"]) == (
        "WARNING",
        "r-42",
        "looking at 100x100",
    )
    assert answer.headers["x-request-id"] == "r-42"


def test_a_json_traceback_stays_on_one_line(settings: Settings, json_log: io.StringIO) -> None:
    with app_client(settings, BrokenEngine()) as client:
        client.post(f"{API}/detect", files=FILE, headers={"X-Request-ID": "boom-2"})
    entries = [json.loads(line) for line in json_log.getvalue().splitlines()]
    (error,) = [e for e in entries if "exception" in e]
    assert error["request_id"] == "boom-2"
    assert error["level"] == "ERROR"
    assert error["exception"].count("Traceback (most recent call last)") == 1
    assert error["exception"].rstrip().endswith("RuntimeError: the detector broke")


def test_log_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEREC_LOG__FORMAT", "JSON")
    monkeypatch.setenv("FACEREC_LOG__LEVEL", "debug")
    assert Settings().log == LogSettings(format="json", level="DEBUG")
    monkeypatch.delenv("FACEREC_LOG__FORMAT")
    monkeypatch.delenv("FACEREC_LOG__LEVEL")
    assert Settings().log == LogSettings(format="text", level="INFO")
