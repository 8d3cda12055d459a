"""``facerec serve`` logs through ``facerec/logs.py``: in every worker, the access log
included, every line has time, level, logger and request id; a 500 logs one traceback.

The unhandled error is a real one: a table dropped under the running server."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests import postgres
from tests.servers import ServerProcess, from_every_worker
from tests.sql import database_of, run_sql

pytestmark = [pytest.mark.models, pytest.mark.slow]

FINAL_LINE = (
    'sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedTable) relation "'
    'attendance_holidays" does not exist'
    if postgres.enabled()
    else "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: "
    "attendance_holidays"
)
"""The last line of the traceback of reading a dropped table, as each database says it."""
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ "
    r"\[[A-Za-z0-9._:-]+\] .*"
)


def get(root: str, path: str, request_id: str) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        root + path, headers={"X-Request-ID": request_id, "connection": "close"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def break_and_call(server: ServerProcess, request_id: str) -> None:
    """Drop a table under the server; reading it is then an unexpected error (500)."""
    run_sql(database_of(server.data_dir), "DROP TABLE attendance_holidays")
    status, headers, body = get(server.root, "/api/v1/attendance/holidays", request_id)
    assert status == 500, body
    assert headers["x-request-id"] == request_id
    assert body["error"] == {
        "code": "internal_error",
        "message": "an unexpected error occurred",
        "request_id": request_id,
    }


def serve(tmp_path: Path, workers: int, fmt: str) -> ServerProcess:
    env = {"FACEREC_INFERENCE__THREADS": "1", "FACEREC_LOG__FORMAT": fmt}
    server = ServerProcess(tmp_path / "data", workers=workers, env=env)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def test_json_logs_of_two_workers(tmp_path: Path) -> None:
    server = serve(tmp_path, 2, "json")
    try:
        # the access log of both workers (the header says which one answered)
        replies = from_every_worker(server.root, "GET", "/api/v1/people", workers=2, each=1)
        status, headers, _ = get(server.root, "/api/v1/people", "ok-1")
        assert (status, headers["x-request-id"]) == (200, "ok-1")
        break_and_call(server, "boom-1")
    finally:
        server.stop()
    lines = server.log.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "request_id", "message", "pid"} <= entry.keys()
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert {e["pid"] for e in access} >= set(replies), "every worker logs through our handler"
    assert all(e["request_id"] != "-" for e in access)
    (ok,) = [e for e in access if e["request_id"] == "ok-1"]
    assert '"GET /api/v1/people HTTP/1.1" 200' in ok["message"]
    failures = [e for e in entries if "exception" in e]
    assert len(failures) == 1, failures
    assert failures[0]["request_id"] == "boom-1"
    assert FINAL_LINE in failures[0]["exception"]
    assert sum("Traceback" in line for line in lines) == 1  # (one record, chained causes)
    assert [e["request_id"] for e in access if '" 500' in e["message"]] == ["boom-1"]


def test_text_logs_of_one_worker(tmp_path: Path) -> None:
    server = serve(tmp_path, 1, "text")
    try:
        break_and_call(server, "boom-2")
    finally:
        server.stop()
    text = server.log.read_text()
    assert text.count(f"{FINAL_LINE}\n") == 1, text  # one traceback, whose last line it is
    assert "Exception in ASGI application" not in text
    records = [line for line in text.splitlines() if TEXT_LINE.fullmatch(line)]
    assert any("Started server process" in line for line in records)
    (error,) = [line for line in records if " ERROR " in line]
    assert "[boom-2] unhandled error in GET /api/v1/attendance/holidays" in error
    access = [line for line in records if " uvicorn.access " in line]
    assert any(line.endswith('"GET /api/v1/attendance/holidays HTTP/1.1" 500') for line in access)
    assert all("[boom-2]" in line for line in access if line.endswith(" 500"))
