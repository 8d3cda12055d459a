"""A bound on how deeply a JSON request body nests, checked as the body streams in.

Python's ``json`` recurses once per level: 100,000 ``[`` raise ``RecursionError`` (our
base64 routes answered 500; FastAPI's body parsing a vague 400), and even depths that
parse make pydantic and every later walk over the value recurse as deep. No FaceRec body
nests past 3 levels; :data:`MAX_DEPTH` leaves room to spare.

:class:`JsonDepthLimit` scans every chunk of a JSON body (``application/json``,
``+json``, or no content type, which FastAPI parses as JSON) on its way to the route,
tracking strings, escapes and depth across chunk boundaries. The first chunk that
passes the bound ends the reading; whatever the route or FastAPI makes of that error,
the answer is 422 ``validation_error``. :class:`DepthScanner` does the counting in C
(``bytes.replace``/``translate``) and numpy, never a Python step per byte: a 27 MB
base64 body costs a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from starlette.types import ASGIApp, Scope

from facerec.api.body_guard import BodyGuard
from facerec.errors import ValidationFailed

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects a JSON body may have."""
SLICE = 1 << 20
"""Bytes scanned at once (bounds the scanner's temporary arrays)."""

_SPECIAL = b'"[]{}'
_OTHERS = bytes(b for b in range(256) if b not in _SPECIAL)
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


class DepthScanner:
    """Follows a JSON text chunk by chunk; :meth:`feed` is False once it nests too deep.

    Exact for any valid JSON prefix (the only text a parser recurses into)."""

    def __init__(self, max_depth: int = MAX_DEPTH) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self._backslash = b""  # a chunk ended inside an escape: its backslash

    def feed(self, chunk: bytes) -> bool:
        slices = range(0, len(chunk), SLICE)
        return all(self._scan(chunk[start : start + SLICE]) for start in slices)

    def _scan(self, data: bytes) -> bool:
        # Escapes pair up left to right: drop ``\\`` pairs, then escaped quotes. A lone
        # backslash left at the end escapes the next chunk's first byte.
        text = (self._backslash + data).replace(b"\\\\", b"").replace(b'\\"', b"")
        self._backslash = b"\\" if text.endswith(b"\\") else b""
        marks = np.frombuffer(text.translate(None, _OTHERS), dtype=np.uint8)
        if not marks.size:
            return True
        quote = marks == ord('"')
        # A mark is inside a string when an odd number of quotes precede it.
        inside = (np.cumsum(quote) + self.in_string) % 2 == 1
        steps = np.where(inside | quote, 0, _OPEN[marks]).astype(np.int64)
        depths = self.depth + np.cumsum(steps)
        self.depth = int(depths[-1])
        self.in_string = bool(self.in_string) ^ bool(quote.sum() % 2)
        return int(depths.max()) <= self.max_depth


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            mime = value.split(b";")[0].strip().lower()
            return bool(mime == b"application/json" or mime.endswith(b"+json"))
    return True  # no content type: FastAPI reads the body as JSON


class JsonDepthLimit(BodyGuard):
    """A JSON body nesting past ``max_depth`` is a 422."""

    def __init__(self, app: ASGIApp, *, max_depth: int = MAX_DEPTH) -> None:
        super().__init__(app)
        self.max_depth = max_depth

    def applies(self, scope: Scope) -> bool:
        return _is_json(scope)

    def chunk_check(self) -> Callable[[bytes], bool]:
        return DepthScanner(self.max_depth).feed

    def error(self) -> ValidationFailed:
        return ValidationFailed(
            f"the JSON body nests deeper than {self.max_depth} levels", max_depth=self.max_depth
        )
