"""File names of report downloads, and a ``Content-Disposition`` safe for any name.

Everyone's report is ``attendance-<first>_<last>.<ext>``; one person's is
``attendance-<person id>-<slug of the name>-<first>_<last>.<ext>``, so ``curl -OJ`` of
both in one folder keeps both. A name outside ASCII goes in ``filename*`` (RFC 6266 /
RFC 5987, UTF-8), with an ASCII ``filename`` fallback for older clients.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from urllib.parse import quote

_NOT_WORD = re.compile(r"[^\w]+")


def slug(name: str, *, ascii_only: bool = False) -> str:
    """Lower-case words joined by ``-``; accents dropped for ``ascii_only``, other
    scripts kept unless ``ascii_only`` (then they vanish, possibly to ``""``)."""
    text = unicodedata.normalize("NFKC", name)
    if ascii_only:
        decomposed = unicodedata.normalize("NFKD", text)
        text = decomposed.encode("ascii", "ignore").decode("ascii")
    return _NOT_WORD.sub("-", text.lower()).replace("_", "-").strip("-")[:60].strip("-")


def report_filename(
    first: date, last: date, ext: str, *, person_id: int | None = None, name: str = ""
) -> tuple[str, str]:
    """The report's file name in UTF-8 and its ASCII fallback (equal for ASCII names)."""
    days = f"{first.isoformat()}_{last.isoformat()}.{ext}"
    if person_id is None:
        return f"attendance-{days}", f"attendance-{days}"
    parts = (f"attendance-{person_id}", slug(name), days)
    ascii_parts = (f"attendance-{person_id}", slug(name, ascii_only=True), days)
    return "-".join(p for p in parts if p), "-".join(p for p in ascii_parts if p)


def attachment(filename: str, fallback: str) -> str:
    """``attachment; filename="<fallback>"`` plus ``filename*=UTF-8''...`` when the
    name is not plain ASCII."""
    safe = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in fallback)
    header = f'attachment; filename="{safe}"'
    if filename != safe:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header
