"""End-to-end in real Chromium (Debian's ``chromium``, driven by Playwright) against a
real server on 127.0.0.1 with the real models. Screenshots of every page go to
``test-artifacts/``.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image, ImageOps

from facerec.config import Settings
from tests.chromium import CHROMIUM, FLAGS
from tests.conftest import hopper_bytes, shared_path
from tests.servers import call, running_server

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright  # noqa: E402


def zone_at_midday(now: datetime) -> str:
    """A fixed-offset zone in which ``now`` is about noon.

    A real server uses the real clock; the kiosk test checks a person in and then
    expects "already checked in" and today's table, which a local midnight in between
    would change. With the attendance day in this zone, midnight is 11 hours away."""
    offset = 12 - now.astimezone(UTC).hour  # -11 .. +12 hours
    if offset == 0:
        return "UTC"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX signs: GMT-8 is UTC+8


def test_the_midday_zone_is_far_from_midnight() -> None:
    for hour in range(24):
        now = datetime(2026, 11, 30, hour, 30, tzinfo=UTC)
        local = now.astimezone(ZoneInfo(zone_at_midday(now)))
        assert local.hour == 12, (hour, zone_at_midday(now))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    zone = {"FACEREC_ATTENDANCE__TIMEZONE": zone_at_midday(datetime.now(UTC))}
    with running_server(tmp_path_factory.mktemp("browser") / "data", env=zone) as root:
        yield root


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
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], errors


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _mirrored_hopper() -> bytes:
    out = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(hopper_bytes()))).save(out, format="JPEG")
    return out.getvalue()


def test_add_person_then_recognise_them(page: Page, server: str, tmp_path: Path) -> None:
    page.goto(server + "/")
    page.get_by_test_id("nav-people").click()
    page.get_by_test_id("person-name-input").fill("Grace Hopper")
    page.get_by_test_id("person-photo-input").set_input_files(
        _file(tmp_path, "grace.jpg", hopper_bytes())
    )
    page.get_by_test_id("person-submit").click()
    card = (
        page.get_by_test_id("people-list")
        .get_by_test_id("person-card")
        .filter(has_text="Grace Hopper")
    )
    expect(card).to_be_visible()
    expect(page.get_by_test_id("photo-result").first).to_contain_text("enrolled")
    shot(page, "people")

    page.get_by_test_id("nav-recognize").click()
    page.get_by_test_id("recognize-file-input").set_input_files(
        _file(tmp_path, "q.jpg", _mirrored_hopper())
    )
    face = page.get_by_test_id("recognize-result").get_by_test_id("face-result")
    expect(face).to_have_count(1)
    expect(face).to_contain_text("Grace Hopper")
    shot(page, "recognize")

    card_link = page.get_by_test_id("nav-people")
    card_link.click()
    page.get_by_test_id("person-card").filter(has_text="Grace Hopper").click()
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    expect(page.get_by_test_id("person-photos").locator("img")).to_have_count(1)
    shot(page, "person")


def test_person_dates_are_saved_and_their_data_downloads(page: Page, server: str) -> None:
    status, person = call(server, "POST", "/api/v1/people", {"name": "Ada Dates"})
    assert status == 201, person
    page.goto(f"{server}/people/{person['id']}")
    page.get_by_test_id("person-start-date").fill("2026-03-02")
    page.get_by_test_id("person-end-date").fill("2026-06-30")
    page.get_by_test_id("person-save-dates").click()
    toast = page.locator("#toast")
    expect(toast).to_have_text("Saved.")
    status, stored = call(server, "GET", f"/api/v1/people/{person['id']}")
    assert (stored["start_date"], stored["end_date"]) == ("2026-03-02", "2026-06-30")

    page.get_by_test_id("person-end-date").fill("2026-01-01")  # before the start
    page.get_by_test_id("person-save-dates").click()
    expect(toast).to_have_attribute("data-kind", "error")
    status, stored = call(server, "GET", f"/api/v1/people/{person['id']}")
    assert stored["end_date"] == "2026-06-30"

    with page.expect_download() as download:
        page.get_by_test_id("person-export").click()
    path = download.value.path()
    with zipfile.ZipFile(path) as archive:
        record = json.loads(archive.read("person.json"))
    assert record["person"]["name"] == "Ada Dates"


def test_a_stranger_is_unknown(page: Page, server: str, tmp_path: Path) -> None:
    stranger = shared_path("lfw-dev", "Hugo_Chavez", "Hugo_Chavez_0001.jpg")
    page.goto(server + "/")
    page.get_by_test_id("recognize-file-input").set_input_files(str(stranger))
    face = page.get_by_test_id("face-result")
    expect(face).to_have_count(1)
    expect(face).to_contain_text("Unknown")


def test_a_corrupt_file_shows_an_error(page: Page, server: str, tmp_path: Path) -> None:
    page.goto(server + "/")
    page.get_by_test_id("recognize-file-input").set_input_files(
        _file(tmp_path, "broken.jpg", b"not really a jpeg")
    )
    expect(page.get_by_test_id("error-message")).to_contain_text("not a readable image")
    expect(page.get_by_test_id("face-result")).to_have_count(0)
    shot(page, "recognize-error")


def test_language_switch_changes_labels_and_is_remembered(page: Page, server: str) -> None:
    page.goto(server + "/people")
    expect(page.get_by_test_id("nav-people")).to_have_text("People")
    page.get_by_test_id("lang-switch").select_option("zh")
    expect(page.get_by_test_id("nav-people")).to_have_text("人员")
    expect(page.get_by_test_id("person-submit")).to_have_text("添加")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.reload()
    expect(page.get_by_test_id("nav-attendance")).to_have_text("考勤")
    shot(page, "people-zh")
    page.get_by_test_id("lang-switch").select_option("en")
    expect(page.get_by_test_id("nav-attendance")).to_have_text("Attendance")


def test_status_page_shows_calibration(page: Page, server: str) -> None:
    page.goto(server + "/status")
    expect(page.get_by_test_id("status-facts")).to_contain_text("dlib-resnet-v1+mirror")
    active = f"{Settings().match_threshold:.3f} ("  # the default, marked active
    expect(page.get_by_test_id("calibration-table")).to_contain_text(active)
    shot(page, "status")


def test_phone_width_layout(browser: Browser, server: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
    phone = context.new_page()
    for path, name in [
        ("/people", "phone-people"),
        ("/attendance", "phone-attendance"),
        ("/status", "phone-status"),
    ]:
        phone.goto(server + path)
        phone.wait_for_load_state("networkidle")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375 + 1, f"{path} overflows horizontally ({width}px)"
        shot(phone, name)
    expect(phone.get_by_test_id("nav-people")).to_have_text("人员")  # browser language: Chinese
    context.close()


def _y4m(face: Path, target: Path, frames: int = 20) -> None:
    """A 640x480 YUV4MPEG2 clip of the photo on a grey background (Chromium's fake camera)."""
    canvas = Image.new("RGB", (640, 480), (120, 120, 120))
    photo = Image.open(face).convert("RGB")
    photo.thumbnail((460, 460))
    canvas.paste(photo, ((640 - photo.width) // 2, (480 - photo.height) // 2))
    rgb = np.asarray(canvas, dtype=np.float32)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    u = (rgb[..., 2] - y) * 0.564 + 128
    v = (rgb[..., 0] - y) * 0.713 + 128
    planes = [y, u[::2, ::2], v[::2, ::2]]
    frame = b"FRAME\n" + b"".join(np.clip(p, 0, 255).astype(np.uint8).tobytes() for p in planes)
    target.write_bytes(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n" + frame * frames)


def test_kiosk_checks_a_person_in(playwright: Playwright, server: str, tmp_path: Path) -> None:
    enrol = shared_path("lfw-dev", "Colin_Powell", "Colin_Powell_0001.jpg")
    at_the_door = shared_path("lfw-dev", "Colin_Powell", "Colin_Powell_0002.jpg")
    api = server + "/api/v1"
    status, person = call(api, "POST", "/people", {"name": "Colin Powell"})
    assert status == 201
    status, _ = call(
        api,
        "POST",
        f"/people/{person['id']}/faces",
        {"image_base64": base64.b64encode(enrol.read_bytes()).decode()},
    )
    assert status == 201
    clip = tmp_path / "camera.y4m"
    _y4m(at_the_door, clip)
    camera_flags = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    ]
    kiosk_browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=FLAGS + camera_flags
    )
    try:
        context = kiosk_browser.new_context(locale="en-US", viewport={"width": 1024, "height": 768})
        context.grant_permissions(["camera"], origin=server)
        kiosk = context.new_page()
        kiosk.goto(server + "/kiosk?device=front-door")
        expect(kiosk.get_by_test_id("kiosk-video")).to_be_visible()
        message = kiosk.get_by_test_id("kiosk-message")
        expect(message).to_contain_text("Welcome, Colin Powell", timeout=30_000)
        shot(kiosk, "kiosk")
        expect(message).to_contain_text("already checked in", timeout=30_000)  # the next frames

        kiosk.goto(server + "/attendance")
        table = kiosk.get_by_test_id("attendance-table")
        expect(table).to_contain_text("Colin Powell")
        expect(table).to_contain_text("front-door")
        link = kiosk.get_by_test_id("report-download")
        with kiosk.expect_download() as download:
            link.click()
        assert download.value.suggested_filename.endswith(".xlsx")
        shot(kiosk, "attendance")
        context.close()
    finally:
        kiosk_browser.close()
    _, events = call(api, "GET", "/attendance/events")
    assert events["total"] == 1
