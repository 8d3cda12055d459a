"""Access control in real Chromium against a real server with access control on: logging in
per role, what each role sees, logging out, the set-up link's page, another origin's page
that tries to use the victim's cookie, /docs with no network, and no CSP violation on any page.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import CHROMIUM, FLAGS
from tests.conftest import hopper_bytes
from tests.servers import free_port, running_server

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.browser]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True
    )

from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

PASSWORDS = {"alice": "alice-admin-pw-1", "victor": "victor-viewer-pw-1"}
ROLES = {"alice": "admin", "victor": "viewer"}
ADMIN_NAV = ("nav-users", "nav-keys", "nav-devices", "nav-audit", "nav-webhooks")
PAGES = (
    "/",
    "/people",
    "/attendance",
    "/status",
    "/users",
    "/keys",
    "/devices",
    "/audit",
    "/webhooks",
    "/account",
)

# Collects CSP violations the page reports (before any of our scripts run).
CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@dataclass
class Server:
    root: str
    data_dir: Path
    key: str
    """An admin API key, made with the CLI: the test's own view of the data."""

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.root + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")


def _facerec(data_dir: Path, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("facerec")), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"FACEREC_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("browser-auth") / "data"
    with running_server(data_dir, env={"FACEREC_AUTH__ENABLED": "true"}) as root:
        for name, password in PASSWORDS.items():
            _facerec(
                data_dir,
                *("users", "create", name, "--role", ROLES[name], "--password-stdin"),
                stdin=password + "\n",
            )
        key = _facerec(data_dir, "keys", "create", "--name", "browser-test", "--role", "admin")
        yield Server(root, data_dir, key.splitlines()[-1])


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 900})
    context.add_init_script(CSP_LISTENER)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield tab
    assert errors == [], errors


def _csp_violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__csp || []")
    return found


def log_in(page: Page, server: Server, name: str, password: str | None = None) -> None:
    page.goto(server.root + "/login")
    page.get_by_test_id("login-username").fill(name)
    page.get_by_test_id("login-password").fill(password or PASSWORDS[name])
    page.get_by_test_id("login-submit").click()


def test_admin_sees_every_page_with_no_csp_violation(page: Page, server: Server) -> None:
    log_in(page, server, "alice")
    menu = page.get_by_test_id("user-menu")
    expect(menu).to_contain_text("alice")
    expect(menu).to_contain_text("admin")
    for nav in ADMIN_NAV:
        expect(page.get_by_test_id(nav)).to_be_visible()
    for path in PAGES:
        page.goto(server.root + path)
        expect(page.get_by_test_id("user-menu")).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert _csp_violations(page) == [], path
    for path in ("/login", "/setup?token=nothing", "/kiosk"):
        page.goto(server.root + path)
        page.wait_for_load_state("networkidle")
        assert _csp_violations(page) == [], path


def test_admin_creates_a_key_and_a_device(page: Page, server: Server) -> None:
    log_in(page, server, "alice")
    page.get_by_test_id("nav-keys").click()
    page.get_by_test_id("key-name-input").fill("payroll")
    page.get_by_test_id("key-scope-recognize").check()
    page.get_by_test_id("key-submit").click()
    secret = page.get_by_test_id("key-secret").inner_text()
    assert secret.startswith("frk_")
    row = page.get_by_test_id("key-row").filter(has_text="payroll")
    expect(row).to_contain_text("recognize")
    status, _ = server.api("GET", "/api/v1/people")  # the test's own key still works
    assert status == 200

    page.get_by_test_id("nav-devices").click()
    page.get_by_test_id("device-name-input").fill("front-door")
    page.get_by_test_id("device-location-input").fill("lobby")
    page.get_by_test_id("device-submit").click()
    expect(page.get_by_test_id("device-pairing-url")).to_contain_text("/kiosk?pair=")
    qr = page.get_by_test_id("device-qr")
    expect(qr).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", qr.element_handle()) > 0
    expect(page.get_by_test_id("device-row").filter(has_text="front-door")).to_be_visible()
    assert _csp_violations(page) == []


def test_viewer_sees_no_admin_pages_and_no_add_form(page: Page, server: Server) -> None:
    log_in(page, server, "victor")
    expect(page.get_by_test_id("user-menu")).to_contain_text("viewer")
    expect(page.get_by_test_id("nav-people")).to_be_visible()
    for nav in ADMIN_NAV:
        expect(page.get_by_test_id(nav)).to_be_hidden()
    page.get_by_test_id("nav-people").click()
    expect(page.get_by_test_id("people-list")).to_be_attached()
    expect(page.get_by_test_id("person-submit")).to_be_hidden()
    expect(page.get_by_test_id("person-name-input")).to_be_hidden()


