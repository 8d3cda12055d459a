// DOM helpers shared by the pages.
import { t, currentLang } from "./i18n.js";

// h("div", {class: "x", onclick: fn, "data-testid": "y"}, child, "text", ...)
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.dataset.kind = kind;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 4000);
}

export function alertBox(message) {
  return h("p", { class: "alert", role: "alert", "data-testid": "error-message" }, message);
}

// Times in the server's attendance time zone, in the current language.
export function formatTime(iso, zone, withDate = false) {
  if (!iso) return "";
  const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZone: zone };
  if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat(currentLang() === "zh" ? "zh-CN" : "en-GB", options).format(new Date(iso));
}

export function percent(value) {
  return `${(value * 100).toFixed(1)}%`;
}

/** Call ``chosen(file, name)`` with the image picked in ``input`` or dropped on ``drop``. */
export function onImageChosen(input, drop, chosen) {
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) chosen(input.files[0], input.files[0].name);
  });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) chosen(file, file.name);
  });
}

export function labelled(text, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, text), control);
}

export function statusLabel(status) {
  return t(`status.${status}`);
}
