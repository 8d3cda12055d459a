"""``facerec users create|list|disable|reset-password``: accounts from the shell, and the
first-run set-up link ``facerec serve`` prints.

Thin wrappers over ``auth/users.py`` (the same service as the API). Passwords come from
an interactive prompt (asked twice) or, with ``--password-stdin``, from the first line of
standard input; they are never echoed, logged or audited. Registered by ``facerec.cli``;
the clock comes from the caller's ``CliContext`` (``ctx.obj.clock``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError as PydanticError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session

from facerec.audit import cli_actor
from facerec.auth import users
from facerec.auth.permissions import Role
from facerec.auth.setup import issue_setup_token, setup_link
from facerec.auth.shapes import UserCreate, UserUpdate
from facerec.cli_support import cli_clock, cli_session, fail, stderr
from facerec.config import Settings
from facerec.db.engine import make_engine
from facerec.errors import FaceRecError, ValidationFailed

users_app = typer.Typer(help="User accounts (the web UI's logins).", no_args_is_help=True)
console = Console()

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input")
]


def announce_setup(settings: Settings, now: datetime) -> str | None:
    """While no administrator exists: a new set-up link, printed on standard error (the
    previous one stops working). Called by ``facerec serve`` before any worker starts."""
    engine = make_engine(settings.db_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            secret = issue_setup_token(session=session, now=now)
    finally:
        engine.dispose()
    if secret is None:
        return None
    link = setup_link(settings, secret)
    print(
        f"No administrator yet. Create the first one within 24 hours at: {link}\n"
        "(or run: facerec users create NAME --role admin)",
        file=sys.stderr,
        flush=True,
    )
    return link


@contextmanager
def _session() -> Iterator[Session]:
    """``cli_session``, with service and validation errors as an error exit."""
    try:
        with cli_session() as session:
            yield session
    except FaceRecError as exc:
        fail(exc)
    except PydanticError as exc:
        stderr.print(f"[red]error[/red] [validation_failed] {escape(str(exc))}")
        raise typer.Exit(1) from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise ValidationFailed("no password on standard input")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name")],
    role: Annotated[Role, typer.Option(help="admin, manager or viewer")] = Role.VIEWER,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account (``--role admin`` for the first administrator)."""
    with _session() as session:
        user_in = UserCreate(username=name, password=_read_password(password_stdin), role=role)
        user = users.create_user(
            session=session, user_in=user_in, actor=cli_actor(), now=cli_clock(ctx)()
        )
    console.print(f"created user {escape(user.username)} ({user.role}), id {user.id}")


@users_app.command("list")
def users_list() -> None:
    """Every account with its role and whether it is disabled."""
    with _session() as session:
        page = users.list_users(session=session, limit=10_000)
    table = Table("id", "user name", "role", "disabled", "created")
    for user in page.items:
        created = user.created_at.isoformat(timespec="seconds")
        table.add_row(str(user.id), escape(user.username), user.role, str(user.disabled), created)
    console.print(table)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="User name")]) -> None:
    """Disable an account: it cannot log in, and its sessions end."""
    with _session() as session:
        user = users.find_user(session=session, username=name)
        assert user.id is not None
        users.update_user(
            session=session, user_id=user.id, user_in=UserUpdate(disabled=True), actor=cli_actor()
        )
    console.print(f"disabled {escape(name)}; their sessions have ended")


@users_app.command("reset-password")
def users_reset_password(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set an account's password; its sessions end."""
    with _session() as session:
        user = users.find_user(session=session, username=name)
        assert user.id is not None
        users.reset_password(
            session=session,
            user_id=user.id,
            new_password=_read_password(password_stdin),
            actor=cli_actor(),
            now=cli_clock(ctx)(),
        )
    console.print(f"new password set for {escape(name)}; their sessions have ended")
