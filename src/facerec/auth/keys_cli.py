"""``facerec keys create|list|revoke``: API keys from the shell.

``keys create`` prints the secret as the only line on standard output, so a script can
do ``KEY=$(facerec keys create --name payroll --role viewer)``. Registered by
``facerec.cli``; the clock comes from the caller's ``CliContext`` (``ctx.obj.clock``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from facerec.audit import cli_actor
from facerec.auth import keys
from facerec.auth.permissions import Role
from facerec.cli_support import cli_clock, cli_session, fail, stderr
from facerec.errors import FaceRecError

keys_app = typer.Typer(help="API keys for scripts and integrations.", no_args_is_help=True)
console = Console()


def end_of_day(day: datetime) -> datetime:
    """``--expires 2027-01-31``: the key works through that day (UTC)."""
    return datetime.combine(day.date() + timedelta(days=1), time(0), tzinfo=UTC)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists and audit)")],
    role: Annotated[Role, typer.Option(help="The permissions it holds")],
    scope: Annotated[
        list[str] | None, typer.Option(help="Narrow to these permissions (repeatable)")
    ] = None,
    expires: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day it works (UTC), e.g. 2027-01-31"),
    ] = None,
) -> None:
    """Create a key; prints only its secret (shown this once)."""
    try:
        key_in = keys.KeyCreate(
            name=name,
            role=role,
            scopes=scope or [],
            expires_at=end_of_day(expires) if expires else None,
        )
    except ValueError as exc:
        stderr.print(f"[red]error[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    with cli_session() as session:
        try:
            created = keys.create_key(
                session=session, key_in=key_in, actor=cli_actor(), now=cli_clock(ctx)()
            )
        except FaceRecError as exc:
            fail(exc)
            return
    typer.echo(created.secret)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: prefix, role, scopes, expiry, last use, revocation."""
    with cli_session() as session:
        page = keys.list_keys(session=session, limit=10_000)
    table = Table("id", "name")
    table.add_column("prefix", no_wrap=True)  # what identifies a key: never cut
    for title in ("role", "scopes", "expires", "last used", "revoked"):
        table.add_column(title)
    for k in page.items:
        table.add_row(
            str(k.id),
            escape(k.name),
            k.prefix,
            k.role.value,
            ", ".join(k.scopes) or "(role)",
            _when(k.expires_at),
            _when(k.last_used_at),
            _when(k.revoked_at),
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: int) -> None:
    """Revoke a key: every worker refuses it from its next request."""
    with cli_session() as session:
        try:
            keys.revoke_key(session=session, key_id=key_id, actor=cli_actor(), now=cli_clock(ctx)())
        except FaceRecError as exc:
            fail(exc)
            return
    console.print(f"revoked key {key_id}")


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""
