// People: a searchable, paginated list with thumbnails, and a form to add someone with photos.
import { get, post } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, labelled, toast } from "../ui.js";
import { enrolPhotos, outcomeList } from "../photos.js";

const PAGE = 24;

export function peoplePage(main) {
  let offset = 0;
  let query = "";
  const search = h("input", { type: "search", placeholder: t("people.search"), "data-testid": "people-search" });
  const list = h("ul", { class: "cards", "data-testid": "people-list", "aria-live": "polite" });
  const pager = h("div", { class: "pager" });

  async function load() {
    try {
      const page = await get("/people", { q: query, offset, limit: PAGE });
      list.replaceChildren(...page.items.map(card));
      if (!page.items.length) list.append(h("li", { class: "muted" }, t("people.none")));
      pager.replaceChildren(
        h("button", { type: "button", class: "secondary", disabled: offset === 0,
          onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, t("people.prev")),
        h("span", {}, t("people.page", { from: page.total ? offset + 1 : 0, to: offset + page.items.length, total: page.total })),
        h("button", { type: "button", class: "secondary", disabled: offset + PAGE >= page.total,
          onclick: () => { offset += PAGE; load(); } }, t("people.next")),
      );
    } catch (err) {
      list.replaceChildren(alertBox(err.explain()));
    }
  }

  function card(person) {
    const photo = person.cover_face_id
      ? h("img", { src: `/api/v1/faces/${person.cover_face_id}/thumbnail`, alt: "", loading: "lazy" })
      : h("div", { class: "placeholder", "aria-hidden": "true" }, person.name.slice(0, 1));
    return h("li", { "data-testid": "person-card", class: "card" },
      h("a", { href: `/people/${person.id}`, "data-link": true }, photo,
        h("span", { class: "name" }, person.name),
        h("span", { class: "muted" }, [person.external_id, t("people.faces", { n: person.face_count })].filter(Boolean).join(" · "))));
  }

  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { query = search.value.trim(); offset = 0; load(); }, 250);
  });

  main.append(
    h("h1", {}, t("people.title")),
    addForm(() => { offset = 0; load(); }),
    labelled(t("people.search"), search),
    list,
    pager,
  );
  load();
  return () => clearTimeout(timer);
}

function addForm(reload) {
  const name = h("input", { type: "text", required: true, maxlength: 200, autocomplete: "off", "data-testid": "person-name-input" });
  const externalId = h("input", { type: "text", maxlength: 100, autocomplete: "off" });
  const photos = h("input", { type: "file", accept: "image/*", multiple: true, "data-testid": "person-photo-input" });
  const force = h("input", { type: "checkbox", "data-testid": "person-force" });
  const report = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", "data-testid": "person-submit" }, t("people.submit"));
  const form = h("form", { class: "panel", "aria-labelledby": "add-person", "data-perm": "people:write" },
    h("h2", { id: "add-person" }, t("people.add")),
    labelled(t("people.name"), name), labelled(t("people.externalId"), externalId),
    labelled(t("people.photos"), photos),
    h("label", { class: "check" }, force, ` ${t("people.force")}`), h("div", {}, submit), report);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    report.replaceChildren();
    try {
      const person = await post("/people", { name: name.value.trim(), external_id: externalId.value.trim() || null });
      const files = [...photos.files];
      const outcomes = files.length ? await enrolPhotos(person.id, files, force.checked) : [];
      report.replaceChildren(h("p", {}, t("people.created", { name: person.name })), outcomes.length ? outcomeList(outcomes) : "");
      toast(t("people.created", { name: person.name }));
      form.reset();
      reload();
    } catch (err) {
      report.replaceChildren(alertBox(err.explain ? err.explain() : String(err)));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
