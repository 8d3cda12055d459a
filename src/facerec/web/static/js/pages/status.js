// Status: what this server runs and holds.
import { serverStatus } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox } from "../ui.js";

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
      h("p", {}, h("a", { href: "/docs" }, t("status.api"))),
    );
  } catch (err) {
    main.append(alertBox(err.explain ? err.explain() : String(err)));
  }
}
