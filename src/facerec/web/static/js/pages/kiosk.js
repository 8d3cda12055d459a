// Kiosk: a full-screen camera that checks people in continuously, a few frames a second,
// one request at a time so the video never waits for the server.
import { postForm, serverStatus } from "../api.js";
import { t } from "../i18n.js";
import { h, formatTime } from "../ui.js";
import { Camera } from "../camera.js";

const INTERVAL_MS = 400; // at most ~2.5 frames a second are sent
const HOLD_MS = 3500; // how long a greeting stays on screen
const DEVICE_KEY = "facerec.kiosk.device";

export async function kioskPage(main) {
  const params = new URLSearchParams(location.search);
  const device = params.get("device") || localStorage.getItem(DEVICE_KEY) || "kiosk";
  const video = h("video", { class: "kiosk-video", "data-testid": "kiosk-video", playsinline: true, muted: true, autoplay: true });
  const message = h("div", { class: "kiosk-message", "data-testid": "kiosk-message", role: "status", "aria-live": "assertive" }, t("kiosk.ready"));
  const deviceInput = h("input", { type: "text", value: device, maxlength: 100, "aria-label": t("kiosk.device"), class: "kiosk-device" });
  deviceInput.addEventListener("change", () => localStorage.setItem(DEVICE_KEY, deviceInput.value.trim() || "kiosk"));
  const startButton = h("button", { type: "button", hidden: true, onclick: () => begin() }, t("kiosk.start"));
  const fullButton = h("button", { type: "button", class: "secondary",
    onclick: () => document.documentElement.requestFullscreen?.() }, t("kiosk.fullscreen"));
  const camera = new Camera();
  let zone = "UTC";
  let timer = null;
  let inFlight = false;
  let holdUntil = 0;
  let greeted = null; // person welcomed on screen right now
  let stopped = false;

  function say(text, kind) {
    message.textContent = text;
    message.dataset.kind = kind;
  }

  async function tick() {
    if (stopped) return;
    timer = setTimeout(tick, INTERVAL_MS);
    if (inFlight) return; // never queue frames behind a slow encoder or answer
    inFlight = true;
    try {
      const frame = await camera.snapshot(640);
      if (!frame) return;
      const form = new FormData();
      form.append("file", frame, "frame.jpg");
      form.append("device", deviceInput.value.trim() || "kiosk");
      show(await postForm("/attendance/check-in", form));
    } catch (err) {
      if (err.code === "busy") holdUntil = Date.now() + 1000;
    } finally {
      inFlight = false;
    }
  }

  function show(answer) {
    const fresh = answer.events.find((e) => e.status === "checked_in");
    const repeat = answer.events.find((e) => e.status === "duplicate");
    const holding = Date.now() < holdUntil;
    if (fresh) {
      say(`${t("kiosk.welcome", { name: fresh.name })} ${t("kiosk.checkedIn", { time: formatTime(fresh.time, zone) })}`, "ok");
      holdUntil = Date.now() + HOLD_MS;
      greeted = fresh.person_id;
    } else if (repeat && holding && repeat.person_id === greeted) {
      // the same person is still in front of the camera: keep the welcome on screen
    } else if (repeat) {
      greeted = null;
      say(t("kiosk.already", { name: repeat.name, time: formatTime(repeat.time, zone) }), "info");
      holdUntil = Date.now() + HOLD_MS;
    } else if (answer.unknown_faces) {
      say(t("kiosk.unknown"), "warn");
      holdUntil = Date.now() + HOLD_MS / 2;
    } else if (Date.now() > holdUntil) {
      say(t("kiosk.ready"), "idle");
    }
  }

  async function begin() {
    try {
      await camera.start(video);
      startButton.hidden = true;
      say(t("kiosk.ready"), "idle");
      tick();
    } catch (err) {
      say(t("kiosk.noCamera", { detail: err.message || err }), "warn");
      startButton.hidden = false;
    }
  }

  main.append(
    h("section", { class: "kiosk", "aria-label": t("kiosk.title") },
      video, message,
      h("div", { class: "kiosk-bar" }, h("a", { href: "/attendance", "data-link": true }, "←"), deviceInput, startButton, fullButton)),
  );
  serverStatus().then((s) => { zone = s.timezone; }).catch(() => {});
  begin();
  return () => {
    stopped = true;
    clearTimeout(timer);
    camera.stop();
  };
}
