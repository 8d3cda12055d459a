"""In real Chromium: a kiosk paired by its link checks a person in under the device's own
name, and shows the revoked message once an admin revokes the device; an unpaired kiosk
says so. Access control is on (an admin key made with the CLI before the server starts)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.auth_helpers import bearer, cli_key
from tests.chromium import CHROMIUM, FLAGS
from tests.conftest import hopper_bytes
from tests.servers import call, running_server

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.browser]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True
    )

from playwright.sync_api import Playwright, expect, sync_playwright  # noqa: E402

from tests.test_browser import _y4m, shot, zone_at_midday  # noqa: E402


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


def test_a_paired_kiosk_checks_in_then_stops_when_revoked(
    playwright: Playwright, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    admin = bearer(cli_key(data, "--name", "setup", "--role", "admin").strip())
    env = {
        "FACEREC_AUTH__ENABLED": "true",
        "FACEREC_ATTENDANCE__TIMEZONE": zone_at_midday(datetime.now(UTC)),
    }
    photo = tmp_path / "grace.jpg"
    photo.write_bytes(hopper_bytes())
    clip = tmp_path / "camera.y4m"
    _y4m(photo, clip)
    camera = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    ]
    with running_server(data, env=env) as root:
        api = root + "/api/v1"
        status, person = call(api, "POST", "/people", {"name": "Grace Hopper"}, headers=admin)
        assert status == 201
        face = {"image_base64": base64.b64encode(hopper_bytes()).decode()}
        status, _ = call(api, "POST", f"/people/{person['id']}/faces", face, headers=admin)
        assert status == 201
        status, made = call(api, "POST", "/devices", {"name": "front-door"}, headers=admin)
        assert status == 201
        assert made["pairing_url"].startswith(root + "/kiosk?pair=frp_")

        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS + camera)
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 1024, "height": 768})
            context.grant_permissions(["camera"], origin=root)
            kiosk = context.new_page()
            errors: list[str] = []
            kiosk.on("pageerror", lambda exc: errors.append(str(exc)))

            kiosk.goto(root + "/kiosk")  # no token, nobody logged in
            expect(kiosk.get_by_test_id("kiosk-unpaired")).to_be_visible()
            expect(kiosk.get_by_test_id("kiosk-unpaired")).to_contain_text("not paired")

            kiosk.goto(made["pairing_url"])
            message = kiosk.get_by_test_id("kiosk-message")
            expect(message).to_contain_text("Welcome, Grace Hopper", timeout=60_000)
            assert "pair=" not in kiosk.url  # the one-time code left the address bar
            token = kiosk.evaluate("localStorage.getItem('facerec.deviceToken')")
            assert token.startswith("frd_")
            shot(kiosk, "kiosk-paired")

            status, events = call(api, "GET", "/attendance/events", headers=admin)
            assert status == 200
            assert [(e["name"], e["device"]) for e in events["items"]] == [
                ("Grace Hopper", "front-door")
            ]

            device_id = made["device"]["id"]
            assert call(api, "DELETE", f"/devices/{device_id}", headers=admin)[0] == 204
            revoked = kiosk.get_by_test_id("kiosk-revoked")
            expect(revoked).to_be_visible(timeout=30_000)
            expect(revoked).to_contain_text("revoked")
            expect(kiosk.get_by_test_id("kiosk-video")).to_have_count(0)  # the camera stopped
            shot(kiosk, "kiosk-revoked")
            assert errors == [], errors
            context.close()
        finally:
            browser.close()
