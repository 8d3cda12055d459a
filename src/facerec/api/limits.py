"""A cap on the whole request body (``upload.max_request_bytes``), enforced as it streams.

Each image is capped by ``upload.max_bytes`` where it is parsed (``api/inputs.py``);
this bounds the request as a whole, whatever it holds: 50 files just under the per-file
limit, a huge JSON document, a body without a ``Content-Length``. A declared length past
the limit is refused before anything is read; otherwise the bytes are counted as the
route reads them, and the first chunk past the limit ends the reading with
:class:`RequestTooLarge`. Whatever the route or FastAPI makes of that error, the
answer is 413 ``request_too_large``, and nothing was stored: routes store only after
the whole body has been read.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Scope

from facerec.api.body_guard import BodyGuard
from facerec.errors import RequestTooLarge


class BodyLimit(BodyGuard):
    """A request body over ``limit`` bytes is a 413."""

    close_connection = True

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        super().__init__(app)
        self.limit = limit

    def refused_at_once(self, scope: Scope) -> bool:
        return _declared_length(scope) > self.limit

    def chunk_check(self) -> Callable[[bytes], bool]:
        received = 0

        def within(chunk: bytes) -> bool:
            nonlocal received
            received += len(chunk)
            return received <= self.limit

        return within

    def error(self) -> RequestTooLarge:
        return RequestTooLarge(
            f"the request body is over {self.limit} bytes", limit_bytes=self.limit
        )


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
