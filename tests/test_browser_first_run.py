"""First run end to end (issue #10's "Done when"), in real Chromium against a real
``facerec serve`` with access control on and no account yet: the set-up link it prints
creates the first admin, who adds a manager and a kiosk device through the UI; the audit
page shows both; the manager sees no admin pages and is refused by the users API.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chromium import CHROMIUM, FLAGS
from tests.servers import ServerProcess

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.browser]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

ADMIN = ("root-admin", "root-admin-pw-1")
MANAGER = ("mona", "mona-manager-pw-1")
ADMIN_NAV = ("nav-users", "nav-keys", "nav-devices", "nav-audit")
SETUP_LINK = re.compile(r"(http://127\.0\.0\.1:\d+/setup\?token=fru_\S+)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", env={"FACEREC_AUTH__ENABLED": "true"})
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 900})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield tab
        finally:
            browser.close()
        assert errors == [], errors


def _status(url: str) -> int:
    """The HTTP status of a plain GET, with no credentials."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_first_run_admin_manager_device_audit(server: ServerProcess, page: Page) -> None:
    link = _the_setup_link(server)
    _nobody_gets_in_before_setup(server.root)
    _set_up_the_admin(page, server.root, link)
    _create_a_manager(page)
    _create_a_device(page, server.root)
    _audit_shows_both(page)
    _the_manager_sees_no_admin_pages(page)


def _the_setup_link(server: ServerProcess) -> str:
    """The one link ``facerec serve`` printed (on stderr, which the log collects)."""
    log = server.log.read_text()
    links = SETUP_LINK.findall(log)
    assert len(links) == 1, log
    link: str = links[0]
    assert link.startswith(server.root + "/setup?token=")
    return link


def _nobody_gets_in_before_setup(root: str) -> None:
    """The API asks to log in; only the probes answer."""
    for path in ("/api/v1/people", "/api/v1/status", "/api/v1/users", "/api/v1/audit"):
        assert _status(root + path) == 401, path
    assert _status(root + "/healthz") == 200


def _set_up_the_admin(page: Page, root: str, link: str) -> None:
    """The set-up page creates the first admin and logs them in."""
    page.goto(link)
    page.get_by_test_id("setup-username").fill(ADMIN[0])
    page.get_by_test_id("setup-password").fill(ADMIN[1])
    page.get_by_test_id("setup-confirm").fill(ADMIN[1])
    page.get_by_test_id("setup-submit").click()
    expect(page.get_by_test_id("user-name")).to_have_text(ADMIN[0])
    expect(page.get_by_test_id("user-role")).to_have_text("admin")
    page.wait_for_url(root + "/")
    for nav in ADMIN_NAV:
        expect(page.get_by_test_id(nav)).to_be_visible()


def _create_a_manager(page: Page) -> None:
    page.get_by_test_id("nav-users").click()
    page.get_by_test_id("user-name-input").fill(MANAGER[0])
    page.get_by_test_id("user-password-input").fill(MANAGER[1])
    page.get_by_test_id("user-role-input").select_option("manager")
    page.get_by_test_id("user-submit").click()
    row = page.locator(f'[data-testid="user-row"][data-username="{MANAGER[0]}"]')
    expect(row.get_by_test_id("user-role")).to_have_value("manager")


def _create_a_device(page: Page, root: str) -> None:
    """A kiosk device: its pairing link and QR code are shown."""
    page.get_by_test_id("nav-devices").click()
    page.get_by_test_id("device-name-input").fill("front-door")
    page.get_by_test_id("device-location-input").fill("lobby")
    page.get_by_test_id("device-submit").click()
    expect(page.get_by_test_id("device-pairing-url")).to_have_text(
        re.compile(re.escape(root) + r"/kiosk\?pair=\S+")
    )
    qr = page.get_by_test_id("device-qr")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    assert page.evaluate("(img) => img.complete && img.naturalWidth", qr.element_handle()) > 0
    device = page.locator('[data-testid="device-row"][data-name="front-door"]')
    expect(device).to_contain_text("lobby")


def _audit_shows_both(page: Page) -> None:
    page.get_by_test_id("nav-audit").click()
    rows = page.get_by_test_id("audit-row")
    actor = f"user:{ADMIN[0]}"
    made_user = rows.filter(has_text="user_create").filter(has_text=f'"username":"{MANAGER[0]}"')
    expect(made_user).to_have_count(1)
    expect(made_user).to_contain_text(actor)
    expect(made_user).to_contain_text('"role":"manager"')
    made_device = rows.filter(has_text="device.create")
    expect(made_device).to_have_count(1)
    expect(made_device).to_contain_text(actor)
    expect(made_device).to_contain_text("device #")


def _the_manager_sees_no_admin_pages(page: Page) -> None:
    """Log out, log in as the manager: no admin pages, the add form, the users API says no."""
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/login")
    expect(page.get_by_test_id("user-menu")).to_be_hidden()
    page.get_by_test_id("login-username").fill(MANAGER[0])
    page.get_by_test_id("login-password").fill(MANAGER[1])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-name")).to_have_text(MANAGER[0])
    expect(page.get_by_test_id("user-role")).to_have_text("manager")
    expect(page.get_by_test_id("nav-people")).to_be_visible()
    for nav in ADMIN_NAV:
        expect(page.get_by_test_id(nav)).to_be_hidden()
    page.get_by_test_id("nav-people").click()
    expect(page.get_by_test_id("person-name-input")).to_be_visible()
    expect(page.get_by_test_id("person-submit")).to_be_visible()
    status = page.evaluate("async () => (await fetch('/api/v1/users')).status")
    assert status == 403
    status = page.evaluate("async () => (await fetch('/api/v1/people')).status")
    assert status == 200  # the session works: the 403 is the role, not a missing login
