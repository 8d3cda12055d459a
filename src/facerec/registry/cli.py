"""``facerec models list|pull|import|use|remove``: the model registry from the shell.

Every change is audited as ``audit.cli_actor()``; the clock comes from the caller's
``CliContext``. ``pull`` shows a progress bar on standard error. Registered by
``facerec.cli``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from facerec.audit import cli_actor
from facerec.cli_support import cli_clock, cli_session, fail, stderr
from facerec.config import get_settings
from facerec.errors import FaceRecError
from facerec.registry import service
from facerec.registry.contract import Family
from facerec.registry.service import ImportOptions, Registry
from facerec.registry.shapes import InstallResult
from facerec.switch.cli import models_status, models_use

models_app = typer.Typer(
    help="Face models: list, pull a known pack, import a file, use (switch without "
    "downtime), status, remove.",
    no_args_is_help=True,
)
models_app.command("use")(models_use)  # switch/cli.py
models_app.command("status")(models_status)
console = Console()


def _registry() -> Registry:
    return Registry.from_settings(get_settings())


@models_app.command("list")
def models_list() -> None:
    """Installed and packaged models, then the known packs."""
    listing = service.list_models(registry=_registry())
    table = Table("name", "kind", "family", "embedding", "licence", "source")
    for b in listing.builtin:
        table.add_row(b.name, b.kind, "dlib", "", "packaged", "")
    for m in listing.models:
        table.add_row(
            escape(m.name),
            m.kind,
            m.contract.family,
            str(m.contract.embedding_size or ""),
            escape(m.licence),
            escape(m.source),
        )
    console.print(table)
    packs = Table("pack", "installed", "licence", "size", "what")
    for p in listing.packs:
        size = f"{p.size / 1e6:.1f} MB" if p.size else "?"
        licence = p.licence + (" (--accept-licence)" if p.accept_licence else "")
        packs.add_row(p.name, "yes" if p.installed else "", escape(licence), size, escape(p.title))
    console.print(packs)


@models_app.command("pull")
def models_pull(
    ctx: typer.Context,
    pack: Annotated[str, typer.Argument(help="A known pack (facerec models list)")],
    accept_licence: Annotated[
        bool, typer.Option("--accept-licence", help="Accept the pack's licence (some need it)")
    ] = False,
) -> None:
    """Download a known pack (resumes a cut download, checks sha256), probe, install."""
    with cli_session() as session, _bar() as bar:
        task = bar.add_task(pack, total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = service.pull_pack(
                session=session,
                registry=_registry(),
                name=pack,
                accept_licence=accept_licence,
                actor=cli_actor(),
                now=cli_clock(ctx)(),
                progress=progress,
            )
        except FaceRecError as exc:
            bar.stop()
            fail(exc)
    _report(result)


@models_app.command("import")
def models_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    *,
    kind: Annotated[
        Family | None,
        typer.Option(help="What it is, for a file that is not a known one: arcface|yunet|scrfd"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Its name here (default: the file's)")] = None,
    size: Annotated[int | None, typer.Option(help="Input side in pixels (arcface: 112)")] = None,
    colour: Annotated[Literal["RGB", "BGR"] | None, typer.Option(help="Channel order")] = None,
    mean: Annotated[float | None, typer.Option(help="Subtracted from each pixel")] = None,
    std: Annotated[float | None, typer.Option(help="Then divided by this")] = None,
    embedding_size: Annotated[
        int | None, typer.Option(help="Descriptor length to check (default: measured)")
    ] = None,
    licence: Annotated[str, typer.Option(help="Its licence, for the manifest")] = (
        "unknown (imported by the operator)"
    ),
    accept_licence: Annotated[
        bool, typer.Option("--accept-licence", help="Accept a known pack's licence")
    ] = False,
) -> None:
    """Install a local ONNX file (offline): known files by sha256, others by contract."""
    options = ImportOptions(
        family=kind,
        name=name,
        size=size,
        colour=colour,
        mean=mean,
        std=std,
        embedding_size=embedding_size,
        licence=licence,
    )
    with cli_session() as session:
        try:
            result = service.import_model(
                session=session,
                registry=_registry(),
                path=file,
                filename=file.name,
                options=options,
                accept_licence=accept_licence,
                actor=cli_actor(),
                now=cli_clock(ctx)(),
            )
        except FaceRecError as exc:
            fail(exc)
    _report(result)


@models_app.command("remove")
def models_remove(ctx: typer.Context, name: str) -> None:
    """Delete an installed model."""
    with cli_session() as session:
        try:
            service.remove_model(
                session=session,
                registry=_registry(),
                name=name,
                actor=cli_actor(),
                now=cli_clock(ctx)(),
            )
        except FaceRecError as exc:
            fail(exc)
    console.print(f"removed model {name}")


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )


def _report(result: InstallResult) -> None:
    for m in result.models:
        state = "installed" if m.name in result.installed else "already installed"
        size = m.contract.embedding_size
        console.print(
            f"{state}: {m.name} ({m.kind}, {m.contract.family}"
            f"{f', {size}-d' if size else ''}, sha256 {m.sha256[:12]}...)"
        )
