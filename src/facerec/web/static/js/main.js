// The app shell: client-side routing, the language switch, page rendering.
import { currentLang, setLang, translateStatic } from "./i18n.js";
import { recognizePage } from "./pages/recognize.js";
import { peoplePage } from "./pages/people.js";
import { personPage } from "./pages/person.js";
import { attendancePage } from "./pages/attendance.js";
import { kioskPage } from "./pages/kiosk.js";
import { statusPage } from "./pages/status.js";

const ROUTES = [
  [/^\/(recognize)?$/, recognizePage, "nav-recognize"],
  [/^\/people$/, peoplePage, "nav-people"],
  [/^\/people\/(\d+)$/, personPage, "nav-people"],
  [/^\/attendance$/, attendancePage, "nav-attendance"],
  [/^\/kiosk$/, kioskPage, "nav-kiosk"],
  [/^\/status$/, statusPage, "nav-status"],
];

let cleanup = null;

export function navigate(path) {
  history.pushState({}, "", path);
  render();
}

async function render() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const main = document.getElementById("main");
  main.replaceChildren();
  const path = location.pathname;
  const [pattern, page, navId] = ROUTES.find(([re]) => re.test(path)) || ROUTES[0];
  const match = path.match(pattern) || [];
  for (const link of document.querySelectorAll(".nav a")) {
    link.toggleAttribute("aria-current", link.dataset.testid === navId);
    if (link.dataset.testid === navId) link.setAttribute("aria-current", "page");
  }
  document.body.classList.toggle("kiosk-mode", navId === "nav-kiosk");
  translateStatic();
  cleanup = (await page(main, { params: match.slice(1), navigate })) || null;
}

function start() {
  const lang = currentLang();
  setLang(lang);
  const select = document.getElementById("lang-switch");
  select.value = lang;
  select.addEventListener("change", () => {
    setLang(select.value);
    render();
  });
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-link]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  });
  window.addEventListener("popstate", render);
  render();
}

start();
