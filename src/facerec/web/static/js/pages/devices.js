// Kiosk devices (admins): list, register (pairing link + QR code), re-pair, revoke.
import { del, get, post } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, labelled, toast } from "../ui.js";
import { copyButton, dataTable, when } from "../admin.js";

export async function devicesPage(main) {
  const list = h("div", { "aria-live": "polite" });
  const pairing = h("div", { "aria-live": "polite", "data-testid": "device-pairing" });

  async function load() {
    try {
      const page = await get("/devices", { limit: 500 });
      list.replaceChildren(dataTable("devices-table", [
        [t("admin.name"), (d) => d.name],
        [t("devices.location"), (d) => d.location],
        [t("admin.created"), (d) => when(d.created_at)],
        [t("devices.paired"), (d) => when(d.paired_at)],
        [t("devices.lastSeen"), (d) => when(d.last_seen_at)],
        ["", (d) => (d.revoked_at ? t("admin.revokedAt", { time: when(d.revoked_at) }) : h("div", { class: "row" },
          h("button", { type: "button", class: "secondary small", "data-testid": "device-repair", onclick: () => repair(d) },
            t("devices.repair")),
          h("button", { type: "button", class: "danger small", "data-testid": "device-revoke", onclick: () => revoke(d) },
            t("admin.revoke"))))],
      ], page.items, (d) => ({ "data-testid": "device-row", "data-name": d.name })));
    } catch (err) {
      list.replaceChildren(alertBox(err.explain()));
    }
  }

  async function repair(device) {
    if (!confirm(t("devices.confirmRepair", { name: device.name }))) return;
    try {
      pairing.replaceChildren(pairingPanel(await post(`/devices/${device.id}/pairing`)));
    } catch (err) {
      toast(err.explain(), "error");
    }
    load();
  }

  async function revoke(device) {
    if (!confirm(t("devices.confirmRevoke", { name: device.name }))) return;
    try {
      await del(`/devices/${device.id}`);
      toast(t("admin.revoked"));
    } catch (err) {
      toast(err.explain(), "error");
    }
    load();
  }

  main.append(h("h1", {}, t("nav.devices")),
    createForm((answer) => { pairing.replaceChildren(pairingPanel(answer)); load(); }), pairing, list);
  load();
}

function createForm(onCreated) {
  const name = h("input", { type: "text", required: true, maxlength: 100, autocomplete: "off", "data-testid": "device-name-input" });
  const location = h("input", { type: "text", maxlength: 200, autocomplete: "off", "data-testid": "device-location-input" });
  const message = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel" }, h("h2", {}, t("devices.add")),
    h("div", { class: "row wrap" }, labelled(t("admin.name"), name), labelled(t("devices.location"), location),
      h("button", { type: "submit", "data-testid": "device-submit" }, t("devices.create"))), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    try {
      onCreated(await post("/devices", { name: name.value.trim(), location: location.value.trim() }));
      form.reset();
    } catch (err) {
      message.replaceChildren(alertBox(err.explain()));
    }
  });
  return form;
}

// The server's QR code SVG, shown as an image (never as markup in our page): checked to
// be an <svg> document first.
export function qrImage(svg) {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  const root = doc.documentElement;
  if (root.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) return null;
  return h("img", { class: "qr", alt: t("devices.qr"), "data-testid": "device-qr",
    src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}` });
}

function pairingPanel(answer) {
  const url = answer.pairing_url;
  return h("section", { class: "panel" },
    h("h2", {}, t("devices.pairTitle", { name: answer.device.name })),
    h("p", {}, t("devices.pairHint", { time: when(answer.pairing_expires_at) })),
    h("p", { class: "row" }, h("code", { class: "secret", "data-testid": "device-pairing-url" }, url), copyButton(url)),
    qrImage(answer.pairing_qr_svg));
}
