"""The webhooks page in real Chromium (auth off: the local caller is an admin): add an
endpoint (the secret shown once), see its delivery log fill and send one again, in
English and Chinese, with no CSP violation and no script error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chromium import CHROMIUM, FLAGS
from tests.servers import call, running_server

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.browser]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""
ENV = {"FACEREC_WEBHOOKS__POLL_SECONDS": "0.2", "FACEREC_WEBHOOKS__TIMEOUT_SECONDS": "0.5"}


@pytest.fixture
def root(tmp_path: Path) -> Iterator[str]:
    with running_server(tmp_path / "data", env=ENV) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(locale="en-US", viewport={"width": 1300, "height": 900})
        context.add_init_script(CSP_LISTENER)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        yield tab
        assert tab.evaluate("window.__csp || []") == []
        assert errors == [], errors
        browser.close()


def test_admin_adds_an_endpoint_and_redelivers_from_its_log(page: Page, root: str) -> None:
    page.goto(root + "/webhooks")
    expect(page.get_by_test_id("nav-webhooks")).to_be_visible()
    page.get_by_test_id("webhook-url-input").fill("http://127.0.0.1:9/hook")
    for event in ("checkin.created", "unknown_face.queued", "face.enrolled", "person.deleted"):
        page.get_by_test_id(f"webhook-event-{event}").uncheck()
    page.get_by_test_id("webhook-submit").click()
    secret = page.get_by_test_id("webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    row = page.get_by_test_id("webhook-row")
    expect(row).to_contain_text("http://127.0.0.1:9/hook")
    expect(row).to_contain_text("Person created")
    status, hooks = call(root + "/api/v1", "GET", "/webhooks")
    assert status == 200 and hooks["items"][0]["events"] == ["person.created"]
    assert secret not in str(hooks)

    assert call(root + "/api/v1", "POST", "/people", {"name": "Ada"})[0] == 201
    page.get_by_test_id("webhook-log-open").click()
    delivery = page.get_by_test_id("delivery-row")
    expect(delivery).to_have_count(1)
    expect(delivery).to_contain_text("Person created")
    page.get_by_test_id("webhook-redeliver").click()
    expect(page.get_by_test_id("delivery-row")).to_have_attribute("data-status", "pending")

    page.select_option("#lang-switch", "zh")
    expect(page.get_by_test_id("nav-webhooks")).to_have_text("Webhook")
    page.goto(root + "/webhooks")
    expect(page.get_by_test_id("webhook-row")).to_contain_text("新增人员")
    expect(page.locator("h1")).to_have_text("Webhook")
