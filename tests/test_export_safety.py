"""Exports never run a cell as a formula, and people's names carry nothing invisible.

Expected cells are written out by hand: a text that starts with = + - @, a tab or a
carriage return comes out of CSV with a leading apostrophe, and out of XLSX as a text
cell holding exactly the name."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from facerec.app import create_app
from facerec.attendance.export import to_csv, to_xlsx
from facerec.attendance.models import DayRow, PersonTotals, Report
from facerec.config import Settings
from tests.fakes import FakeEngine, picture

HOSTILE = {
    '=HYPERLINK("http://example.invalid","x")': '\'=HYPERLINK("http://example.invalid","x")',
    "@SUM(1+1)": "'@SUM(1+1)",
    "+1": "'+1",
    "-2+3": "'-2+3",
    "\tTab": "'\tTab",
    "\rReturn": "'\rReturn",
    "Ada = Lovelace": "Ada = Lovelace",  # only a leading sign makes a formula
}


def _report(names: list[str]) -> Report:
    rows = [
        DayRow(
            person_id=i,
            name=name,
            external_id=None,
            day=date(2026, 11, 23),
            status="absent",
            first_in=None,
            last_out=None,
            minutes_late=0,
            minutes_early=0,
            events=0,
        )
        for i, name in enumerate(names, start=1)
    ]
    totals = [
        PersonTotals(
            person_id=i,
            name=name,
            external_id="=1+1",
            working_days=1,
            present=0,
            late=0,
            left_early=0,
            absent=1,
            minutes_late=0,
        )
        for i, name in enumerate(names, start=1)
    ]
    return Report(
        start=date(2026, 11, 23), end=date(2026, 11, 23), timezone="UTC", rows=rows, totals=totals
    )


def test_csv_cells_that_would_be_formulas_get_an_apostrophe() -> None:
    text = to_csv(_report(list(HOSTILE))).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [row[1] for row in rows[1:]] == list(HOSTILE.values())


def test_xlsx_cells_are_text_never_formulas() -> None:
    book = load_workbook(io.BytesIO(to_xlsx(_report(list(HOSTILE)))))
    names = [row[1] for row in book["Daily"].iter_rows(min_row=2, values_only=True)]
    # XML reads a carriage return back as a line feed (end-of-line normalisation)
    assert names == [name.replace("\r", "\n") for name in HOSTILE]
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    assert book["Totals"]["C2"].value == "=1+1"  # the external id, as text


def test_a_stored_name_with_a_nul_byte_still_exports() -> None:
    report = _report(["Ada\x00 Love\x1flace"])  # a row written before names were checked
    assert to_csv(report).decode("utf-8-sig").splitlines()[1].split(",")[1] == "Ada Lovelace"
    book = load_workbook(io.BytesIO(to_xlsx(report)))
    assert book["Daily"]["B2"].value == "Ada Lovelace"


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo(settings.attendance.timezone))
    with TestClient(create_app(settings, engine=FakeEngine(), clock=lambda: noon)) as client:
        yield client


@pytest.mark.parametrize(
    "body",
    [
        {"name": "   "},
        {"name": "Ada\x00"},
        {"name": "Ada\nLovelace"},
        {"name": "Ada", "external_id": " "},
        {"name": "Ada", "external_id": "E\t1"},
        {"name": "Ada", "note": "bell\x07"},
    ],
)
def test_blank_or_invisible_text_is_refused(api: TestClient, body: dict[str, str]) -> None:
    created = api.post("/api/v1/people", json=body)
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "validation_error"
    person = api.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    patched = api.patch(f"/api/v1/people/{person}", json=body)
    assert patched.status_code == 422, patched.text
    assert api.get("/api/v1/people").json()["total"] == 1  # nothing was stored


def test_a_note_keeps_its_lines(api: TestClient) -> None:
    note = "Floor 3\n\tdesk 12\r\nvisitor badge"
    created = api.post("/api/v1/people", json={"name": "Ada", "note": note})
    assert created.status_code == 201
    assert created.json()["note"] == note


def test_a_formula_name_downloads_as_text(api: TestClient) -> None:
    name = '=HYPERLINK("http://example.invalid","x")'
    pid = api.post("/api/v1/people", json={"name": name}).json()["id"]
    files = {"file": ("a.png", picture([((200, 40, 40), 80)]))}
    assert api.post(f"/api/v1/people/{pid}/faces", files=files).status_code == 201
    params = {"from": "2026-11-23", "to": "2026-11-23"}
    as_csv = api.get("/api/v1/attendance/report", params={**params, "format": "csv"})
    assert as_csv.status_code == 200
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"), newline="")))
    assert rows[1][1] == "'" + name
    as_xlsx = api.get("/api/v1/attendance/report", params={**params, "format": "xlsx"})
    cell = load_workbook(io.BytesIO(as_xlsx.content))["Daily"]["B2"]
    assert (cell.value, cell.data_type) == (name, "s")
