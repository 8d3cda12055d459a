"""What every CLI command group shares: the clock, a database session, an error exit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlmodel import Session

from facerec.config import get_settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.db.models import utcnow
from facerec.errors import FaceRecError

stderr = Console(stderr=True)


def cli_clock(ctx: typer.Context) -> Callable[[], datetime]:
    """The clock of ``CliContext`` (tests pass a fixed one), else the real one."""
    clock: Callable[[], datetime] = getattr(ctx.obj, "clock", utcnow)
    return clock


@contextmanager
def cli_session() -> Iterator[Session]:
    """A session on the configured database, migrated first; the engine is closed after."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url, lock_dir=settings.data_dir)
    engine = make_engine(settings.db_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def fail(exc: FaceRecError) -> NoReturn:
    """Print ``[code] message`` on standard error and exit 1."""
    stderr.print(f"[red]error[/red] {escape(f'[{exc.code}]')} {escape(exc.message)}")
    raise typer.Exit(1)
