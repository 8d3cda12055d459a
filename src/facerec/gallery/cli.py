"""``facerec export FILE`` and ``facerec import FILE``: move a gallery between installations.

Registered by ``facerec.cli``; the clock comes from the caller's ``CliContext`` (any
``ctx.obj`` with a ``clock``; tests may also give it an ``engine``), the actor is
``system:cli:<os user>``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import Session

from facerec.audit import cli_actor
from facerec.cli_support import cli_clock, cli_session, fail
from facerec.config import get_settings
from facerec.errors import FaceRecError
from facerec.faces.storage import ImageStore
from facerec.gallery.export import export_gallery
from facerec.gallery.importer import ImportReport, import_gallery

console = Console()


def gallery_export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(dir_okay=False, help="The gallery file to write")],
) -> None:
    """Write every person with their photos and descriptors to FILE (a ZIP); audited."""
    settings = get_settings()
    target = file.resolve()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w+b") as handle, cli_session() as session:
            report = export_gallery(
                session=session,
                store=ImageStore(settings.images_dir),
                out=handle,
                now=cli_clock(ctx)(),
                actor=cli_actor(),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)  # a complete file or none
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    models = ", ".join(f"{m}: {n}" for m, n in sorted(report.models.items())) or "none"
    console.print(
        f"exported {report.people} people, {report.faces} faces ({models}), "
        f"{report.images} photos to {escape(str(file))}"
    )
    for path in report.missing:
        console.print(f"[yellow]photo file missing, its faces left out[/yellow]: {escape(path)}")


def gallery_import(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A file from facerec export")
    ],
) -> None:
    """Add the people, photos and descriptors of FILE. Faces of the running model are
    stored as they are, others re-embedded; a second run stores nothing twice."""
    from facerec.app import build_state, close_state

    engine = getattr(ctx.obj, "engine", None)  # tests pass a fake one; else the configured
    state = build_state(get_settings(), engine=engine)
    try:
        columns = (TextColumn("importing"), BarColumn(), TextColumn("{task.completed} faces"))
        with (
            Progress(*columns, TimeElapsedColumn(), console=console) as progress,
            file.open("rb") as source,
            Session(state.db, expire_on_commit=False) as session,
        ):
            task = progress.add_task("import", total=None)
            report = import_gallery(
                session=session,
                store=state.store,
                runtime=state.runtime,
                source=source,
                now=cli_clock(ctx)(),
                actor=cli_actor(),
                on_face=lambda: progress.advance(task),
            )
    except FaceRecError as exc:
        fail(exc)
    finally:
        close_state(state)
    _print(report)
    if report.failed:
        raise typer.Exit(1)


def _print(report: ImportReport) -> None:
    console.print(
        f"people: {report.people_created} created, {report.people_matched} already here; "
        f"faces: {report.faces_added} added ({report.faces_reembedded} re-embedded with "
        f"{escape(report.model)}), {report.faces_existing} already here; "
        f"photos: {report.images_added} added"
    )
    for name in report.people_removed:
        console.print(f"[yellow]skipped (removed here)[/yellow]: {escape(name)}")
    for sha, reason in report.failed:
        console.print(f"[red]face not imported[/red] photo {sha[:12]}: {escape(reason)}")
