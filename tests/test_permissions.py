"""The permission matrix, generated from the app's own route table.

``EXPECTED`` (written here by hand, not read from the code) classifies every route: the
permission it needs, ``public``, or ``authenticated`` (any valid credential). A route the
app serves that the table does not name fails the test: whoever adds a route decides who
may call it. The role -> permission sets are written here by hand too.

Every route is then called by every kind of caller (no credential, a session cookie per
role, an API key per role, a key scoped to ``recognize``, a kiosk device, a revoked and an
expired key). Passing the gate means "not 401/403": the request may still be 404/422,
because it carries ids that do not exist and no body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from facerec.app import create_app
from facerec.auth.deps import api_routes, check_every_route_declares, declared_permission, public
from facerec.config import Settings
from tests import credentials
from tests.fakes import FakeEngine

PUBLIC = "public"
AUTHENTICATED = "authenticated"

EXPECTED: dict[tuple[str, str], str] = {
    # probes and page shells
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/api/v1/healthz"): PUBLIC,
    ("GET", "/api/v1/readyz"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/recognize"): PUBLIC,
    ("GET", "/classify"): PUBLIC,
    ("GET", "/people"): PUBLIC,
    ("GET", "/people/{person_id}"): PUBLIC,
    ("GET", "/attendance"): PUBLIC,
    ("GET", "/kiosk"): PUBLIC,
    ("GET", "/status"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/setup"): PUBLIC,
    ("GET", "/users"): PUBLIC,
    ("GET", "/keys"): PUBLIC,
    ("GET", "/devices"): PUBLIC,
    ("GET", "/audit"): PUBLIC,
    ("GET", "/webhooks"): PUBLIC,
    ("GET", "/account"): PUBLIC,
    ("GET", "/docs"): PUBLIC,  # the pages hold no data; offline assets (engineer "docs")
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/api/v1/status"): "status",
    ("GET", "/metrics"): "metrics",  # Prometheus (issue #13)
    # people and faces
    ("GET", "/api/v1/people"): "people:read",
    ("POST", "/api/v1/people"): "people:write",
    ("GET", "/api/v1/people/{person_id}"): "people:read",
    ("PATCH", "/api/v1/people/{person_id}"): "people:write",
    ("DELETE", "/api/v1/people/{person_id}"): "people:write",
    ("GET", "/api/v1/people/{person_id}/faces"): "people:read",
    ("POST", "/api/v1/people/{person_id}/faces"): "people:write",
    ("GET", "/api/v1/people/{person_id}/export"): "people:write",
    ("DELETE", "/api/v1/faces/{face_id}"): "people:write",
    ("GET", "/api/v1/faces/{face_id}/thumbnail"): "people:read",
    # recognition
    ("POST", "/api/v1/recognize"): "recognize",
    ("POST", "/api/v1/classify"): "recognize",
    ("POST", "/api/v1/verify"): "recognize",
    ("POST", "/api/v1/detect"): "recognize",
    ("POST", "/api/v1/embed"): "recognize",
    # attendance
    ("POST", "/api/v1/attendance/check-in"): "checkin",
    ("GET", "/api/v1/attendance/today"): "attendance:read",
    ("GET", "/api/v1/attendance/events"): "attendance:read",
    ("POST", "/api/v1/attendance/events"): "attendance:write",
    ("DELETE", "/api/v1/attendance/events/{event_id}"): "attendance:write",
    ("GET", "/api/v1/attendance/events/{event_id}/crop"): "attendance:read",
    ("GET", "/api/v1/attendance/unknown"): "attendance:read",
    ("GET", "/api/v1/attendance/unknown/faces/{face_id}/crop"): "attendance:read",
    ("POST", "/api/v1/attendance/unknown/{group_id}/enrol"): "attendance:write",
    ("POST", "/api/v1/attendance/unknown/{group_id}/assign"): "attendance:write",
    ("POST", "/api/v1/attendance/unknown/{group_id}/dismiss"): "attendance:write",
    ("GET", "/api/v1/attendance/report"): "attendance:read",
    ("GET", "/api/v1/attendance/schedules"): "attendance:read",
    ("POST", "/api/v1/attendance/schedules"): "attendance:write",
    ("PUT", "/api/v1/attendance/schedules/{schedule_id}"): "attendance:write",
    ("DELETE", "/api/v1/attendance/schedules/{schedule_id}"): "attendance:write",
    ("GET", "/api/v1/attendance/people/{person_id}/schedule"): "attendance:read",
    ("PUT", "/api/v1/attendance/people/{person_id}/schedule"): "attendance:write",
    ("GET", "/api/v1/attendance/holidays"): "attendance:read",
    ("PUT", "/api/v1/attendance/holidays/{day}"): "attendance:write",
    ("DELETE", "/api/v1/attendance/holidays/{day}"): "attendance:write",
    ("GET", "/api/v1/attendance/audit"): "attendance:read",
    # calibration and settings
    ("GET", "/api/v1/calibration"): "status",
    ("GET", "/api/v1/calibration/threshold"): "status",
    ("PUT", "/api/v1/calibration/threshold"): "settings",
    ("DELETE", "/api/v1/calibration/threshold"): "settings",
    # accounts (engineer "users")
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): AUTHENTICATED,
    ("GET", "/api/v1/auth/me"): AUTHENTICATED,
    ("POST", "/api/v1/auth/password"): AUTHENTICATED,
    ("GET", "/api/v1/auth/setup"): PUBLIC,
    ("POST", "/api/v1/auth/setup"): PUBLIC,
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{user_id}"): "admin",
    ("POST", "/api/v1/users/{user_id}/password"): "admin",
    # keys and devices (engineer "keys")
    ("GET", "/api/v1/keys"): "admin",
    ("POST", "/api/v1/keys"): "admin",
    ("DELETE", "/api/v1/keys/{key_id}"): "admin",
    ("GET", "/api/v1/devices"): "admin",
    ("POST", "/api/v1/devices"): "admin",
    ("POST", "/api/v1/devices/{device_id}/pairing"): "admin",
    ("DELETE", "/api/v1/devices/{device_id}"): "admin",
    ("POST", "/api/v1/devices/pair"): PUBLIC,
    # audit (engineer "audit")
    ("GET", "/api/v1/audit"): "admin",
    # webhooks (issue #13 item 2)
    ("GET", "/api/v1/webhooks"): "admin",
    ("POST", "/api/v1/webhooks"): "admin",
    ("GET", "/api/v1/webhooks/{webhook_id}"): "admin",
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): "admin",
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): "admin",
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): "admin",
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): "admin",
    # the model registry (issue #14 item 1)
    ("GET", "/api/v1/models"): "admin",
    ("POST", "/api/v1/models/pull"): "admin",
    ("POST", "/api/v1/models/import"): "admin",
    ("DELETE", "/api/v1/models/{name}"): "admin",
    ("GET", "/api/v1/models/switch"): "admin",
    ("POST", "/api/v1/models/{name}/use"): "admin",
    # gallery export/import (issue #13)
    ("GET", "/api/v1/gallery/export"): "admin",
    ("POST", "/api/v1/gallery/import"): "admin",
}

IN_PROGRESS = {
    key
    for key in EXPECTED
    if re.match(r"/api/v1/(auth|users|keys|devices|audit)\b", key[1])
    or key[1] in {"/login", "/setup", "/account", "/users", "/keys", "/devices", "/audit"}
}
"""Routes of the contract other engineers are adding now: the table may name them before
the app serves them. Every other entry must be a route the app serves."""

_VIEWER = {"people:read", "attendance:read", "status", "recognize"}
_MANAGER = _VIEWER | {"people:write", "attendance:write", "checkin"}
_ADMIN = _MANAGER | {"settings", "admin", "metrics"}
ROLES = {"viewer": _VIEWER, "manager": _MANAGER, "admin": _ADMIN}


@dataclass(frozen=True)
class Caller:
    name: str
    held: frozenset[str] | None
    """Permissions it holds; None: its credential is refused (401) on every closed route."""
    cookie: bool = False


CALLERS = [
    Caller("anonymous", None),
    *(Caller(f"{role} session", frozenset(p), cookie=True) for role, p in ROLES.items()),
    *(Caller(f"{role} key", frozenset(p)) for role, p in ROLES.items()),
    Caller("recognize-only key", frozenset({"recognize"})),
    Caller("kiosk device", frozenset({"checkin"})),
    Caller("revoked key", None),
    Caller("expired key", None),
]

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
"""Noon in the test zone; nothing here depends on the day."""
MISSING_ID = "999999"
"""Path ids that exist nowhere: a write that passes the gate changes nothing."""


def _path(template: str) -> str:
    filled = template.replace("{day}", "2026-03-10")
    return re.sub(r"\{[^}]+\}", MISSING_ID, filled)


def _secret(db: Engine, caller: Caller) -> str | None:
    """The credential ``caller`` sends, made in ``db``."""
    name, role = caller.name, caller.name.split()[0]
    before = NOW - timedelta(seconds=1)
    makers: dict[str, Callable[[], str | None]] = {
        "anonymous": lambda: None,
        "recognize-only key": lambda: credentials.api_key(
            db, name="scoped", role="admin", scopes=("recognize",), now=NOW
        ),
        "kiosk device": lambda: credentials.device_token(db, name="front door", now=NOW),
        "revoked key": lambda: credentials.api_key(
            db, name="old", role="admin", now=NOW, revoked_at=before
        ),
        "expired key": lambda: credentials.api_key(
            db, name="late", role="admin", now=NOW, expires_at=before
        ),
    }
    if name in makers:
        return makers[name]()
    if caller.cookie:
        return credentials.session_cookie(db, username=role, role=role, now=NOW)
    return credentials.api_key(db, name=name, role=role, now=NOW)


def _headers(caller: Caller, secret: str | None) -> dict[str, str]:
    if secret is None:
        return {}
    if caller.cookie:  # a browser: the cookie, and our own origin on writes
        return {"Cookie": f"facerec_session={secret}", "Origin": "http://testserver"}
    return {"Authorization": f"Bearer {secret}"}


def _expected(rule: str, caller: Caller) -> str:
    """``open`` (not 401/403), ``401`` or ``403``."""
    if rule == PUBLIC:
        return "open"
    if caller.held is None:
        return "401"
    if rule == AUTHENTICATED or rule in caller.held:
        return "open"
    return "403"


def _seen(status: int) -> str:
    return str(status) if status in (401, 403) else "open"


def _auth_settings(settings: Settings) -> Settings:
    auth = settings.auth.model_copy(update={"enabled": True})
    return settings.model_copy(update={"auth": auth})


@pytest.fixture
def auth_app(settings: Settings) -> Iterator[TestClient]:
    app = create_app(_auth_settings(settings), engine=FakeEngine(), clock=lambda: NOW)
    with TestClient(app) as client:
        yield client


def _served(app: FastAPI) -> list[tuple[str, str]]:
    return sorted((m, str(r.path)) for r in api_routes(app) for m in r.methods or ())


def test_every_route_is_in_the_table(settings: Settings) -> None:
    app = create_app(_auth_settings(settings), engine=FakeEngine())
    served = _served(app)
    unclassified = [route for route in served if route not in EXPECTED]
    assert not unclassified, f"add these routes to EXPECTED: {unclassified}"
    stale = set(EXPECTED) - set(served) - IN_PROGRESS
    assert not stale, f"EXPECTED names routes the app does not serve: {sorted(stale)}"
    assert len(served) >= 55  # the walk sees the included routers' routes


def test_every_route_declares_what_the_table_says(settings: Settings) -> None:
    app = create_app(_auth_settings(settings), engine=FakeEngine())
    wrong = []
    for route in api_routes(app):
        check = declared_permission(route)
        assert check is not None
        declared = PUBLIC if check.permission is None else check.permission.value
        for method in route.methods or ():
            rule = EXPECTED[(method, str(route.path))]
            if rule not in (AUTHENTICATED, declared):
                wrong.append(f"{method} {route.path}: declares {declared}, expected {rule}")
    assert not wrong, wrong


def test_the_openapi_schema_says_who_may_call_each_operation(settings: Settings) -> None:
    """Swagger UI's "Authorize" and generated clients read this: every operation the table
    does not call public needs a credential (any of the three schemes), and names its
    permission."""
    with TestClient(create_app(_auth_settings(settings), engine=FakeEngine())) as client:
        spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-API-Key")
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "facerec_session")
    seen = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            rule = EXPECTED[(method.upper(), path)]
            security = operation.get("security")
            if rule == PUBLIC:
                assert security is None, f"{method} {path} is public"
                continue
            seen += 1
            assert security == [{"bearer": []}, {"apiKey": []}, {"session": []}], path
            assert operation.get("x-permission") == (None if rule == AUTHENTICATED else rule)
    assert seen >= 50


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.name)
def test_permission_matrix(auth_app: TestClient, caller: Caller) -> None:
    state = auth_app.app.state.facerec  # type: ignore[attr-defined]
    headers = _headers(caller, _secret(state.db, caller))
    routes = _served(auth_app.app)  # type: ignore[arg-type]
    routes.sort(key=lambda route: route[1].startswith("/api/v1/auth/logout"))  # logout last
    wrong = []
    for method, template in routes:
        expected = _expected(EXPECTED[(method, template)], caller)
        response = auth_app.request(method, _path(template), headers=headers)
        auth_app.cookies.clear()  # a caller only ever sends its own credential
        if _seen(response.status_code) != expected:
            wrong.append(f"{method} {template}: {response.status_code}, expected {expected}")
        if expected in ("401", "403"):
            code = response.json()["error"]["code"]
            assert code in {"unauthenticated", "forbidden", "device_revoked"}
    assert not wrong, f"{caller.name}: {wrong}"


def test_a_route_without_a_declared_permission_stops_the_app() -> None:
    def endpoint() -> None:
        return None

    silent = APIRouter()
    silent.add_api_route("/forgotten", endpoint, methods=["POST"])
    declared = APIRouter()
    declared.add_api_route("/probe", endpoint, methods=["GET"])
    app = FastAPI()
    app.include_router(declared, prefix="/x", dependencies=[public()])
    check_every_route_declares(app)  # declared on the router: fine
    app.include_router(silent, prefix="/api/v1")
    with pytest.raises(RuntimeError, match=r"\['POST'\] /api/v1/forgotten"):
        check_every_route_declares(app)


def test_the_route_walk_sees_nested_routers() -> None:
    def endpoint() -> None:
        return None

    inner = APIRouter()
    inner.add_api_route("/deep", endpoint, methods=["DELETE"])
    outer = APIRouter()
    outer.include_router(inner, prefix="/inner")
    app = FastAPI()
    app.include_router(outer, prefix="/outer")
    assert [(r.path, r.methods) for r in api_routes(app)] == [("/outer/inner/deep", {"DELETE"})]
