// The logged-in user's own password.
import { post } from "../api.js";
import { t } from "../i18n.js";
import { me } from "../auth.js";
import { h, alertBox, labelled, toast } from "../ui.js";
import { passwordFields } from "./setup.js";

export async function accountPage(main) {
  const who = me();
  main.append(h("h1", {}, t("account.title")));
  if (!who || who.kind !== "user") {
    main.append(h("p", { class: "muted" }, t("account.notUser")));
    return;
  }
  const current = h("input", { type: "password", required: true, maxlength: 1000, autocomplete: "current-password",
    "data-testid": "account-current" });
  const { password, fields } = passwordFields("account");
  const submit = h("button", { type: "submit", "data-testid": "account-submit" }, t("account.submit"));
  const message = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel auth-page" }, h("p", {}, `${who.name} · ${t(`role.${who.role}`)}`),
    labelled(t("account.current"), current), fields, submit, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.replaceChildren();
    try {
      await post("/auth/password", { current_password: current.value, new_password: password.value });
      form.reset();
      message.replaceChildren(h("p", { "data-testid": "account-done" }, t("account.changed")));
      toast(t("account.changed"));
    } catch (err) {
      message.replaceChildren(alertBox(err.status === 401 || err.status === 403 ? t("account.wrongCurrent") : err.explain()));
    } finally {
      submit.disabled = false;
    }
  });
  main.append(form);
}
