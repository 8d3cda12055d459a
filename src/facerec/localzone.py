"""The machine's own IANA time zone: the default for ``attendance.timezone``.

Read the way the C library and ``tzlocal`` read it on Linux: ``TZ`` first (``Europe/Paris``
or ``:Europe/Paris``), then ``/etc/timezone`` (Debian), then the zone ``/etc/localtime``
links to (``.../zoneinfo/Asia/Shanghai``). A value that is not an IANA name Python knows is
skipped; nothing usable gives ``UTC``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCALTIME = Path("/etc/localtime")
TIMEZONE_FILE = Path("/etc/timezone")


def local_zone_name(
    *,
    environ: Mapping[str, str] | None = None,
    localtime: Path = LOCALTIME,
    timezone_file: Path = TIMEZONE_FILE,
) -> str:
    """The machine's zone name, or ``UTC`` when it cannot be told."""
    env = os.environ if environ is None else environ
    for candidate in (
        env.get("TZ", "").removeprefix(":"),
        _read(timezone_file),
        _linked_zone(localtime),
    ):
        if _known(candidate):
            return candidate
    return "UTC"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _linked_zone(path: Path) -> str:
    """``Asia/Shanghai`` for a link to ``/usr/share/zoneinfo/Asia/Shanghai``."""
    try:
        target = str(path.resolve(strict=True))
    except (OSError, RuntimeError):
        return ""
    marker = "/zoneinfo/"
    return target.split(marker, 1)[1].removeprefix("posix/") if marker in target else ""


def _known(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
