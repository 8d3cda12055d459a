// Users (admins): list, create with a role, change role, disable / enable, reset password.
import { get, patch, post } from "../api.js";
import { t } from "../i18n.js";
import { me } from "../auth.js";
import { h, alertBox, labelled, toast } from "../ui.js";
import { dataTable, roleSelect, when } from "../admin.js";
import { MIN_PASSWORD } from "./setup.js";

export async function usersPage(main) {
  const list = h("div", { "aria-live": "polite" });

  async function load() {
    try {
      const page = await get("/users", { limit: 500 });
      list.replaceChildren(dataTable("users-table", [
        [t("login.username"), (u) => u.username],
        [t("admin.role"), (u) => roleCell(u)],
        [t("admin.state"), (u) => (u.disabled ? t("users.disabled") : t("users.active"))],
        [t("admin.created"), (u) => when(u.created_at)],
        ["", (u) => actions(u)],
      ], page.items, (u) => ({ "data-testid": "user-row", "data-username": u.username })));
    } catch (err) {
      list.replaceChildren(alertBox(err.explain()));
    }
  }

  async function change(user, body) {
    try {
      await patch(`/users/${user.id}`, body);
      toast(t("person.saved"));
    } catch (err) {
      toast(err.explain(), "error");
    }
    load();
  }

  function roleCell(user) {
    const select = roleSelect(user.role, { "aria-label": `${t("admin.role")} ${user.username}`, "data-testid": "user-role" });
    select.disabled = isMe(user);
    select.addEventListener("change", () => change(user, { role: select.value }));
    return select;
  }

  function actions(user) {
    const toggle = h("button", { type: "button", class: user.disabled ? "secondary small" : "danger small",
      "data-testid": "user-toggle", disabled: isMe(user),
      onclick: () => change(user, { disabled: !user.disabled }) }, user.disabled ? t("users.enable") : t("users.disable"));
    const password = h("input", { type: "password", minlength: MIN_PASSWORD, maxlength: 1000, required: true,
      autocomplete: "new-password", "aria-label": `${t("users.newPassword")} ${user.username}`, "data-testid": "user-new-password" });
    const reset = h("form", { class: "row" }, password,
      h("button", { type: "submit", class: "secondary small", "data-testid": "user-reset" }, t("users.reset")));
    reset.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await post(`/users/${user.id}/password`, { new_password: password.value });
        reset.reset();
        toast(t("users.passwordSet", { name: user.username }));
      } catch (err) {
        toast(err.explain(), "error");
      }
    });
    return h("div", { class: "row" }, toggle, reset);
  }

  main.append(h("h1", {}, t("nav.users")), createForm(load), list);
  load();
}

function isMe(user) {
  const who = me();
  return Boolean(who && who.kind === "user" && who.id === user.id);
}

function createForm(reload) {
  const username = h("input", { type: "text", required: true, maxlength: 100, autocomplete: "off", "data-testid": "user-name-input" });
  const password = h("input", { type: "password", required: true, minlength: MIN_PASSWORD, maxlength: 1000,
    autocomplete: "new-password", "data-testid": "user-password-input" });
  const role = roleSelect("viewer", { "data-testid": "user-role-input" });
  const message = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel" }, h("h2", {}, t("users.add")),
    h("div", { class: "row wrap" }, labelled(t("login.username"), username), labelled(t("login.password"), password),
      labelled(t("admin.role"), role), h("button", { type: "submit", "data-testid": "user-submit" }, t("users.create"))),
    message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    try {
      const user = await post("/users", { username: username.value.trim(), password: password.value, role: role.value });
      toast(t("users.created", { name: user.username }));
      form.reset();
      reload();
    } catch (err) {
      message.replaceChildren(alertBox(err.explain()));
    }
  });
  return form;
}
