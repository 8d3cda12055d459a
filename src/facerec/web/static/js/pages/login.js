// Log in (user name and password); the session cookie is HttpOnly, set by the server.
import { get, post } from "../api.js";
import { t } from "../i18n.js";
import { setMe } from "../auth.js";
import { h, alertBox, labelled } from "../ui.js";

// Only a path on this server: never send a freshly logged-in user to another site.
export function safeNext(value) {
  return value && value.startsWith("/") && !value.startsWith("//") && !value.startsWith("/\\") ? value : "/";
}

export async function loginPage(main, { navigate }) {
  const next = safeNext(new URLSearchParams(location.search).get("next"));
  const username = h("input", { type: "text", required: true, maxlength: 100, autocomplete: "username",
    autocapitalize: "none", "data-testid": "login-username" });
  const password = h("input", { type: "password", required: true, maxlength: 1000, autocomplete: "current-password",
    "data-testid": "login-password" });
  const submit = h("button", { type: "submit", "data-testid": "login-submit" }, t("login.submit"));
  const message = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel" }, labelled(t("login.username"), username),
    labelled(t("login.password"), password), submit, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.replaceChildren();
    try {
      setMe(await post("/auth/login", { username: username.value.trim(), password: password.value }));
      navigate(next);
    } catch (err) {
      password.value = "";
      message.replaceChildren(alertBox(loginError(err)));
    } finally {
      submit.disabled = false;
    }
  });
  main.append(h("section", { class: "auth-page" }, h("h1", {}, t("login.title")), form));
  get("/auth/setup").then((s) => { if (s.needed) message.replaceChildren(h("p", { class: "muted" }, t("login.setupNeeded"))); })
    .catch(() => {});
  username.focus();
}

export function loginError(err) {
  if (err.status === 401) return t("login.wrong");
  if (err.status === 429) {
    const seconds = Number(err.body?.retry_after) || 60;
    return t("login.locked", { minutes: Math.max(1, Math.ceil(seconds / 60)) });
  }
  return err.explain ? err.explain() : String(err);
}
