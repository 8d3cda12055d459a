// API keys (admins): list, create (role, scopes, expiry; the secret is shown once), revoke.
import { del, get, post } from "../api.js";
import { t } from "../i18n.js";
import { ALL_PERMISSIONS } from "../auth.js";
import { h, alertBox, labelled, toast } from "../ui.js";
import { copyButton, dataTable, roleSelect, when } from "../admin.js";

export async function keysPage(main) {
  const list = h("div", { "aria-live": "polite" });
  const created = h("div", { "aria-live": "polite", "data-testid": "key-created" });

  async function load() {
    try {
      const page = await get("/keys", { limit: 500 });
      list.replaceChildren(dataTable("keys-table", [
        [t("admin.name"), (k) => k.name],
        [t("keys.prefix"), (k) => h("code", {}, `${k.prefix}…`)],
        [t("admin.role"), (k) => t(`role.${k.role}`)],
        [t("keys.scopes"), (k) => (k.scopes.length ? k.scopes.join(", ") : t("keys.allOfRole"))],
        [t("admin.created"), (k) => `${when(k.created_at)} · ${k.created_by}`],
        [t("keys.expires"), (k) => when(k.expires_at)],
        [t("keys.lastUsed"), (k) => when(k.last_used_at)],
        ["", (k) => (k.revoked_at ? t("admin.revokedAt", { time: when(k.revoked_at) })
          : h("button", { type: "button", class: "danger small", "data-testid": "key-revoke",
            onclick: () => revoke(k) }, t("admin.revoke")))],
      ], page.items, (k) => ({ "data-testid": "key-row", "data-name": k.name })));
    } catch (err) {
      list.replaceChildren(alertBox(err.explain()));
    }
  }

  async function revoke(key) {
    if (!confirm(t("keys.confirmRevoke", { name: key.name }))) return;
    try {
      await del(`/keys/${key.id}`);
      toast(t("admin.revoked"));
    } catch (err) {
      toast(err.explain(), "error");
    }
    load();
  }

  function showSecret(answer) {
    created.replaceChildren(h("div", { class: "panel" },
      h("p", {}, h("strong", {}, t("keys.once", { name: answer.key.name }))),
      h("p", { class: "row" }, h("code", { class: "secret", "data-testid": "key-secret" }, answer.secret),
        copyButton(answer.secret))));
  }

  main.append(h("h1", {}, t("nav.keys")), createForm(showSecret, load), created, list);
  load();
}

function createForm(showSecret, reload) {
  const name = h("input", { type: "text", required: true, maxlength: 100, autocomplete: "off", "data-testid": "key-name-input" });
  const role = roleSelect("viewer", { "data-testid": "key-role-input" });
  const scopes = ALL_PERMISSIONS.map((scope) => h("input", { type: "checkbox", value: scope, "data-testid": `key-scope-${scope}` }));
  const expires = h("input", { type: "date", "data-testid": "key-expires-input" });
  const message = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel" }, h("h2", {}, t("keys.add")),
    h("div", { class: "row wrap" }, labelled(t("admin.name"), name), labelled(t("admin.role"), role),
      labelled(t("keys.expiresOptional"), expires)),
    h("fieldset", {}, h("legend", {}, t("keys.scopesHint")),
      scopes.map((box) => h("label", { class: "check" }, box, box.value))),
    h("div", {}, h("button", { type: "submit", "data-testid": "key-submit" }, t("keys.create"))), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    const body = { name: name.value.trim(), role: role.value, scopes: scopes.filter((b) => b.checked).map((b) => b.value) };
    if (expires.value) body.expires_at = new Date(`${expires.value}T23:59:59`).toISOString(); // end of that local day
    try {
      showSecret(await post("/keys", body));
      form.reset();
      reload();
    } catch (err) {
      message.replaceChildren(alertBox(err.explain()));
    }
  });
  return form;
}
