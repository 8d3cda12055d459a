"""Browser safety without a browser: security headers on every kind of answer, CORS only
for listed origins and never with the cookie, offline /docs and /redoc, public schema."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx2 import Headers

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def _app_client(settings: Settings, **auth: object) -> TestClient:
    configured = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"enabled": True, **auth})}
    )
    return TestClient(create_app(configured, engine=FakeEngine()))


@pytest.fixture
def secured(settings: Settings) -> Iterator[TestClient]:
    with _app_client(settings) as test_client:
        yield test_client


def _assert_safety_headers(headers: Headers, policy: str = POLICY) -> None:
    assert headers.get("content-security-policy") == policy
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "same-origin"
    assert headers.get("x-frame-options") == "DENY"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),  # a page shell
        ("GET", "/login", 200),
        ("GET", "/users", 200),
        ("GET", "/static/js/main.js", 200),  # a static asset
        ("GET", "/static/nothing.js", 404),
        ("GET", "/healthz", 200),  # a probe
        ("GET", "/api/v1/people", 401),  # an error from the permission check
        ("GET", "/api/v1/no-such-route", 404),
        ("POST", "/api/v1/people", 401),
    ],
)
def test_every_kind_of_answer_carries_the_headers(
    secured: TestClient, method: str, path: str, status: int
) -> None:
    response = secured.request(method, path)
    assert response.status_code == status
    _assert_safety_headers(response.headers)


def test_an_unexpected_error_is_answered_with_the_headers_too(settings: Settings) -> None:
    engine = FakeEngine()
    app = create_app(settings, engine=engine)

    @app.get("/boom", dependencies=[])
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500
    _assert_safety_headers(response.headers)


def test_the_docs_pages_allow_inline_style_but_never_inline_script(secured: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        policy = secured.get(path).headers["content-security-policy"]
        directives = dict(part.split(" ", 1) for part in policy.split("; "))
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self' 'unsafe-inline'"
        assert directives["frame-ancestors"] == "'none'"


def test_the_pages_have_no_inline_script_or_handler(secured: TestClient) -> None:
    for path in ("/", "/docs", "/redoc"):
        html = secured.get(path).text
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
        assert scripts and all(body.strip() == "" for body in scripts), (path, scripts)
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert " style=" not in html, path


def test_docs_load_every_asset_from_this_server(secured: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        response = secured.get(path)  # public: no credential
        assert response.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert len(urls) >= 3, urls
        for url in urls:
            assert url.startswith("/"), (path, url)  # no CDN, no other host
            asset = secured.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100, url


def test_the_schema_is_public_and_lists_the_api(secured: TestClient) -> None:
    response = secured.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/people" in schema["paths"]
    assert "/docs" not in schema["paths"]


def test_no_cors_headers_unless_origins_are_listed(secured: TestClient) -> None:
    response = secured.get("/healthz", headers={"Origin": "https://other.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = secured.options(
        "/api/v1/people",
        headers={
            "Origin": "https://other.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_listed_origins_may_use_keys_but_never_the_cookie(settings: Settings) -> None:
    with _app_client(settings, cors_origins=["https://hr.example/"]) as test_client:
        listed = test_client.get("/healthz", headers={"Origin": "https://hr.example"})
        other = test_client.get("/healthz", headers={"Origin": "https://evil.example"})
        preflight = test_client.options(
            "/api/v1/recognize",
            headers={
                "Origin": "https://hr.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
    assert listed.headers["access-control-allow-origin"] == "https://hr.example"
    assert "access-control-allow-credentials" not in listed.headers
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://hr.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    _assert_safety_headers(preflight.headers)
