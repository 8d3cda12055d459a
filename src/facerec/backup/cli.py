"""``facerec backup FILE`` and ``facerec restore FILE`` (registered by ``facerec.cli``).

They take their clock from the caller's ``CliContext`` (tests pass a fixed one) and act
as ``audit.cli_actor()``. Any failure prints ``error [code] message`` and exits 1."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from facerec.audit import cli_actor
from facerec.backup.service import create_backup, restore_backup
from facerec.cli_support import cli_clock, fail
from facerec.config import get_settings
from facerec.errors import FaceRecError

console = Console()
warn = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON")]


def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The archive to write (a .tar)", dir_okay=False)],
    as_json: JsonFlag = False,
) -> None:
    """Back up the database, photos and crops to FILE while servers keep running."""
    try:
        report = create_backup(
            settings=get_settings(), target=file, now=cli_clock(ctx)(), actor=cli_actor()
        )
    except FaceRecError as exc:
        fail(exc)
    _warn_missing(report.missing, "the database names these files, but they were not there")
    if as_json:
        print(json.dumps(asdict(report), default=str))
        return
    counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
    console.print(
        f"backup written to {escape(str(report.path))}: {report.files} files, "
        f"{report.size} bytes ({counts}; schema {report.revision})"
    )


def restore(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="A backup made by `facerec backup`", exists=True, dir_okay=False)
    ],
    as_json: JsonFlag = False,
) -> None:
    """Restore FILE into an empty data dir (FACEREC_DATA_DIR) after checking every file's
    sha256; the database is migrated if the backup is older. Then run `facerec doctor`."""
    try:
        report = restore_backup(
            settings=get_settings(), source=file, now=cli_clock(ctx)(), actor=cli_actor()
        )
    except FaceRecError as exc:
        fail(exc)
    _warn_missing(
        report.missing, "the backup lacks these files (they were missing when it was made)"
    )
    if report.settings_differ:
        warn.print(
            "[yellow]warning[/yellow] settings differ from the backed-up installation's: "
            + escape(", ".join(report.settings_differ))
        )
    if as_json:
        print(json.dumps(asdict(report), default=str))
        return
    console.print(
        f"restored {report.files} files from a backup of {report.created_at.isoformat()} "
        f"(FaceRec {escape(report.facerec_version)}); schema {report.revision_from} -> "
        f"{report.revision_to}. Check it: facerec doctor"
    )


def _warn_missing(missing: list[str], what: str) -> None:
    if missing:
        warn.print(f"[yellow]warning[/yellow] {len(missing)} files: {what}")
        for name in missing[:20]:
            warn.print(f"  {escape(name)}")
