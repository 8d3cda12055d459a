"""Where a request came from, for the audit log, without passing HTTP into services.

:class:`ClientAddress` (pure ASGI middleware) sets :data:`client_address` from the
connection's peer (``scope["client"]``). No header is read here: ``X-Forwarded-For`` is
whatever a client writes. Behind a reverse proxy, the address is the one uvicorn puts in
``scope["client"]`` (uvicorn rewrites it from ``X-Forwarded-For`` only for the proxies
in its ``--forwarded-allow-ips`` / ``FORWARDED_ALLOW_IPS``, by default 127.0.0.1).
The request id comes from :data:`facerec.logs.request_id` (``api/request_id.py``).
:data:`request_clock` is the app's injected clock (``create_app(clock=...)``), so an
entry's time follows it. Outside a request (CLI, the retention job) all three are None.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime

from starlette.types import ASGIApp, Receive, Scope, Send

client_address: ContextVar[str | None] = ContextVar("facerec_client_address", default=None)
request_clock: ContextVar[Callable[[], datetime] | None] = ContextVar(
    "facerec_request_clock", default=None
)


def current_address() -> str | None:
    return client_address.get()


def current_time() -> datetime | None:
    """Now by the app's clock, inside a request; None outside one."""
    clock = request_clock.get()
    return None if clock is None else clock()


class ClientAddress:
    """Sets :data:`client_address` for the request. Like ``RequestId``, it sets and does
    not reset: each request runs in its own task, whose context dies with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            client_address.set(str(client[0])[:64] if client else None)
            state = getattr(getattr(scope.get("app"), "state", None), "facerec", None)
            request_clock.set(getattr(state, "clock", None))
        await self.app(scope, receive, send)
