"""``facerec retention run``: apply the retention periods now and print the counts.

Registered by ``facerec.cli``; it takes its clock from the caller's ``CliContext``
(any ``ctx.obj`` with a ``clock``) so tests run it on a fixed time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session

from facerec.audit import cli_actor
from facerec.config import get_settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.db.models import utcnow
from facerec.faces.storage import ImageStore
from facerec.retention.service import apply_retention

retention_app = typer.Typer(
    help="Remove biometric data past its retention period.", no_args_is_help=True
)
console = Console()


@retention_app.command("run")
def retention_run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be removed")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Run retention once, now (the server also runs it in one worker every interval)."""
    settings = get_settings()
    clock: Callable[[], datetime] = getattr(ctx.obj, "clock", utcnow)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url, lock_dir=settings.data_dir)
    engine = make_engine(settings.db_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            report = apply_retention(
                session=session,
                crops=ImageStore(settings.crops_dir),
                settings=settings.retention,
                now=clock(),
                dry_run=dry_run,
                actor=cli_actor(),
            )
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(asdict(report)))
        return
    verb = "would remove" if dry_run else "removed"
    r = settings.retention
    console.print(
        f"{verb}: {report.checkin_crops} check-in crops (kept {_days(r.checkin_crops_days)}), "
        f"{report.unknown_faces} pending unknown faces (kept {_days(r.unknown_faces_days)}), "
        f"{report.resolved_unknown_faces} resolved unknown faces (kept {_days(r.resolved_days)}), "
        f"{report.webhook_deliveries} finished webhook deliveries "
        f"(kept {_days(r.webhook_deliveries_days)})"
        + ("" if dry_run else f"; {report.files_removed} files deleted")
    )


def _days(days: int) -> str:
    return "forever" if days == 0 else f"{days} days"
