"""The kiosk's frame-rate limit, in real Chromium with Playwright's fake clock.

``pages/kiosk.js`` promises one downscaled frame at a time, at most every 400 ms, and
never while a check-in request is in flight. The page runs against a real server (it
serves the app and ``/status``), but every ``/attendance/check-in`` is answered by the
test through ``page.route``: instantly, or held open until the test lets it go.

Time in the page is fake (``page.clock``, paused): it moves only when the test calls
``run_for`` in small steps. The work between timers is real (the canvas encodes the
camera frame as a JPEG, the request travels to the route), so after every step the
test waits, in real time, until the page is idle: no JPEG being encoded, every check-in
the page sent seen by the route, every answered one shown on screen. What happens in
each step therefore does not depend on how fast this machine is.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image

from tests.chromium import CHROMIUM, FLAGS
from tests.servers import running_server

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.browser]
# Chromium's built-in fake camera (a moving test pattern), allowed without a prompt.
CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
CHECK_IN = "**/api/v1/attendance/check-in"
INTERVAL_MS = 400  # the documented limit
STEP_MS = 50  # fake time moves in steps this long (finer than any limit worth having)
START = 1_700_000_000  # the page's fake clock (Unix seconds), paused from the start
IDLE_TIMEOUT_S = 20.0  # real time allowed for one step's work (encoding, the request)

# Counts what the page itself does, wrapping browser APIs only (never the app's code):
# JPEG encodings not yet done, check-in requests started. While ``slow`` is set, finished
# encodings are kept back in ``held`` (an encoder slower than any interval).
PROBE = """
(() => {
  const probe = { encoding: 0, sent: 0, slow: false, held: [] };
  window.__kioskProbe = probe;
  const toBlob = HTMLCanvasElement.prototype.toBlob;
  HTMLCanvasElement.prototype.toBlob = function (callback, ...rest) {
    probe.encoding += 1;
    const done = (blob) => { probe.encoding -= 1; callback(blob); };
    return toBlob.call(this, (blob) => {
      if (probe.slow) probe.held.push(() => done(blob));
      else done(blob);
    }, ...rest);
  };
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    if (String(input instanceof Request ? input.url : input).includes("/attendance/check-in")) {
      probe.sent += 1;
    }
    return fetch.call(this, input, init);
  };
})();
"""
RELEASE_ENCODINGS = """() => {
  const probe = window.__kioskProbe;
  probe.slow = false;
  probe.held.splice(0).forEach((finish) => finish());
}"""
STATE = """() => ({
  encoding: window.__kioskProbe.encoding,
  held: window.__kioskProbe.held.length,
  sent: window.__kioskProbe.sent,
  message: document.querySelector('[data-testid="kiosk-message"]')?.textContent ?? "",
})"""

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, Route, sync_playwright  # noqa: E402


def _welcome(number: int) -> dict[str, Any]:
    """A check-in answer the kiosk greets on screen, so the test sees it was handled."""
    event = {
        "id": number,
        "person_id": number,
        "name": f"[{number}]",
        "time": "2024-01-02T03:04:05Z",
        "similarity": 0.99,
        "status": "checked_in",
    }
    return {"events": [event], "unknown_faces": 0}


@dataclass
class CheckIns:
    """The route for check-ins: answers at once, or holds requests open while ``hold``."""

    hold: bool = False
    requests: list[Route] = field(default_factory=list)
    held: list[Route] = field(default_factory=list)
    answered: int = 0

    def __call__(self, route: Route) -> None:
        self.requests.append(route)
        if self.hold:
            self.held.append(route)
        else:
            self.answer(route)

    def answer(self, route: Route) -> None:
        self.answered += 1
        route.fulfill(json=_welcome(self.answered))

    def release(self) -> None:
        self.hold = False
        while self.held:
            self.answer(self.held.pop(0))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("kiosk") / "data") as root:
        yield root


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS + CAMERA)
        yield chromium
        chromium.close()


@dataclass
class Kiosk:
    page: Page
    check_ins: CheckIns

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(STATE)
        return result

    def settle(self) -> dict[str, Any]:
        """Wait (real time) until the page is idle; return its state."""
        deadline = IDLE_TIMEOUT_S * 1000
        waited = 0
        while True:
            state = self.state()
            seen = len(self.check_ins.requests)
            answered = self.check_ins.answered
            shown = answered == 0 or f"[{answered}]" in state["message"]
            if state["encoding"] == 0 and state["sent"] == seen and shown:
                return state
            assert waited < deadline, f"the kiosk did not settle: {state}, {seen} seen"
            self.page.wait_for_timeout(5)  # real time: lets the route handler run
            waited += 5

    def run_for(self, ms: int) -> None:
        """Advance fake time by ``ms`` in small steps, settling after each."""
        for _ in range(ms // STEP_MS):
            self.page.clock.run_for(STEP_MS)
            self.settle()


@pytest.fixture
def kiosk(browser: Browser, server: str) -> Iterator[Kiosk]:
    context = browser.new_context(locale="en-US", viewport={"width": 1024, "height": 768})
    context.grant_permissions(["camera"], origin=server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(PROBE)
    check_ins = CheckIns()
    page.route(CHECK_IN, check_ins)
    page.clock.install(time=START)
    page.clock.pause_at(START + 60)  # from here on, time moves only when the test says
    yield Kiosk(page, check_ins)
    check_ins.release()
    page.unroute_all(behavior="ignoreErrors")
    context.close()
    assert errors == [], errors


def _wait_until(kiosk: Kiosk, ready: Callable[[], bool], what: str) -> None:
    """Wait in real time (the camera takes a moment to start, encoding takes time)."""
    waited = 0
    while not ready():
        assert waited < IDLE_TIMEOUT_S * 1000, f"{what}: {kiosk.state()}"
        kiosk.page.wait_for_timeout(20)
        waited += 20


def _open(kiosk: Kiosk, server: str) -> None:
    """Load the kiosk; its camera starts and it sends the first frame at once."""
    kiosk.page.goto(server + "/kiosk?device=rate-test")
    _wait_until(kiosk, lambda: bool(kiosk.check_ins.requests), "no first check-in")
    kiosk.settle()


def _frame(route: Route) -> Image.Image:
    """The single image in a check-in's multipart body."""
    request = route.request
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        head + (request.post_data_buffer or b"")
    )
    parts = {
        part.get_param("name", header="content-disposition"): part for part in message.iter_parts()
    }
    assert set(parts) == {"file", "device"}, parts
    data = parts["file"].get_payload(decode=True)
    assert isinstance(data, bytes)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


