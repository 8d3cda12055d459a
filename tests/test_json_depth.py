"""Deeply nested JSON is a 422 ``validation_error`` on every kind of JSON route, never a
RecursionError (500) or FastAPI's vague 400; ``api/json_depth.py`` bounds it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facerec.api.json_depth import MAX_DEPTH, DepthScanner
from tests.fakes import picture

API = "/api/v1"
HEADERS = {"content-type": "application/json"}


def nested_arrays(levels: int) -> str:
    return "[" * levels + "]" * levels


def nested_objects(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def depth_of(value: Any) -> int:
    """Nesting depth of a parsed JSON value, walked independently of the scanner."""
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# (method, path, a valid body around which the deep value is placed)
ROUTES = [
    ("POST", f"{API}/recognize", None),  # base64 JSON, parsed by api/inputs.py
    ("POST", f"{API}/people", None),  # pydantic bodies, parsed by FastAPI
    ("PATCH", f"{API}/people/1", None),
    ("POST", f"{API}/attendance/schedules", None),
    ("POST", f"{API}/attendance/events", None),
    ("PUT", f"{API}/calibration/threshold", None),
]


@pytest.mark.parametrize(("method", "path", "_"), ROUTES)
@pytest.mark.parametrize("body", [nested_arrays(100_000), nested_objects(100_000)])
def test_a_deeply_nested_body_is_422(
    client: TestClient, method: str, path: str, _: None, body: str
) -> None:
    answer = client.request(method, path, content=body, headers=HEADERS)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert error["max_depth"] == MAX_DEPTH


def test_a_body_without_content_type_is_bounded_too(client: TestClient) -> None:
    """FastAPI parses a body with no content type as JSON."""
    answer = client.post(f"{API}/people", content=nested_arrays(50_000).encode())
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["max_depth"] == MAX_DEPTH


def test_depth_up_to_the_bound_reaches_the_route(client: TestClient) -> None:
    """At the bound the body is the route's to judge (here: a note must be a string)."""
    for levels, expected in ((MAX_DEPTH - 1, "fields"), (MAX_DEPTH, "max_depth")):
        note = json.loads(nested_arrays(levels))
        body = json.dumps({"name": "Ann", "note": note})
        assert depth_of(json.loads(body)) == levels + 1
        answer = client.post(f"{API}/people", content=body, headers=HEADERS)
        assert answer.status_code == 422, answer.text
        assert expected in answer.json()["error"], (levels, answer.text)


def test_brackets_inside_strings_do_not_count(client: TestClient) -> None:
    name = "[{" * 200 + '\\"[' * 50  # escaped quotes do not end the string
    created = client.post(f"{API}/people", json={"name": name[:200], "note": name})
    assert created.status_code == 201, created.text
    assert created.json()["note"] == name


def test_a_base64_image_still_passes(client: TestClient) -> None:
    image = base64.b64encode(picture([((200, 40, 40), 80)])).decode()
    answer = client.post(f"{API}/detect", json={"image_base64": image})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["faces"]) == 1


DOCUMENTS = [
    '{"a": [1, {"b": "x]]]]"}], "c": "\\\\"}',
    '["\\\\\\"[[[", [[["\\\\"]]], {"k": "\\u005b"}]',
    '{"s": "ends in a backslash \\\\", "t": [[{}]]}',
    json.dumps({"deep": json.loads(nested_arrays(30)), "text": "[[[" * 10 + "\\"}),
    json.dumps([[["\\" * n, "[" * n] for n in range(8)]]),
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_scanner_measures_what_json_parses(document: str) -> None:
    """Fed whole, or split at every byte (escapes and strings across chunk boundaries),
    the scanner accepts a document exactly when its parsed depth is within the bound."""
    depth = depth_of(json.loads(document))
    data = document.encode()
    for bound in (depth - 1, depth):
        whole = DepthScanner(bound)
        assert whole.feed(data) is (depth <= bound), (document, bound)
        for cut in range(1, len(data)):
            split = DepthScanner(bound)
            verdict = split.feed(data[:cut]) and split.feed(data[cut:])
            assert verdict is (depth <= bound), (document, bound, cut)
        assert whole.depth == 0 or depth > bound
        assert not whole.in_string


def test_the_scanner_counts_depth_across_many_chunks() -> None:
    scanner = DepthScanner(MAX_DEPTH)
    for level in range(1, MAX_DEPTH + 1):
        assert scanner.feed(b'{"a' if level % 2 else b'[ "]", '), level
        assert scanner.feed(b'": ' if level % 2 else b"")
        assert scanner.depth == level
    assert not scanner.feed(b"[")
