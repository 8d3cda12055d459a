"""``facerec webhooks add|list|remove|deliveries|redeliver``: webhooks from the shell.

``webhooks add`` prints the endpoint's id and signing secret (shown this once) on
standard output as ``<id> <secret>``, so a script can read both. Every change is audited
as ``audit.cli_actor()``; the clock comes from the caller's ``CliContext``.
Registered by ``facerec.cli``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from facerec.audit import cli_actor
from facerec.cli_support import cli_clock, cli_session, fail, stderr
from facerec.errors import FaceRecError
from facerec.webhooks import service
from facerec.webhooks.models import EVENTS, EndpointCreate

webhooks_app = typer.Typer(
    help="Webhooks: events sent to other systems (signed, retried).", no_args_is_help=True
)
console = Console()


@webhooks_app.command("add")
def webhooks_add(
    ctx: typer.Context,
    *,
    url: Annotated[str, typer.Argument(help="Where to POST events (http:// or https://)")],
    event: Annotated[
        list[str], typer.Option(help=f"An event to send (repeatable): {', '.join(EVENTS)}")
    ],
    secret: Annotated[
        str | None, typer.Option(help="Your own signing secret (16+ characters); default: new")
    ] = None,
    description: Annotated[str, typer.Option(help="What it is for")] = "",
    disabled: Annotated[bool, typer.Option("--disabled", help="Register it switched off")] = False,
) -> None:
    """Register an endpoint; prints ``<id> <secret>`` (the secret is shown this once)."""
    try:
        endpoint_in = EndpointCreate.model_validate(
            {
                "url": url,
                "events": event,
                "secret": secret,
                "description": description,
                "enabled": not disabled,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        stderr.print(f"[red]error[/red] {escape(problems)}")
        raise typer.Exit(2) from exc
    with cli_session() as session:
        created = service.create_endpoint(
            session=session, endpoint_in=endpoint_in, actor=cli_actor(), now=cli_clock(ctx)()
        )
    typer.echo(f"{created.id} {created.secret}")


@webhooks_app.command("list")
def webhooks_list() -> None:
    """Every endpoint: URL, events, enabled, deliveries pending and failed."""
    with cli_session() as session:
        page = service.list_endpoints(session=session, limit=10_000)
    table = Table("id")
    table.add_column(
        "url", no_wrap=True, min_width=max((len(e.url) for e in page.items), default=3)
    )
    for title in ("events", "enabled", "pending", "failed", "description"):
        table.add_column(title)
    for e in page.items:
        table.add_row(
            str(e.id),
            escape(e.url),
            ", ".join(e.events),
            "yes" if e.enabled else "no",
            str(e.pending),
            str(e.failed),
            escape(e.description),
        )
    console.print(table)


@webhooks_app.command("remove")
def webhooks_remove(ctx: typer.Context, webhook_id: int) -> None:
    """Remove an endpoint and its delivery log (pending deliveries are not sent)."""
    with cli_session() as session:
        try:
            service.delete_endpoint(
                session=session, endpoint_id=webhook_id, actor=cli_actor(), now=cli_clock(ctx)()
            )
        except FaceRecError as exc:
            fail(exc)
    console.print(f"removed webhook {webhook_id}")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    webhook_id: int,
    status: Annotated[str | None, typer.Option(help="Only these: pending, sent or failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """An endpoint's delivery log, newest first: status, attempts, last error."""
    if status not in (None, "pending", "sent", "failed"):
        stderr.print("[red]error[/red] --status must be pending, sent or failed")
        raise typer.Exit(2)
    with cli_session() as session:
        try:
            page = service.list_deliveries(
                session=session, endpoint_id=webhook_id, status=status, limit=limit
            )
        except FaceRecError as exc:
            fail(exc)
    table = Table("id", "event", "created", "status", "attempts", "next attempt", "last error")
    for d in page.items:
        table.add_row(
            str(d.id),
            d.event,
            _when(d.created_at),
            d.status,
            str(d.attempts),
            _when(d.next_attempt_at) if d.status == "pending" else "",
            escape(d.last_error or ""),
        )
    console.print(table)
    console.print(f"{page.total} deliveries")


@webhooks_app.command("redeliver")
def webhooks_redeliver(ctx: typer.Context, webhook_id: int, delivery_id: int) -> None:
    """Send a delivery again from now (attempts reset, the same delivery id)."""
    with cli_session() as session:
        try:
            service.redeliver(
                session=session,
                endpoint_id=webhook_id,
                delivery_id=delivery_id,
                actor=cli_actor(),
                now=cli_clock(ctx)(),
            )
        except FaceRecError as exc:
            fail(exc)
    console.print(f"delivery {delivery_id} queued again")


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""
