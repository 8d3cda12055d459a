// The audit log (admins): who changed what, when and from where; filters, pages, CSV.
import { API, get } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, labelled } from "../ui.js";
import { dataTable, when } from "../admin.js";

const PAGE = 50;
const FILTERS = ["actor", "action", "entity", "entity_id"];

export async function auditPage(main) {
  const inputs = Object.fromEntries(FILTERS.map((name) => [name,
    h("input", { type: "text", maxlength: 200, autocomplete: "off", "data-testid": `audit-${name}` })]));
  const from = h("input", { type: "date", "data-testid": "audit-from" });
  const to = h("input", { type: "date", "data-testid": "audit-to" });
  const csv = h("a", { class: "button secondary", download: "", "data-testid": "audit-csv" }, t("att.downloadCsv"));
  const results = h("div", { "aria-live": "polite" });
  const pager = h("div", { class: "pager" });
  let offset = 0;

  function query() {
    const q = {};
    for (const name of FILTERS) if (inputs[name].value.trim()) q[name] = inputs[name].value.trim();
    if (from.value) q.from = new Date(`${from.value}T00:00:00`).toISOString(); // local days
    if (to.value) q.to = new Date(new Date(`${to.value}T00:00:00`).getTime() + 86400000).toISOString();
    return q;
  }

  async function load() {
    const q = query();
    csv.href = `${API}/audit?${new URLSearchParams({ ...q, format: "csv" })}`;
    try {
      const page = await get("/audit", { ...q, offset, limit: PAGE });
      results.replaceChildren(page.items.length ? dataTable("audit-table", [
        [t("att.time"), (e) => when(e.time)],
        [t("audit.actor"), (e) => e.actor],
        [t("audit.address"), (e) => e.address || ""],
        [t("audit.action"), (e) => e.action],
        [t("audit.entity"), (e) => (e.entity_id === null || e.entity_id === undefined ? e.entity : `${e.entity} #${e.entity_id}`)],
        [t("audit.reason"), (e) => e.reason || ""],
        [t("audit.details"), (e) => h("code", { class: "details" }, e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : "")],
      ], page.items, () => ({ "data-testid": "audit-row" })) : h("p", { class: "muted" }, t("audit.none")));
      pager.replaceChildren(
        h("button", { type: "button", class: "secondary", disabled: offset === 0,
          onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, t("people.prev")),
        h("span", { class: "pager-info" }, page.total ? t("people.page",
          { from: offset + 1, to: Math.min(offset + PAGE, page.total), total: page.total }) : ""),
        h("button", { type: "button", class: "secondary", disabled: offset + PAGE >= page.total,
          onclick: () => { offset += PAGE; load(); } }, t("people.next")));
    } catch (err) {
      results.replaceChildren(alertBox(err.explain()));
      pager.replaceChildren();
    }
  }

  const form = h("form", { class: "panel row wrap" },
    FILTERS.map((name) => labelled(t(`audit.${name}`), inputs[name])),
    labelled(t("att.from"), from), labelled(t("att.to"), to),
    h("button", { type: "submit", "data-testid": "audit-show" }, t("att.show")), csv);
  form.addEventListener("submit", (event) => { event.preventDefault(); offset = 0; load(); });
  main.append(h("h1", {}, t("nav.audit")), form, results, pager);
  load();
}
