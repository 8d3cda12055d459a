// Kiosk: a full-screen camera that checks people in continuously, a few frames a second,
// one request at a time so the video never waits for the server.
// A paired tablet holds a device token (from /kiosk?pair=CODE) and sends it as a Bearer;
// without one, the kiosk runs only for a logged-in user.
import { post, request, serverStatus } from "../api.js";
import { me } from "../auth.js";
import { t } from "../i18n.js";
import { h, formatTime } from "../ui.js";
import { Camera } from "../camera.js";

const INTERVAL_MS = 400; // at most ~2.5 frames a second are sent
const HOLD_MS = 3500; // how long a greeting stays on screen
const DEVICE_KEY = "facerec.kiosk.device";
const TOKEN_KEY = "facerec.deviceToken";
const PAIRED_NAME_KEY = "facerec.deviceName";

// A full-screen notice that replaces the kiosk (not paired, revoked, pairing failed).
function notice(main, testid, title, text) {
  main.replaceChildren(
    h("section", { class: "kiosk kiosk-notice", role: "alert", "data-testid": testid },
      h("h1", {}, title), h("p", {}, text)),
  );
}

// /kiosk?pair=CODE: exchange the one-time code for the device token, then drop the code
// from the address bar (and history) so it is not shown or bookmarked.
async function pairFromUrl(params) {
  const code = params.get("pair");
  if (!code) return null;
  params.delete("pair");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
  const paired = await post("/devices/pair", { code });
  localStorage.setItem(TOKEN_KEY, paired.token);
  localStorage.setItem(PAIRED_NAME_KEY, paired.device.name);
  return paired;
}

export async function kioskPage(main) {
  const params = new URLSearchParams(location.search);
  try {
    await pairFromUrl(params);
  } catch (err) {
    notice(main, "kiosk-pair-failed", t("kiosk.pairFailed"), err.explain ? err.explain() : String(err));
    return null;
  }
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token && !me()) {
    notice(main, "kiosk-unpaired", t("kiosk.unpairedTitle"), t("kiosk.unpaired"));
    return null;
  }
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const pairedName = token ? localStorage.getItem(PAIRED_NAME_KEY) : null;
  const device = pairedName || params.get("device") || localStorage.getItem(DEVICE_KEY) || "kiosk";
  const video = h("video", { class: "kiosk-video", "data-testid": "kiosk-video", playsinline: true, muted: true, autoplay: true });
  const message = h("div", { class: "kiosk-message", "data-testid": "kiosk-message", role: "status", "aria-live": "assertive" }, t("kiosk.ready"));
  const deviceInput = h("input", { type: "text", value: device, maxlength: 100, "aria-label": t("kiosk.device"), class: "kiosk-device" });
  deviceInput.disabled = Boolean(token); // a paired kiosk's events carry the device's own name
  deviceInput.addEventListener("change", () => localStorage.setItem(DEVICE_KEY, deviceInput.value.trim() || "kiosk"));
  const startButton = h("button", { type: "button", hidden: true, onclick: () => begin() }, t("kiosk.start"));
  const fullButton = h("button", { type: "button", class: "secondary",
    onclick: () => document.documentElement.requestFullscreen?.() }, t("kiosk.fullscreen"));
  const camera = new Camera();
  let zone; // the server's attendance zone (from /status); a device token: the tablet's own
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
      if (!token) form.append("device", deviceInput.value.trim() || "kiosk");
      show(await request("POST", "/attendance/check-in", { form, headers: auth }));
    } catch (err) {
      if (err.code === "busy") holdUntil = Date.now() + 1000;
      if (token && err.status === 401) revoked(err.code);
    } finally {
      inFlight = false;
    }
  }

  // The token was revoked (or replaced by a new pairing): stop for good and say so.
  function revoked(code) {
    stop();
    localStorage.removeItem(TOKEN_KEY);
    const text = code === "device_revoked" ? t("kiosk.revoked") : t("kiosk.tokenInvalid");
    notice(main, "kiosk-revoked", t("kiosk.revokedTitle"), text);
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    camera.stop();
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
  return stop;
}
