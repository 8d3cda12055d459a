"""CORS for other origins' pages that call the API with a key (``auth.cors_origins``).

Empty by default: no CORS headers at all, so a browser keeps other sites' scripts from
reading any answer. When origins are listed, those pages may call the API with
``Authorization: Bearer`` or ``X-API-Key``, never with the session cookie
(``allow_credentials=False``: the browser neither sends it nor lets them read the answer).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

ALLOWED_HEADERS = ["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"]
EXPOSED_HEADERS = ["X-Request-ID", "Retry-After"]


def add_cors(app: FastAPI, origins: list[str]) -> None:
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[origin.rstrip("/") for origin in origins],
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
