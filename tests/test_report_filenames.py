"""Report downloads are named by range and person (``curl -OJ`` of everyone's report and
one person's keeps both), and a name in any script survives ``Content-Disposition``:
``filename*=UTF-8''...`` with an ASCII ``filename`` fallback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine

API = "/api/v1/attendance/report"
RANGE = {"from": "2026-11-01", "to": "2026-11-30"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    noon = datetime(2026, 11, 25, 12, tzinfo=ZoneInfo(settings.attendance.timezone))
    app = create_app(settings, engine=FakeEngine(), clock=lambda: noon)
    with TestClient(app) as test_client:
        yield test_client


def _person(client: TestClient, name: str) -> int:
    answer = client.post("/api/v1/people", json={"name": name, "start_date": "2026-01-01"})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _disposition(client: TestClient, **params: str | int) -> str:
    answer = client.get(API, params={**RANGE, **params})
    assert answer.status_code == 200, answer.text
    header: str = answer.headers["content-disposition"]
    return header


def _decoded(header: str) -> str:
    """The RFC 5987 ``filename*`` value, decoded."""
    charset, _, value = header.split("filename*=", 1)[1].partition("''")
    assert charset == "UTF-8"
    return unquote(value, encoding="utf-8", errors="strict")


def test_everyone_and_each_person_get_different_names(client: TestClient) -> None:
    bob = _person(client, "Bob Smith")
    assert _disposition(client, format="csv") == (
        'attachment; filename="attendance-2026-11-01_2026-11-30.csv"'
    )
    assert _disposition(client, format="csv", person_id=bob) == (
        f'attachment; filename="attendance-{bob}-bob-smith-2026-11-01_2026-11-30.csv"'
    )
    assert _disposition(client, format="xlsx", person_id=bob) == (
        f'attachment; filename="attendance-{bob}-bob-smith-2026-11-01_2026-11-30.xlsx"'
    )


def test_non_ascii_names_use_filename_star_with_an_ascii_fallback(client: TestClient) -> None:
    zhang = _person(client, "张三")
    zoe = _person(client, "Zoë O'Brien")
    # 张 is U+5F20 (UTF-8 E5 BC A0), 三 is U+4E09 (E4 B8 89); ë is U+00EB (C3 AB)
    zhang_header = _disposition(client, format="csv", person_id=zhang)
    assert zhang_header == (
        f'attachment; filename="attendance-{zhang}-2026-11-01_2026-11-30.csv"; '
        f"filename*=UTF-8''attendance-{zhang}-%E5%BC%A0%E4%B8%89-2026-11-01_2026-11-30.csv"
    )
    assert _decoded(zhang_header) == f"attendance-{zhang}-张三-2026-11-01_2026-11-30.csv"
    zoe_header = _disposition(client, format="xlsx", person_id=zoe)
    assert zoe_header == (
        f'attachment; filename="attendance-{zoe}-zoe-o-brien-2026-11-01_2026-11-30.xlsx"; '
        f"filename*=UTF-8''attendance-{zoe}-zo%C3%AB-o-brien-2026-11-01_2026-11-30.xlsx"
    )
    assert _decoded(zoe_header) == f"attendance-{zoe}-zoë-o-brien-2026-11-01_2026-11-30.xlsx"
    assert zoe_header.isascii() and zhang_header.isascii()
