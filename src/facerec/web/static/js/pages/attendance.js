// Attendance: today at a glance, the report with downloads, the unknown-face queue,
// and the schedule settings.
import { del, get, post, put, request, serverStatus } from "../api.js";
import { t } from "../i18n.js";
import { h, alertBox, formatTime, labelled, statusLabel, toast } from "../ui.js";

const REFRESH_MS = 10000;

export async function attendancePage(main) {
  const status = await serverStatus().catch(() => ({ timezone: "UTC" }));
  const zone = status.timezone;
  const people = (await get("/people", { limit: 500 }).catch(() => ({ items: [] }))).items;
  const today = todaySection(zone);
  main.append(
    h("h1", {}, t("att.title")),
    today.node,
    await reportSection(zone, people),
    unknownSection(zone, people),
    await scheduleSection(),
  );
  const timer = setInterval(today.load, REFRESH_MS);
  return () => clearInterval(timer);
}

function todaySection(zone) {
  const counts = h("div", { class: "counts" });
  const body = h("tbody", {});
  const table = h("table", { "data-testid": "attendance-table" },
    h("caption", {}, t("att.recent")),
    h("thead", {}, h("tr", {}, [t("att.time"), t("att.person"), t("att.device"), t("att.source")].map((c) => h("th", { scope: "col" }, c)))),
    body);
  const heading = h("h2", {}, t("att.today"));
  async function load() {
    try {
      const day = await get("/attendance/today");
      heading.textContent = `${t("att.today")} · ${day.day}`;
      counts.replaceChildren(...[["present", "att.present"], ["late", "att.late"], ["absent", "att.absent"], ["off", "att.off"]]
        .map(([key, label]) => h("div", { class: `count ${key}`, "data-testid": `count-${key}` }, h("strong", {}, day[key]), h("span", {}, t(label)))));
      body.replaceChildren(...day.recent.map((e) => h("tr", {},
        h("td", {}, formatTime(e.time, zone)), h("td", {}, e.name), h("td", {}, e.device || ""), h("td", {}, t(`source.${e.source}`)))));
      if (!day.recent.length) body.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, t("att.noEvents"))));
    } catch (err) {
      counts.replaceChildren(alertBox(err.explain()));
    }
  }
  load();
  return { node: h("section", { class: "panel" }, heading, counts, h("div", { class: "scroll" }, table)), load };
}

async function reportSection(zone, people) {
  const today = (await get("/attendance/today").catch(() => null))?.day || new Date().toISOString().slice(0, 10);
  const from = h("input", { type: "date", value: `${today.slice(0, 8)}01` });
  const to = h("input", { type: "date", value: today });
  const who = h("select", {}, h("option", { value: "" }, t("att.everyone")),
    people.map((p) => h("option", { value: p.id }, p.name)));
  const xlsx = h("a", { class: "button", "data-testid": "report-download", download: "" }, t("att.downloadXlsx"));
  const csv = h("a", { class: "button secondary", "data-testid": "report-download-csv", download: "" }, t("att.downloadCsv"));
  const preview = h("div", { class: "scroll", "aria-live": "polite" });
  function query(format) {
    const params = new URLSearchParams({ from: from.value, to: to.value, format });
    if (who.value) params.set("person_id", who.value);
    return `/api/v1/attendance/report?${params}`;
  }
  function updateLinks() {
    xlsx.href = query("xlsx");
    csv.href = query("csv");
  }
  async function show() {
    updateLinks();
    try {
      const report = await get("/attendance/report", { from: from.value, to: to.value, person_id: who.value || undefined });
      const head = [t("att.day"), t("att.person"), t("att.status"), t("att.firstIn"), t("att.lastOut"), t("att.minutesLate"), t("att.minutesEarly")];
      preview.replaceChildren(h("table", { "data-testid": "report-table" },
        h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, report.rows.map((r) => h("tr", { class: `status-${r.status}` },
          h("td", {}, r.day), h("td", {}, r.name), h("td", {}, statusLabel(r.status)),
          h("td", {}, formatTime(r.first_in, zone)), h("td", {}, formatTime(r.last_out, zone)),
          h("td", {}, r.minutes_late || ""), h("td", {}, r.minutes_early || ""))))));
    } catch (err) {
      preview.replaceChildren(alertBox(err.explain()));
    }
  }
  for (const control of [from, to, who]) control.addEventListener("change", updateLinks);
  updateLinks();
  const form = h("form", { class: "row wrap" }, labelled(t("att.from"), from), labelled(t("att.to"), to),
    labelled(t("att.person"), who), h("button", { type: "submit" }, t("att.show")));
  form.addEventListener("submit", (event) => { event.preventDefault(); show(); });
  return h("section", { class: "panel" }, h("h2", {}, t("att.report")), form, h("div", { class: "row" }, xlsx, csv), preview);
}

