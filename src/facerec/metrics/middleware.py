"""``RequestMetrics``: every HTTP request counted and timed by its route template.

The label is the template the router matched (``/api/v1/people/{person_id}``), never the
raw path, so ids do not multiply the series; a request no route matched is ``unmatched``.
The router writes the matched route into the request's scope (``scope["route"]``), which
this middleware, outside it, reads once the answer is sent. FastAPI puts the route as
declared there (``/people/{person_id}``, without the prefixes of ``include_router``), so
the full template comes from the app's own route table (``iter_route_contexts``), built
once; a route included twice (``/healthz`` and ``/api/v1/healthz``) is told apart by the
path it matched.
"""

from __future__ import annotations

import re
from time import perf_counter
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facerec.metrics.instruments import observe_request

UNMATCHED = "unmatched"
Templates = dict[int, list[tuple[re.Pattern[str], str]]]
"""``id(route)`` -> (path regex, full template) of each place the route is served."""


def route_templates(app: Any) -> Templates:
    table: Templates = {}
    for context in iter_route_contexts(app.routes):
        regex, path = getattr(context, "path_regex", None), context.path
        if isinstance(regex, re.Pattern) and path:
            table.setdefault(id(context.original_route), []).append((regex, path))
    return table


def route_template(scope: Scope, table: Templates) -> str:
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    places = table.get(id(route))
    if places:
        if len(places) == 1:
            return places[0][1]
        path = scope.get("path", "")
        for regex, template in places:
            if regex.match(path):
                return template
    own = getattr(route, "path", None)
    return own if isinstance(own, str) and own else UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware; the outermost one, so it sees the status every client sees
    (a 500 made by ``UnhandledErrors`` included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: Templates | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500  # what the server answers when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if self._templates is None:  # the first request: every route is declared by now
                self._templates = route_templates(scope["app"])
            template = route_template(scope, self._templates)
            observe_request(scope["method"], template, status, perf_counter() - start)