def test_at_most_one_frame_every_400_ms(kiosk: Kiosk, server: str) -> None:
    _open(kiosk, server)
    seconds = 4
    kiosk.run_for(seconds * 1000)
    count = len(kiosk.check_ins.requests)
    most = seconds * 1000 // INTERVAL_MS + 1  # the first frame goes at once
    assert count <= most, f"{count} check-ins in {seconds} s of fake time (limit {most})"
    assert count >= most // 2, f"only {count} check-ins in {seconds} s: the kiosk stalls"
    assert kiosk.check_ins.answered == count
    assert max(_frame(kiosk.check_ins.requests[0]).size) <= 640  # downscaled


def test_no_second_frame_while_one_is_in_flight(kiosk: Kiosk, server: str) -> None:
    kiosk.check_ins.hold = True
    _open(kiosk, server)
    assert len(kiosk.check_ins.requests) == 1
    for _ in range(12):  # 12 intervals with the answer still outstanding
        kiosk.run_for(INTERVAL_MS)
        sent = len(kiosk.check_ins.requests)
        assert sent == 1, f"{sent} frames sent while the first one was in flight"
        assert kiosk.state()["sent"] == 1
    assert len(kiosk.check_ins.held) == 1

    kiosk.check_ins.release()  # the answer arrives: the kiosk carries on
    kiosk.settle()
    kiosk.run_for(INTERVAL_MS)
    after = len(kiosk.check_ins.requests) - 1
    assert after == 1, f"{after} frames sent in the interval after the slow answer (1 expected)"


def test_a_slow_encoder_does_not_send_two_frames_at_once(kiosk: Kiosk, server: str) -> None:
    kiosk.check_ins.hold = True
    kiosk.page.add_init_script("window.__kioskProbe.slow = true;")  # runs after PROBE
    kiosk.page.goto(server + "/kiosk?device=rate-test")
    _wait_until(kiosk, lambda: kiosk.state()["held"] == 1, "no frame encoded")
    kiosk.page.clock.run_for(INTERVAL_MS)  # the first frame is still being encoded
    kiosk.page.evaluate(RELEASE_ENCODINGS)
    kiosk.settle()
    sent = len(kiosk.check_ins.requests)
    assert sent == 1, f"{sent} frames in flight at once"
