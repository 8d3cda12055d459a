"""Every request has an id: in every log line it causes, in its error bodies, and returned
as ``X-Request-ID``.

A valid incoming ``X-Request-ID`` (1 to 64 of ``A-Z a-z 0-9 . _ : -``: what a proxy or a
client generates) is kept, so one id follows a call across services; anything else is
replaced by a new one (uuid4 hex), since it would end up in log lines.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facerec.logs import request_id

REQUEST_ID_HEADER = "x-request-id"
VALID_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def incoming_id(scope: Scope) -> str | None:
    """The client's ``X-Request-ID`` when it is one we keep, else None."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode() and VALID_ID.fullmatch(value):
            return str(value.decode("ascii"))
    return None


class RequestId:
    """Pure ASGI middleware: sets :data:`facerec.logs.request_id` and the response header.

    The context variable is set, not reset: each request runs in its own task (uvicorn,
    the test clients), whose context dies with it, and errors that escape this
    middleware are still logged under the request's id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope) or uuid.uuid4().hex
        request_id.set(rid)
        header = (REQUEST_ID_HEADER.encode(), rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != header[0]]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        await self.app(scope, receive, send_with_id)
