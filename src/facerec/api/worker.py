"""Every response names the worker process that answered it (``X-FaceRec-Worker``).

With several workers behind one listening socket the kernel picks who accepts each
connection; the header lets operators and tests see which one did.
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WORKER_HEADER = "x-facerec-worker"


class WorkerHeader:
    """Pure ASGI middleware: adds the worker's process id to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        worker = str(os.getpid()).encode()

        async def send_with_worker(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((WORKER_HEADER.encode(), worker))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_worker)
