// First run: the set-up link (/setup?token=...) creates the first admin and logs them in.
import { post } from "../api.js";
import { t } from "../i18n.js";
import { loadMe } from "../auth.js";
import { h, alertBox, labelled } from "../ui.js";

export const MIN_PASSWORD = 10;

export function passwordFields(prefix) {
  const password = h("input", { type: "password", required: true, minlength: MIN_PASSWORD, maxlength: 1000,
    autocomplete: "new-password", "data-testid": `${prefix}-password` });
  const confirm = h("input", { type: "password", required: true, maxlength: 1000, autocomplete: "new-password",
    "data-testid": `${prefix}-confirm` });
  const check = () => confirm.setCustomValidity(confirm.value === password.value ? "" : t("account.mismatch"));
  password.addEventListener("input", check);
  confirm.addEventListener("input", check);
  return { password, confirm, fields: [labelled(t("account.new"), password), labelled(t("account.confirm"), confirm)] };
}

export async function setupPage(main, { navigate }) {
  const token = new URLSearchParams(location.search).get("token") || "";
  const username = h("input", { type: "text", required: true, maxlength: 100, autocomplete: "username",
    autocapitalize: "none", "data-testid": "setup-username" });
  const { password, fields } = passwordFields("setup");
  const submit = h("button", { type: "submit", "data-testid": "setup-submit" }, t("setup.submit"));
  const message = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel" }, labelled(t("login.username"), username), fields, submit, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await post("/auth/setup", { token, username: username.value.trim(), password: password.value });
      await loadMe();
      navigate("/");
    } catch (err) {
      message.replaceChildren(alertBox(err.status === 401 || err.status === 403 || err.status === 404
        ? t("setup.badToken") : err.explain()));
    } finally {
      submit.disabled = false;
    }
  });
  main.append(h("section", { class: "auth-page" }, h("h1", {}, t("setup.title")),
    h("p", { class: "muted" }, t("setup.hint")), token ? form : alertBox(t("setup.badToken"))));
}