def test_logout_then_every_page_asks_to_log_in(page: Page, server: Server) -> None:
    log_in(page, server, "alice")
    expect(page.get_by_test_id("user-menu")).to_be_visible()
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/login")
    page.goto(server.root + "/people")
    page.wait_for_url("**/login?next=%2Fpeople")
    expect(page.get_by_test_id("login-username")).to_be_visible()
    page.get_by_test_id("login-username").fill("alice")
    page.get_by_test_id("login-password").fill(PASSWORDS["alice"])
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/people")  # back where the user was going
    expect(page.get_by_test_id("person-submit")).to_be_visible()


def test_a_wrong_password_shows_the_error(page: Page, server: Server) -> None:
    log_in(page, server, "victor", "not-the-password")
    expect(page.get_by_test_id("error-message")).to_have_text("Wrong user name or password.")
    expect(page.get_by_test_id("user-menu")).to_be_hidden()
    assert page.url.endswith("/login")


ATTACK = """<!doctype html><html><body>
<form id="f" method="post" enctype="multipart/form-data" action="{target}">
<input type="file" name="file" id="file"></form>
<script>
(async () => {{
  const bytes = await (await fetch("/hopper.jpg")).blob();
  const file = new File([bytes], "stranger.jpg", {{ type: "image/jpeg" }});
  const body = new FormData();
  body.append("file", file);
  await fetch("{target}", {{ method: "POST", body, credentials: "include", mode: "no-cors" }})
    .catch(() => {{}});
  const files = new DataTransfer();
  files.items.add(file);
  document.getElementById("file").files = files.files;
  document.getElementById("f").submit();
}})();
</script></body></html>"""


def _attacker(target: str) -> ThreadingHTTPServer:
    """Another origin (same host, another port) serving the attack page and a photo."""
    page = ATTACK.format(target=target).encode()
    photo = hopper_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, kind = (
                (photo, "image/jpeg") if self.path == "/hopper.jpg" else (page, "text/html")
            )
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_another_origin_cannot_use_the_cookie(page: Page, server: Server) -> None:
    status, person = server.api("POST", "/api/v1/people", {"name": "Victim Target"})
    assert status == 201, person
    faces = f"/api/v1/people/{person['id']}/faces"
    log_in(page, server, "alice")
    expect(page.get_by_test_id("user-menu")).to_be_visible()  # the cookie is set

    answers: list[int] = []
    page.on(
        "response", lambda r: answers.append(r.status) if r.url == server.root + faces else None
    )
    attacker = _attacker(server.root + faces)
    try:
        page.goto(f"http://127.0.0.1:{attacker.server_port}/")
        page.wait_for_url(server.root + faces)  # the form was posted, the cookie with it
        refusal = json.loads(page.locator("body").inner_text())
    finally:
        attacker.shutdown()
        attacker.server_close()
    assert refusal["error"]["code"] == "forbidden", refusal
    assert answers == [403, 403]  # the fetch, then the form
    status, stored = server.api("GET", faces)
    assert status == 200
    assert stored["items"] == []  # neither the fetch nor the form added a face


def _only_the_server(page: Page, root: str) -> list[str]:
    """Every request outside the server is aborted (and listed)."""
    outside: list[str] = []

    def route(route: Route) -> None:
        if route.request.url.startswith(root):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return outside


def test_docs_render_with_no_network_beyond_the_server(page: Page, server: Server) -> None:
    outside = _only_the_server(page, server.root)
    page.goto(server.root + "/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=20000)
    paths = page.locator(".opblock-summary-path")
    expect(paths.filter(has_text="/api/v1/people").first).to_be_visible()
    assert outside == []
    assert _csp_violations(page) == []


def test_redoc_renders_with_no_network_beyond_the_server(
    context: BrowserContext, server: Server
) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside = _only_the_server(page, server.root)
    page.goto(server.root + "/redoc")
    expect(page.get_by_text("/api/v1/people").first).to_be_attached(timeout=20000)
    assert outside == []
    assert errors == []
    # Redoc's sidebar credit shows a logo from its CDN: the policy blocks it, nothing leaves.
    blocked = [v for v in _csp_violations(page) if "cdn.redoc.ly" not in v]
    assert blocked == []
