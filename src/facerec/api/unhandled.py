"""An unexpected error is logged once, with its traceback, and answered 500.

Starlette's outermost ``ServerErrorMiddleware`` answers with the app's ``Exception``
handler and then raises the error again, for the server to log: uvicorn logs it a second
time ("Exception in ASGI application", the whole traceback again). This middleware sits
inside it and swallows the error after logging it, so the server never sees it.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facerec.api.errors import internal_error_response

log = logging.getLogger("facerec.api")


class UnhandledErrors:
    """Pure ASGI middleware: the one place an unexpected error is logged (and answered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:
            log.error("unhandled error in %s %s", scope["method"], scope["path"], exc_info=exc)
            if not started:  # otherwise the server closes the half-sent response
                await internal_error_response()(scope, receive, send)