function unknownSection(zone, people) {
  const list = h("ul", { class: "cards wide", "data-testid": "unknown-list" });
  async function load() {
    const page = await get("/attendance/unknown", { limit: 50 });
    list.replaceChildren(...page.items.map(card));
    if (!page.items.length) list.append(h("li", { class: "muted" }, t("att.noUnknown")));
  }
  function card(group) {
    const name = h("input", { type: "text", maxlength: 200, required: true });
    const enrol = h("form", { class: "row", "data-perm": "attendance:write" }, labelled(t("att.enrolAs"), name), h("button", { type: "submit" }, t("att.enrol")));
    enrol.addEventListener("submit", (event) => {
      event.preventDefault();
      act(post(`/attendance/unknown/${group.group_id}/enrol`, { name: name.value.trim() }));
    });
    const target = h("select", {}, people.map((p) => h("option", { value: p.id }, p.name)));
    const assign = h("form", { class: "row", "data-perm": "attendance:write" }, labelled(t("att.assignTo"), target), h("button", { type: "submit", class: "secondary" }, t("att.assign")));
    assign.addEventListener("submit", (event) => {
      event.preventDefault();
      const path = `/attendance/unknown/${group.group_id}/assign`;
      const json = { person_id: Number(target.value) };
      act(post(path, json).catch((err) => {  // clearly someone else: ask, then force (audited)
        if (err.code !== "face_mismatch" || !confirm(t("att.assignAnyway"))) throw err;
        return request("POST", path, { json, query: { force: "true" } });
      }));
    });
    return h("li", { class: "card unknown-card", "data-testid": "unknown-card" },
      h("img", { src: `/api/v1/attendance/unknown/faces/${group.face_ids[0]}/crop`, alt: "" }),
      h("span", { class: "muted" }, t("att.seen", { n: group.count, time: formatTime(group.last_seen, zone, true) })),
      enrol, people.length ? assign : "",
      h("button", { type: "button", class: "danger", "data-perm": "attendance:write", onclick: () => act(post(`/attendance/unknown/${group.group_id}/dismiss`)) }, t("att.dismiss")));
  }
  async function act(promise) {
    try {
      await promise;
      toast(t("person.saved"));
    } catch (err) {
      toast(err.explain(), "error");
    }
    load();
  }
  load();
  return h("section", { class: "panel" }, h("h2", {}, t("att.unknown")), list);
}

async function scheduleSection() {
  const schedules = await get("/attendance/schedules");
  const current = schedules.find((s) => s.is_default) || { name: "Office hours", start_time: "09:00", end_time: "18:00", weekdays: [1, 2, 3, 4, 5], grace_minutes: 5 };
  const start = h("input", { type: "time", value: current.start_time.slice(0, 5), required: true });
  const end = h("input", { type: "time", value: current.end_time.slice(0, 5), required: true });
  const grace = h("input", { type: "number", min: 0, max: 240, value: current.grace_minutes });
  const days = [1, 2, 3, 4, 5, 6, 7].map((d) => h("label", { class: "check" },
    h("input", { type: "checkbox", value: d, checked: current.weekdays.includes(d) }), t(`weekday.${d}`)));
  const form = h("form", { class: "row wrap", "data-perm": "attendance:write" }, labelled(t("att.start"), start), labelled(t("att.end"), end),
    labelled(t("att.grace"), grace), h("fieldset", {}, h("legend", {}, t("att.weekdays")), days),
    h("button", { type: "submit" }, t("att.save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: current.name, start_time: start.value, end_time: end.value, grace_minutes: Number(grace.value),
      weekdays: days.map((l) => l.firstChild).filter((c) => c.checked).map((c) => Number(c.value)), is_default: true };
    try {
      if (current.id) await put(`/attendance/schedules/${current.id}`, body);
      else await post("/attendance/schedules", body);
      toast(t("person.saved"));
    } catch (err) {
      toast(err.explain(), "error");
    }
  });
  return h("section", { class: "panel" }, h("h2", {}, t("att.schedule")), form, await holidayEditor());
}

async function holidayEditor() {
  const list = h("ul", { class: "plain" });
  async function load() {
    const days = await get("/attendance/holidays");
    list.replaceChildren(...days.map((d) => h("li", {}, `${d.day} · ${d.name} · ${t(`att.kind.${d.kind}`)} `,
      h("button", { type: "button", class: "danger small", "data-perm": "attendance:write", onclick: async () => { await del(`/attendance/holidays/${d.day}`); load(); } }, t("att.remove")))));
  }
  const day = h("input", { type: "date", required: true });
  const name = h("input", { type: "text", maxlength: 100 });
  const kind = h("select", {}, h("option", { value: "off" }, t("att.kind.off")), h("option", { value: "workday" }, t("att.kind.workday")));
  const form = h("form", { class: "row wrap", "data-perm": "attendance:write" }, labelled(t("att.holidayDay"), day), labelled(t("att.holidayName"), name),
    labelled(t("att.holidayKind"), kind), h("button", { type: "submit", class: "secondary" }, t("att.addHoliday")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await put(`/attendance/holidays/${day.value}`, { name: name.value, kind: kind.value });
    form.reset();
    load();
  });
  load();
  return h("div", {}, h("h3", {}, t("att.holidays")), list, form);
}
