// Shared parts of the admin pages (users, keys, devices, audit): tables and dates.
import { t, currentLang } from "./i18n.js";
import { h } from "./ui.js";

export const ROLES = ["viewer", "manager", "admin"];

export function when(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(currentLang() === "zh" ? "zh-CN" : "en-GB",
    { dateStyle: "short", timeStyle: "short" }).format(new Date(iso));
}

// columns: [[heading, (row) => cell]]; a cell is a node or text.
export function dataTable(testid, columns, rows, rowAttrs = () => ({})) {
  return h("div", { class: "scroll" }, h("table", { "data-testid": testid },
    h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs(row), columns.map(([, cell]) => h("td", {}, cell(row))))))));
}

export function roleSelect(value, attrs = {}) {
  return h("select", attrs, ROLES.map((role) => h("option", { value: role, selected: role === value }, t(`role.${role}`))));
}

export function copyButton(text) {
  const button = h("button", { type: "button", class: "secondary small", "data-testid": "copy-secret" }, t("admin.copy"));
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = t("admin.copied");
    } catch {
      button.textContent = t("admin.copyFailed");
    }
  });
  return button;
}
