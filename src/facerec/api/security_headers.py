"""Browser safety headers on every HTTP response (pages, static files, API, errors).

The Content-Security-Policy allows no inline script and no inline style: the UI is our
own ES modules and stylesheet, and everything it draws comes from ``'self'``, ``data:``
(the favicon, a pairing QR code as an image) or ``blob:`` (camera snapshots, photo
previews). ``frame-ancestors 'none'`` (and ``X-Frame-Options``) keep every page out of
other sites' frames.

The API documentation pages (``/docs``, ``/redoc``) run vendored swagger-ui and redoc:
their script still has to come from ``'self'``, but both libraries inject ``<style>``
elements and redoc searches in a ``blob:`` worker, so those two pages alone allow inline
style and blob workers. They hold no data; the schema they read is public.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}
_DOCS = {**_BASE, "style-src": "'self' 'unsafe-inline'", "worker-src": "'self' blob:"}


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CONTENT_SECURITY_POLICY = _policy(_BASE)
DOCS_CONTENT_SECURITY_POLICY = _policy(_DOCS)
DOCS_PATHS = ("/docs", "/redoc")

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
)


def policy_for(path: str) -> str:
    """The Content-Security-Policy of the page at ``path``."""
    if path in DOCS_PATHS:
        return DOCS_CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY


class SecurityHeaders:
    """Pure ASGI middleware: the headers above on every HTTP response, unless the route
    already set one of them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = policy_for(scope["path"]).encode()
        added = ((b"content-security-policy", csp), *_COMMON)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in added if pair[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
