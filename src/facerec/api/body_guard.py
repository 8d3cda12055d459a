"""The shared shape of the middlewares that check a request body as it streams in.

A :class:`BodyGuard` watches every body chunk on its way to the route. The first chunk
that fails the check ends the reading with the guard's error. Whatever the route or
FastAPI then makes of that error (a handler, a vague 400, a 500), the client gets the
guard's own answer, and nothing was stored: routes store only after the whole body has
been read. Subclasses say which requests they check, how, and with which error.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facerec.api.errors import error_response, status_of
from facerec.errors import FaceRecError


class BodyGuard:
    """Pure ASGI middleware: refuse a request whose body fails :meth:`chunk_check`."""

    close_connection = False
    """Ask the client to close the connection with the refusal (the rest of the body is
    left unread)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def applies(self, scope: Scope) -> bool:
        """Whether this request's body is checked at all."""
        return True

    def refused_at_once(self, scope: Scope) -> bool:
        """Whether the headers alone already fail the check (nothing is read)."""
        return False

    def chunk_check(self) -> Callable[[bytes], bool]:
        """A fresh check for one request: called with each chunk, False once it fails."""
        raise NotImplementedError

    def error(self) -> FaceRecError:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.applies(scope):
            await self.app(scope, receive, send)
            return
        if self.refused_at_once(scope):
            await self._refuse(scope, receive, send)
            return
        check = self.chunk_check()
        failed = responded = False

        async def checked_receive() -> Message:
            nonlocal failed
            message = await receive()
            if message["type"] == "http.request" and not check(message.get("body", b"")):
                failed = True
                raise self.error()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal responded
            if failed:  # the answer is ours, whatever the app turned the error into
                if not responded:
                    responded = True
                    await self._refuse(scope, receive, send)
                return
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, checked_receive, guarded_send)
        except Exception:
            if not failed or responded:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = self.error()
        response = error_response(status_of(error), error.code, error.message, **error.details)
        if self.close_connection:
            response.headers["connection"] = "close"
        await response(scope, receive, send)
