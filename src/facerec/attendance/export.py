"""A report as CSV (UTF-8 with BOM, so Excel shows Chinese names) or XLSX (openpyxl).

Text comes from people's records, so no cell may run as a formula: in CSV a text that a
spreadsheet would read as one (it starts with = + - @, a tab or a carriage return) gets a
leading apostrophe (OWASP's advice for CSV injection); in XLSX every text cell is stored
as text. Control characters that XLSX cannot hold are dropped from both."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from facerec.attendance.models import Report

DAILY_HEADER = [
    "person_id",
    "name",
    "external_id",
    "date",
    "status",
    "first_in",
    "last_out",
    "minutes_late",
    "minutes_early",
    "events",
]
TOTALS_HEADER = [
    "person_id",
    "name",
    "external_id",
    "working_days",
    "present",
    "late",
    "left_early",
    "absent",
    "minutes_late",
]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object) -> object:
    """Text without the control characters a spreadsheet cannot hold; other values as they are."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula (see the module docstring)."""
    value = _text(value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _clock(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else ""


def daily_rows(report: Report) -> list[list[object]]:
    return [
        [
            r.person_id,
            r.name,
            r.external_id or "",
            r.day.isoformat(),
            r.status,
            _clock(r.first_in),
            _clock(r.last_out),
            r.minutes_late,
            r.minutes_early,
            r.events,
        ]
        for r in report.rows
    ]


def totals_rows(report: Report) -> list[list[object]]:
    return [
        [
            t.person_id,
            t.name,
            t.external_id or "",
            t.working_days,
            t.present,
            t.late,
            t.left_early,
            t.absent,
            t.minutes_late,
        ]
        for t in report.totals
    ]


def to_csv(report: Report) -> bytes:
    """The daily rows; UTF-8 with a byte-order mark."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(DAILY_HEADER)
    writer.writerows([csv_cell(v) for v in row] for row in daily_rows(report))
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: Report) -> bytes:
    """Two sheets, ``Daily`` and ``Totals``, with a bold frozen header and fitted widths."""
    book = Workbook()
    daily = book.active
    assert daily is not None
    daily.title = "Daily"
    _fill(daily, DAILY_HEADER, daily_rows(report))
    _fill(book.create_sheet("Totals"), TOTALS_HEADER, totals_rows(report))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fill(sheet, header: list[str], rows: list[list[object]]) -> None:  # type: ignore[no-untyped-def]
    sheet.append(header)
    for row in rows:
        sheet.append([_text(v) for v in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    sheet.freeze_panes = "A2"
    for index, title in enumerate(header, start=1):
        values = [title, *(str(r[index - 1]) for r in rows)]
        width = max(_display_width(v) for v in values) + 2
        sheet.column_dimensions[get_column_letter(index)].width = min(60, width)


def _display_width(text: str) -> int:
    """Wide (CJK) characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
