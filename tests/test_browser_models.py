"""The Status page names each model in use, its licence and the recogniser's threshold,
in English and Chinese, in real Chromium against a real server that runs registry models
from ../shared/models (skipped with a message where they are absent)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chromium import CHROMIUM, FLAGS
from tests.servers import running_server
from tests.test_status_models import with_registry_models

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.browser]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("browser-models") / "data"
    with_registry_models(data)  # installs the fixtures into data's registry
    env = {
        "FACEREC_DETECTOR__MODEL": "yunet-2023mar",
        "FACEREC_RECOGNISER__MODEL": "mobilefacenet",
    }
    with running_server(data, env=env) as root:
        yield root


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(locale="en-US")
        errors: list[str] = []
        tab = context.new_page()
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        yield tab
        browser.close()
        assert errors == [], errors


def test_status_page_shows_each_model_licence_and_threshold(page: Page, server: str) -> None:
    page.goto(server + "/status")
    table = page.get_by_test_id("status-models")
    recogniser = table.locator("tr[data-role=recogniser]")
    expect(recogniser).to_contain_text("recogniser")
    expect(recogniser).to_contain_text("mobilefacenet@85cdeb73+mirror")
    expect(recogniser).to_contain_text("face recogniser")
    expect(recogniser).to_contain_text("research only (test)")
    expect(recogniser).to_contain_text("0.61")
    detector = table.locator("tr[data-role=detector]")
    expect(detector).to_contain_text("yunet-2023mar")
    expect(detector).to_contain_text("MIT (test)")
    expect(table.locator("tr[data-role=fallback_detector]")).to_contain_text("CC0 1.0 Universal")
    expect(page.get_by_role("heading", name="Models in use")).to_be_visible()

    page.get_by_test_id("lang-switch").select_option("zh")
    page.goto(server + "/status")
    expect(page.get_by_role("heading", name="使用中的模型")).to_be_visible()
    expect(recogniser).to_contain_text("识别")
    expect(recogniser).to_contain_text("人脸识别模型")
    expect(table.locator("thead")).to_contain_text("许可证")
    expect(recogniser).to_contain_text("0.61")
