// One person: rename, photos (add / remove), own work schedule, delete.
import { del, get, patch, put } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, labelled, toast } from "../ui.js";
import { enrolPhotos, outcomeList } from "../photos.js";

export async function personPage(main, { params, navigate }) {
  const id = Number(params[0]);
  let person;
  try {
    person = await get(`/people/${id}`);
  } catch (err) {
    main.append(h("p", {}, h("a", { href: "/people", "data-link": true }, `← ${t("person.back")}`)), alertBox(err.explain()));
    return;
  }
  const name = h("input", { type: "text", value: person.name, maxlength: 200, required: true, "data-testid": "person-rename-input" });
  const renameForm = h("form", { class: "row", "data-perm": "people:write" }, labelled(t("people.name"), name),
    h("button", { type: "submit" }, t("person.rename")));
  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      person = await patch(`/people/${id}`, { name: name.value.trim() });
      heading.textContent = person.name;
      toast(t("person.saved"));
    } catch (err) {
      toast(err.explain(), "error");
    }
  });

  const start = h("input", { type: "date", value: person.start_date || "", required: true, "data-testid": "person-start-date" });
  const end = h("input", { type: "date", value: person.end_date || "", "data-testid": "person-end-date" });
  const datesForm = h("form", { class: "row", "data-perm": "people:write" }, labelled(t("person.startDate"), start), labelled(t("person.endDate"), end),
    h("button", { type: "submit", "data-testid": "person-save-dates" }, t("person.saveDates")));
  datesForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      person = await patch(`/people/${id}`, { start_date: start.value, end_date: end.value || null });
      toast(t("person.saved"));
    } catch (err) {
      toast(err.explain(), "error");
    }
  });

  const heading = h("h1", {}, person.name);
  const grid = h("ul", { class: "photos", "data-testid": "person-photos" });
  const report = h("div", { "aria-live": "polite" });
  const upload = h("input", { type: "file", accept: "image/*", multiple: true, "data-testid": "person-add-photos" });
  const force = h("input", { type: "checkbox" });
  upload.addEventListener("change", async () => {
    const files = [...upload.files];
    if (!files.length) return;
    report.replaceChildren(outcomeList(await enrolPhotos(id, files, force.checked)));
    upload.value = "";
    loadPhotos();
  });

  async function loadPhotos() {
    const faces = await get(`/people/${id}/faces`);
    grid.replaceChildren(...faces.items.map((face) =>
      h("li", { class: "photo" },
        h("img", { src: `/api/v1/faces/${face.id}/thumbnail`, alt: `${person.name} #${face.id}` }),
        h("button", { type: "button", class: "danger small", "aria-label": `${t("person.remove")} #${face.id}`, "data-perm": "people:write",
          onclick: async () => {
            if (!confirm(t("person.confirmRemove"))) return;
            await del(`/faces/${face.id}`);
            loadPhotos();
          } }, "✕"))));
  }

  const removeButton = h("button", { type: "button", class: "danger", "data-testid": "person-delete", "data-perm": "people:write",
    onclick: async () => {
      if (!confirm(t("person.confirmDelete", { name: person.name }))) return;
      await del(`/people/${id}`);
      toast(t("person.deleted", { name: person.name }));
      navigate("/people");
    } }, t("person.delete"));

  main.append(
    h("p", {}, h("a", { href: "/people", "data-link": true }, `← ${t("person.back")}`)),
    heading,
    person.external_id ? h("p", { class: "muted" }, person.external_id) : "",
    renameForm,
    h("h2", {}, t("person.photos")),
    grid,
    h("div", { "data-perm": "people:write" }, labelled(t("person.addPhotos"), upload),
      h("label", { class: "check" }, force, ` ${t("people.force")}`)),
    report,
    await scheduleChooser(id),
    h("h2", {}, t("person.dates")),
    datesForm,
    h("p", { "data-perm": "people:write" }, h("a", { href: `/api/v1/people/${id}/export`, download: "", "data-testid": "person-export" }, t("person.export"))),
    h("div", { class: "row end" }, removeButton),
  );
  loadPhotos();
}

async function scheduleChooser(personId) {
  const [schedules, own] = await Promise.all([
    get("/attendance/schedules"), get(`/attendance/people/${personId}/schedule`),
  ]);
  const select = h("select", {},
    h("option", { value: "" }, t("person.scheduleDefault")),
    schedules.map((s) => h("option", { value: s.id, selected: own.schedule_id === s.id },
      `${s.name} (${s.start_time.slice(0, 5)}–${s.end_time.slice(0, 5)})`)));
  select.addEventListener("change", async () => {
    await put(`/attendance/people/${personId}/schedule`, { schedule_id: select.value ? Number(select.value) : null });
    toast(t("person.saved"));
  });
  return h("div", { "data-perm": "attendance:write" }, labelled(t("person.schedule"), select));
}
