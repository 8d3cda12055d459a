// Webhooks (admins): endpoints (URL, events, enabled; the signing secret is shown once),
// each endpoint's delivery log (status, attempts, last error) and redelivery.
import { del, get, patch, post } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, labelled, toast } from "../ui.js";
import { copyButton, dataTable, when } from "../admin.js";

export const EVENTS = ["checkin.created", "unknown_face.queued", "person.created", "person.deleted", "face.enrolled"];

export async function webhooksPage(main) {
  const list = h("div", { "aria-live": "polite" });
  const created = h("div", { "aria-live": "polite", "data-testid": "webhook-created" });
  const log = h("div", { "aria-live": "polite", "data-testid": "webhook-log" });
  let shown = null; // the endpoint whose log is open

  async function load() {
    try {
      const page = await get("/webhooks", { limit: 500 });
      list.replaceChildren(page.items.length ? dataTable("webhooks-table", [
        [t("webhooks.url"), (w) => h("code", {}, w.url)],
        [t("webhooks.events"), (w) => w.events.map((e) => t(`webhooks.event.${e}`)).join(", ")],
        [t("admin.state"), (w) => (w.enabled ? t("webhooks.enabled") : t("webhooks.disabled"))],
        [t("webhooks.pending"), (w) => String(w.pending)],
        [t("webhooks.failed"), (w) => String(w.failed)],
        [t("admin.created"), (w) => `${when(w.created_at)} · ${w.created_by}`],
        ["", (w) => h("div", { class: "row" },
          h("button", { type: "button", class: "secondary small", "data-testid": "webhook-log-open", onclick: () => openLog(w) },
            t("webhooks.deliveries")),
          h("button", { type: "button", class: "secondary small", "data-testid": "webhook-toggle", onclick: () => toggle(w) },
            w.enabled ? t("webhooks.disable") : t("webhooks.enable")),
          h("button", { type: "button", class: "danger small", "data-testid": "webhook-delete", onclick: () => remove(w) },
            t("webhooks.delete")))],
      ], page.items, (w) => ({ "data-testid": "webhook-row", "data-id": String(w.id) }))
        : h("p", {}, t("webhooks.none")));
    } catch (err) {
      list.replaceChildren(alertBox(err.explain()));
    }
  }

  async function toggle(endpoint) {
    try {
      await patch(`/webhooks/${endpoint.id}`, { enabled: !endpoint.enabled });
    } catch (err) {
      toast(err.explain(), "error");
    }
    load();
  }

  async function remove(endpoint) {
    if (!confirm(t("webhooks.confirmDelete", { url: endpoint.url }))) return;
    try {
      await del(`/webhooks/${endpoint.id}`);
      toast(t("webhooks.deleted"));
      if (shown && shown.id === endpoint.id) log.replaceChildren();
    } catch (err) {
      toast(err.explain(), "error");
    }
    load();
  }

  async function openLog(endpoint) {
    shown = endpoint;
    try {
      const page = await get(`/webhooks/${endpoint.id}/deliveries`, { limit: 100 });
      log.replaceChildren(h("div", { class: "panel" },
        h("h2", {}, t("webhooks.logTitle", { url: endpoint.url })),
        page.items.length ? dataTable("deliveries-table", [
          [t("webhooks.event"), (d) => t(`webhooks.event.${d.event}`)],
          [t("admin.created"), (d) => when(d.created_at)],
          [t("admin.state"), (d) => t(`webhooks.status.${d.status}`)],
          [t("webhooks.attempts"), (d) => String(d.attempts)],
          [t("webhooks.next"), (d) => (d.status === "pending" ? when(d.next_attempt_at) : "–")],
          [t("webhooks.lastError"), (d) => d.last_error || "–"],
          ["", (d) => h("button", { type: "button", class: "secondary small", "data-testid": "webhook-redeliver",
            onclick: () => redeliver(endpoint, d) }, t("webhooks.redeliver"))],
        ], page.items, (d) => ({ "data-testid": "delivery-row", "data-status": d.status }))
          : h("p", {}, t("webhooks.noDeliveries"))));
    } catch (err) {
      log.replaceChildren(alertBox(err.explain()));
    }
  }

  async function redeliver(endpoint, delivery) {
    try {
      await post(`/webhooks/${endpoint.id}/deliveries/${delivery.id}/redeliver`);
      toast(t("webhooks.requeued"));
    } catch (err) {
      toast(err.explain(), "error");
    }
    openLog(endpoint);
    load();
  }

  function showSecret(answer) {
    created.replaceChildren(h("div", { class: "panel" },
      h("p", {}, h("strong", {}, t("webhooks.once"))),
      h("p", { class: "row" }, h("code", { class: "secret", "data-testid": "webhook-secret" }, answer.secret),
        copyButton(answer.secret)),
      h("p", {}, t("webhooks.verifyHint", { timestamp: "{timestamp}", body: "{body}" }))));
  }

  main.append(h("h1", {}, t("nav.webhooks")), h("p", {}, t("webhooks.intro")),
    createForm(showSecret, load), created, list, log);
  load();
}

function createForm(showSecret, reload) {
  const url = h("input", { type: "url", required: true, maxlength: 2000, placeholder: "https://", autocomplete: "off",
    "data-testid": "webhook-url-input" });
  const description = h("input", { type: "text", maxlength: 200, autocomplete: "off", "data-testid": "webhook-description-input" });
  const secret = h("input", { type: "text", minlength: 16, maxlength: 200, autocomplete: "off", "data-testid": "webhook-secret-input" });
  const events = EVENTS.map((event) => h("input", { type: "checkbox", value: event, checked: true, "data-testid": `webhook-event-${event}` }));
  const message = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel" }, h("h2", {}, t("webhooks.add")),
    h("div", { class: "row wrap" }, labelled(t("webhooks.url"), url), labelled(t("webhooks.description"), description),
      labelled(t("webhooks.secretOptional"), secret)),
    h("fieldset", {}, h("legend", {}, t("webhooks.events")),
      events.map((box) => h("label", { class: "check" }, box, t(`webhooks.event.${box.value}`)))),
    h("div", {}, h("button", { type: "submit", "data-testid": "webhook-submit" }, t("webhooks.create"))), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    const body = { url: url.value.trim(), description: description.value.trim(),
      events: events.filter((b) => b.checked).map((b) => b.value) };
    if (secret.value) body.secret = secret.value;
    if (!body.events.length) {
      message.replaceChildren(alertBox(t("webhooks.pickEvent")));
      return;
    }
    try {
      showSecret(await post("/webhooks", body));
      form.reset();
      reload();
    } catch (err) {
      message.replaceChildren(alertBox(err.explain()));
    }
  });
  return form;
}
