"""The Classify page in real Chromium against a real server (real classifier): a photo of
a cat gives cat labels, in English and in Chinese; a corrupt file shows the error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import skimage.data

from tests.chromium import CHROMIUM, FLAGS
from tests.servers import running_server

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.browser]
CAT = Path(skimage.data.__file__).with_name("chelsea.png")
CAT_LABELS = ("tabby", "tiger cat", "Egyptian cat")

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("browser-classify") / "data") as root:
        yield root


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 900})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        yield tab
        browser.close()
        assert errors == [], errors


def test_a_cat_photo_is_labelled_a_cat_in_both_languages(page: Page, server: str) -> None:
    page.goto(server + "/classify")
    expect(page.get_by_test_id("nav-classify")).to_have_text("Classify")
    page.get_by_test_id("classify-file-input").set_input_files(str(CAT))
    labels = page.get_by_test_id("classify-label")
    expect(labels).to_have_count(5, timeout=60_000)
    first = labels.first.inner_text()
    assert any(name in first for name in CAT_LABELS), first
    page.get_by_test_id("lang-switch").select_option("zh")
    expect(page.get_by_test_id("nav-classify")).to_have_text("分类")
    expect(page.locator("h1")).to_have_text("照片里有什么？")


def test_a_corrupt_file_shows_the_error(page: Page, server: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not really a jpeg")
    page.goto(server + "/classify")
    page.get_by_test_id("classify-file-input").set_input_files(str(broken))
    expect(page.get_by_test_id("error-message")).to_contain_text("not a readable image")
    expect(page.get_by_test_id("classify-label")).to_have_count(0)
