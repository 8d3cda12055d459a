"""``facerec models use NAME`` and ``facerec models status``: switching from the shell.

``use`` re-embeds in the foreground with a progress bar while servers keep serving
the old models, then switches every worker; run again after an interruption, it
resumes. Registered on ``facerec models`` by ``registry/cli.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.audit import cli_actor
from facerec.cli_support import cli_clock, cli_session, fail, stderr
from facerec.config import Settings, get_settings
from facerec.errors import FaceRecError
from facerec.faces.storage import ImageStore
from facerec.inference.engines import build_engine
from facerec.switch import job, service
from facerec.switch.models import ModelSwitch
from facerec.switch.shapes import in_use

console = Console()


def models_use(ctx: typer.Context, name: str) -> None:
    """Switch the recogniser (dlib-resnet or an installed one) or the detector (hog, cnn
    or an installed one) without downtime: servers keep answering with the old models
    until every face has its new vector, then all workers switch at once."""
    settings = get_settings()
    clock = cli_clock(ctx)
    with cli_session() as session:
        try:
            target = job.prepare(session, base=settings, engines=build_engine, name=name, dim=None)
            row = job.begin(session, target, actor=cli_actor(), now=clock())
            done = _complete(session, target, row, settings, clock)
        except FaceRecError as exc:
            fail(exc)
    failed = (
        f", {done.failed} not (photo unreadable or face not found again: not searched)"
        if done.failed
        else ""
    )
    console.print(
        f"now using {done.recogniser} + {done.detector} (model {done.model}): "
        f"{done.done} faces re-embedded{failed}"
    )


def _complete(
    session: Session,
    target: job.Target,
    row: ModelSwitch,
    settings: Settings,
    clock: Callable[[], datetime],
) -> ModelSwitch:
    bar = Progress(
        TextColumn("re-embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
    )
    with bar:
        task = bar.add_task("faces", total=row.total, completed=row.done)

        def progress(current: ModelSwitch) -> None:
            bar.update(task, completed=current.done, total=current.total)

        engine = session.get_bind()
        assert isinstance(engine, Engine)
        return job.complete(
            engine,
            target,
            store=ImageStore(settings.images_dir),
            actor=cli_actor(),
            clock=clock,
            progress=progress,
        )


def models_status(ctx: typer.Context) -> None:
    """The models in use and the newest switch's progress."""
    settings = get_settings()
    with cli_session() as session:
        choice, row = service.progress(session, settings)
        shown = in_use(choice, row, cli_clock(ctx)())
    configured = "" if shown.model else " (as configured)"
    console.print(
        f"recogniser {shown.recogniser}{configured}, detector {shown.detector}, "
        f"model {shown.model or '-'}"
    )
    if shown.switch is not None:
        s = shown.switch
        error = f", error: {s.error}" if s.error else ""
        console.print(
            f"switch to {s.recogniser} + {s.detector}: {s.status}, {s.done}/{s.total} faces{error}"
        )
