"""``/docs`` (Swagger UI), ``/redoc`` and ``/openapi.json``, with no CDN.

FastAPI's own pages load swagger-ui and redoc from a CDN and start them with an inline
script, which our Content-Security-Policy forbids: without internet the page stays blank.
Here the assets come from the ``fastapi-offline`` package (installed with FaceRec, pinned),
served under ``/docs-assets``, and the pages start them with our own scripts
(``/static/js/docs-swagger.js``, ``/static/js/docs-redoc.js``).

All three routes are public: the pages hold no data, and the schema describes the API,
not what is stored; clients and contract tests (Schemathesis) read it before they have a
credential. The schema names the credentials (``components.securitySchemes``: a Bearer
token, the ``X-API-Key`` header, the session cookie) and, on every route that is not
public, that it needs one of them and which permission (``x-permission``), read from the
route's own declaration (``auth/deps.py``). Swagger UI's "Authorize" takes an API key, or
"Try it out" uses the browser's session cookie.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from facerec.auth.deps import SESSION_COOKIE, api_routes, declared_permission, public

ASSETS = Path(fastapi_offline.__file__).with_name("static")
ASSETS_URL = "/docs-assets"
OPENAPI_URL = "/openapi.json"

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="{assets}/favicon.png">
{head}
</head>
<body>
<div id="{element}" data-openapi-url="{openapi}"></div>
<script src="{assets}/{library}"></script>
<script src="{root}/static/js/{starter}"></script>
</body>
</html>
"""


def _page(
    request: Request, *, title: str, element: str, library: str, starter: str, head: str = ""
) -> HTMLResponse:
    root = escape(request.scope.get("root_path", ""))
    html = _PAGE.format(
        title=escape(title),
        assets=root + ASSETS_URL,
        head=head.format(assets=root + ASSETS_URL),
        element=element,
        openapi=root + OPENAPI_URL,
        library=library,
        root=root,
        starter=starter,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/docs", dependencies=[public()])
def swagger_ui(request: Request) -> HTMLResponse:
    return _page(
        request,
        title=f"{request.app.title} - Swagger UI",
        element="swagger-ui",
        library="swagger-ui-bundle.js",
        starter="docs-swagger.js",
        head='<link rel="stylesheet" href="{assets}/swagger-ui.css">',
    )


@router.get("/redoc", dependencies=[public()])
def redoc(request: Request) -> HTMLResponse:
    return _page(
        request,
        title=f"{request.app.title} - ReDoc",
        element="redoc",
        library="redoc.standalone.js",
        starter="docs-redoc.js",
    )


SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API key or device token"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
}
ANY_CREDENTIAL: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]
"""OpenAPI's "any one of these": each scheme alone is enough."""


@router.get(OPENAPI_URL, dependencies=[public()])
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(documented_schema(request.app))


def documented_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema (built once, cached on the app) with who may call each operation."""
    schema: dict[str, Any] = app.openapi()
    if "securitySchemes" in schema.get("components", {}):
        return schema
    for route in api_routes(app):
        check = declared_permission(route)
        item = schema["paths"].get(route.path_format, {})
        if check is None or (check.permission is None and not check.signed_in):
            continue  # public: no credential
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is None:
                continue
            operation["security"] = ANY_CREDENTIAL
            if check.permission is not None:
                operation["x-permission"] = check.permission.value
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    return schema


def mount_docs(app: FastAPI) -> None:
    """Add the three routes and the assets (``FastAPI(docs_url=None, redoc_url=None,
    openapi_url=None)`` leaves them to us)."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
