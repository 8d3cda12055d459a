"""The permission every route declares, and the one place credentials are read.

Every route under ``/api/v1`` (and every other route) states who may call it, with
``dependencies=[require(Permission.X)]`` or ``dependencies=[public()]``.
``check_every_route_declares`` runs when the app is built and refuses to start if a route
declares nothing: a new route is closed until someone decides who may call it.

A request's credential is, in order: ``Authorization: Bearer <secret>``, ``X-API-Key``,
then the session cookie. The lookup runs in a worker thread with a session of its own,
closed before the route runs (an inference route then waits for the engine holding no
connection). A write authenticated by the cookie must come from our own origin
(``Origin``, else ``Referer``): another site's page cannot use a logged-in browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from facerec.auth.permissions import Permission
from facerec.auth.principal import ANONYMOUS, LOCAL, Principal
from facerec.auth.ratelimit import count_request
from facerec.auth.resolve import principal_for_secret, principal_for_session
from facerec.db.engine import session_scope
from facerec.errors import Forbidden, Unauthenticated
from facerec.state import AppState

SESSION_COOKIE = "facerec_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_secret(request: Request) -> tuple[str | None, bool]:
    """The secret the request carries and whether it came in the session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    if key := request.headers.get("x-api-key", "").strip():
        return key, False
    if cookie := request.cookies.get(SESSION_COOKIE):
        return cookie, True
    return None, False


async def current_principal(request: Request) -> Principal:
    """Who is calling (cached on the request). ``ANONYMOUS`` when no credential was sent;
    an invalid one is an error (401), never silently anonymous."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    state: AppState = request.app.state.facerec
    settings = state.settings.auth
    if not settings.enabled:
        principal = LOCAL
    else:
        secret, from_cookie = presented_secret(request)
        if secret is None:
            principal = ANONYMOUS
        else:
            principal = await run_in_threadpool(_lookup, state, secret, from_cookie)
    request.state.principal = principal
    return principal


def _lookup(state: AppState, secret: str, from_cookie: bool) -> Principal:
    settings = state.settings.auth
    with session_scope(state.db) as session:
        now = state.clock()
        if from_cookie:
            return principal_for_session(session, secret=secret, now=now, settings=settings)
        principal = principal_for_secret(session, secret=secret, now=now, settings=settings)
        count_request(session, principal=principal, now=now, settings=settings)  # keys, devices
        return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class PermissionCheck:
    """The dependency ``require`` makes; the route table is read for these."""

    def __init__(self, permission: Permission | None, *, signed_in: bool = False) -> None:
        self.permission = permission
        """None: no particular permission (``public()``, or ``authenticated()``)."""
        self.signed_in = signed_in
        """Any caller with a valid credential, whatever it may do (``authenticated()``)."""

    async def __call__(self, request: Request) -> Principal:
        if self.permission is None and not self.signed_in:
            return ANONYMOUS
        principal = await current_principal(request)
        if principal.kind == "anonymous":
            raise Unauthenticated("log in or send an API key (Authorization: Bearer ...)")
        if self.permission is not None and not principal.can(self.permission):
            raise Forbidden(
                f"this needs the {self.permission.value!r} permission",
                permission=self.permission.value,
            )
        if principal.via_cookie and request.method not in SAFE_METHODS:
            check_same_origin(request)
        return principal


def require(permission: Permission) -> Any:
    """``dependencies=[require(Permission.X)]``: the route needs ``permission``."""
    return Depends(PermissionCheck(permission))


def public() -> Any:
    """``dependencies=[public()]``: anyone may call the route (probes, login, set-up)."""
    return Depends(PermissionCheck(None))


def authenticated() -> Any:
    """``dependencies=[authenticated()]``: any valid credential (``/auth/me``, logout,
    one's own password); the route itself decides what the caller may see."""
    return Depends(PermissionCheck(None, signed_in=True))


def check_same_origin(request: Request) -> None:
    """A cookie-authenticated write must name our own origin in Origin (or Referer)."""
    state: AppState = request.app.state.facerec
    allowed = {_origin_of(str(request.base_url))}
    if state.settings.auth.public_url:
        allowed.add(_origin_of(state.settings.auth.public_url))
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or _origin_of(claimed) not in allowed:
        raise Forbidden("cross-site request refused (Origin is not this server)")


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every API route of ``app`` as it is served: full path, methods and dependencies,
    including those added by ``include_router`` (which FastAPI now includes lazily, so
    ``app.routes`` holds the routers, not their routes)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def declared_permission(route: APIRoute | RouteContext) -> PermissionCheck | None:
    """The ``PermissionCheck`` a route declares (on itself or its routers), if any."""
    for dependency in route.dependant.dependencies:
        if isinstance(dependency.call, PermissionCheck):
            return dependency.call
    return None


def check_every_route_declares(app: FastAPI) -> None:
    """Refuse to build an app with a route that says nothing about who may call it."""
    silent = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in api_routes(app)
        if declared_permission(route) is None
    ]
    if not any(True for _ in api_routes(app)):
        raise RuntimeError("no API route found: the route walk no longer sees the routes")
    if silent:
        raise RuntimeError(f"routes without a declared permission: {', '.join(silent)}")
