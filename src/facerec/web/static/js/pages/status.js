// Status: what this server runs and holds; and threshold calibration on the gallery.
import { del, get, put, serverStatus } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, percent, toast } from "../ui.js";

export async function statusPage(main) {
  main.append(h("h1", {}, t("status.title")));
  try {
    const s = await serverStatus(true);
    const rows = [
      ["status.version", s.version], ["status.engine", s.engine], ["status.model", s.model],
      ["status.detector", s.detector], ["status.threshold", s.threshold], ["status.people", s.people],
      ["status.faces", s.faces], ["status.indexed", s.indexed_faces], ["status.timezone", s.timezone],
    ];
    main.append(
      h("dl", { class: "facts", "data-testid": "status-facts" },
        rows.map(([key, value]) => [h("dt", {}, t(key)), h("dd", {}, String(value))])),
      s.stale_faces ? h("ul", { class: "warnings", "data-testid": "stale-faces" },
        h("li", {}, t("status.stale", { count: s.stale_faces }))) : "",
      modelsTable(s.models ?? []),
      h("p", {}, h("a", { href: "/docs" }, t("status.api"))),
      calibrationPanel(),
    );
  } catch (err) {
    main.append(alertBox(err.explain ? err.explain() : String(err)));
  }
}

// Each model in use: role, name, kind, licence; the recogniser's threshold in force.
export function modelsTable(models) {
  const head = ["status.modelRole", "status.modelName", "status.modelKind", "status.modelLicence", "status.modelThreshold"];
  return h("section", { class: "panel" }, h("h2", {}, t("status.models")),
    h("div", { class: "scroll" }, h("table", { "data-testid": "status-models" },
      h("thead", {}, h("tr", {}, head.map((key) => h("th", { scope: "col" }, t(key))))),
      h("tbody", {}, models.map((m) => h("tr", { "data-role": m.role },
        h("td", {}, t(`status.role.${m.role}`)),
        h("td", {}, m.model_id ?? m.name),
        h("td", {}, t(`status.kind.${m.kind}`)),
        h("td", {}, m.licence),
        h("td", {}, m.threshold === null || m.threshold === undefined ? "–" : String(m.threshold))))))));
}

// A calibration warning in the page's language by its code, else the server's sentence.
export function calibrationNote(note) {
  const key = `cal.warn.${note.code}`;
  const values = { ...note.values };
  if (values.far !== undefined) values.far = `${(values.far * 100).toFixed(4)}%`;
  const text = t(key, values);
  return text === key ? note.message : text;
}

function calibrationPanel() {
  const body = h("div", { "aria-live": "polite" });
  const far = h("select", {}, [["0.01", "1%"], ["0.001", "0.1%"], ["0.0005", "0.05%"], ["0.0001", "0.01%"]].map(([v, label]) =>
    h("option", { value: v, selected: v === "0.0005" }, label)));
  async function load() {
    try {
      const report = await get("/calibration", { target_far: far.value });
      const table = h("table", { "data-testid": "calibration-table" },
        h("thead", {}, h("tr", {}, [t("cal.threshold"), t("cal.far"), t("cal.frr")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, report.table.map((row) => h("tr", { class: row.threshold === report.active_threshold ? "active" : "" },
          h("td", {}, row.threshold.toFixed(3) + (row.threshold === report.active_threshold ? ` (${t("cal.active")})` : "")),
          h("td", {}, `${(row.far * 100).toFixed(3)}%`),
          h("td", {}, row.frr === null ? "–" : percent(row.frr))))));
      const apply = h("button", { type: "button", disabled: !report.reliable || report.recommended_threshold === null,
        onclick: async () => { await put("/calibration/threshold", { threshold: report.recommended_threshold }); toast(t("person.saved")); load(); } },
        t("cal.apply", { value: report.recommended_threshold ?? "–" }));
      const reset = h("button", { type: "button", class: "secondary",
        onclick: async () => { await del("/calibration/threshold"); toast(t("person.saved")); load(); } },
        t("cal.reset", { value: report.default_threshold }));
      body.replaceChildren(
        h("p", { "data-testid": "calibration-summary" }, t("cal.summary", {
          people: t("cal.people", { n: report.people }), faces: t("cal.faces", { n: report.faces }),
          impostors: t("cal.impostors", { n: report.impostor_pairs }), genuine: t("cal.genuine", { n: report.genuine_pairs }) })),
        h("div", { class: "scroll" }, table),
        h("div", { class: "row wrap", "data-perm": "settings" }, apply, reset),
        report.look_alikes.length ? h("ul", {}, report.look_alikes.slice(0, 10).map((l) =>
          h("li", {}, t("cal.lookAlike", { a: l.name_a, b: l.name_b, s: percent(l.similarity) })))) : "",
        report.notes.length ? h("ul", { class: "warnings", "data-testid": "calibration-warnings" }, report.notes.map((note) => h("li", {}, calibrationNote(note)))) : "",
      );
    } catch (err) {
      body.replaceChildren(alertBox(err.explain()));
    }
  }
  far.addEventListener("change", load);
  load();
  return h("section", { class: "panel" }, h("h2", {}, t("cal.title")), h("p", { class: "muted" }, t("cal.hint")),
    h("div", { class: "field" }, h("label", { for: "cal-far" }, t("cal.target")), Object.assign(far, { id: "cal-far" })), body);
}
