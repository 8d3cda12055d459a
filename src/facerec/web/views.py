"""Serves the single-page app: the same index.html for every page path, assets under /static."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from facerec.auth.deps import public

STATIC = Path(__file__).with_name("static")
PAGES = (
    *(
        "/",
        "/recognize",
        "/classify",
        "/people",
        "/people/{person_id}",
        "/attendance",
        "/kiosk",
        "/status",
    ),
    *("/login", "/setup", "/account", "/users", "/keys", "/devices", "/audit", "/webhooks"),
)
"""Page shells hold no data (public); the API behind each page checks the caller."""

router = APIRouter(include_in_schema=False)


def _index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


for page in PAGES:
    router.add_api_route(page, _index, methods=["GET"], dependencies=[public()])


def mount_web(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
