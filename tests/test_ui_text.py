"""UI text: every error code the server can send has a sentence in both languages of
``js/i18n.js``; calibration warnings come with codes the UI translates; plurals follow
each language's rules (checked in real Chromium where it is installed)."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import facerec.app  # noqa: F401  (imports every module that defines an error)
from facerec import errors
from facerec.api.errors import HTTP_CODES
from tests.chromium import CHROMIUM, FLAGS

STATIC = Path(__file__).resolve().parents[1] / "src" / "facerec" / "web" / "static"
I18N = STATIC / "js" / "i18n.js"


def _subclasses(cls: type[errors.FaceRecError]) -> Iterator[type[errors.FaceRecError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def server_codes() -> set[str]:
    """Every ``code`` of the hierarchy, and those ``api/errors.py`` answers itself."""
    codes = {errors.FaceRecError.code, *(c.code for c in _subclasses(errors.FaceRecError))}
    return codes | set(HTTP_CODES.values()) | {"http_error", "validation_error"}


def ui_keys(lang: str) -> set[str]:
    """The keys of one language's table in i18n.js (``en: {`` up to the next table)."""
    text = I18N.read_text(encoding="utf-8")
    start = text.index(f"\n  {lang}: {{")
    end = min(i for i in (text.find("\n  zh: {", start + 1), text.find("\n};", start)) if i > 0)
    return set(re.findall(r'"([\w.]+)":', text[start:end]))


def test_every_error_code_has_a_sentence_in_both_languages() -> None:
    codes = server_codes()
    assert {"invalid_image", "no_face", "not_found", "risky_threshold"} <= codes
    for lang in ("en", "zh"):
        missing = sorted(c for c in codes if f"error.{c}" not in ui_keys(lang))
        assert not missing, f"i18n.js ({lang}) has no error.<code> for {missing}"


def test_calibration_warnings_carry_codes_and_values(client: TestClient) -> None:
    report = client.get("/api/v1/calibration", params={"target_far": 0.01}).json()
    assert [n["code"] for n in report["notes"]] == ["cannot_measure", "no_genuine"]
    assert report["notes"][0]["values"] == {"n": 0, "far": 0.01}
    assert [n["message"] for n in report["notes"]] == report["warnings"]
    for lang in ("en", "zh"):
        assert {f"cal.warn.{c}" for c in ("sampled", "cannot_measure", "no_genuine")} <= (
            ui_keys(lang)
        )
        assert "cal.warn.look_alikes" in ui_keys(lang)


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    """The UI's static files on 127.0.0.1 (no FaceRec server: the modules run alone)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(STATIC))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


SCRIPT = """async (lang) => {
  localStorage.setItem("facerec.lang", lang);
  const { t } = await import("/js/i18n.js");
  const { ApiError } = await import("/js/api.js");
  const { calibrationNote } = await import("/js/pages/status.js");
  return {
    one: t("people.faces", { n: 1 }), two: t("people.faces", { n: 2 }),
    zero: t("people.faces", { n: 0 }), stale: t("status.stale", { count: 1 }),
    error: new ApiError(409, "risky_threshold", "threshold 0.5 is below", null).explain(),
    unknown: new ApiError(400, "made_up_code", "the server's own words", null).explain(),
    note: calibrationNote({
      code: "cannot_measure", message: "english", values: { n: 1, far: 0.0005 } }),
    other: calibrationNote({ code: "new_code", message: "the server's warning", values: {} }),
  };
}"""


@pytest.mark.browser
def test_plurals_and_translated_errors_in_chromium(static_site: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{static_site}/css/app.css")  # any page of the origin
            en = page.evaluate(SCRIPT, "en")
            zh = page.evaluate(SCRIPT, "zh")
        finally:
            browser.close()
    assert (en["one"], en["two"], en["zero"]) == ("1 photo", "2 photos", "0 photos")
    assert en["stale"].startswith("1 face was embedded")
    assert en["error"].startswith("This threshold is below the safe value")
    assert en["unknown"] == "the server's own words"
    assert en["note"].startswith(
        "1 different-person pair cannot measure a false-accept rate of 0.0500%"
    )
    assert en["other"] == "the server's warning"
    assert (zh["one"], zh["two"]) == ("1 张照片", "2 张照片")
    assert zh["error"] == "此阈值低于安全值，可能把不同的人认成同一人。管理员可以强制使用。"
    assert zh["unknown"] == "the server's own words"
    assert (
        zh["note"]
        == "1 对不同人的样本不足以测量 0.0500% 的误识率；请录入更多人员（或保留默认阈值）。"
    )
