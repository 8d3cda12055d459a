// The app shell: client-side routing, the language switch, page rendering.
import { currentLang, setLang, translateStatic } from "./i18n.js";
import { recognizePage } from "./pages/recognize.js";
import { classifyPage } from "./pages/classify.js";
import { peoplePage } from "./pages/people.js";
import { personPage } from "./pages/person.js";
import { attendancePage } from "./pages/attendance.js";
import { kioskPage } from "./pages/kiosk.js";
import { statusPage } from "./pages/status.js";
import { loginPage } from "./pages/login.js";
import { setupPage } from "./pages/setup.js";
import { accountPage } from "./pages/account.js";
import { usersPage } from "./pages/users.js";
import { keysPage } from "./pages/keys.js";
import { devicesPage } from "./pages/devices.js";
import { auditPage } from "./pages/audit.js";
import { webhooksPage } from "./pages/webhooks.js";
import { loadMe, logout, me } from "./auth.js";
import { loginUrl } from "./api.js";
import { t } from "./i18n.js";

const ROUTES = [
  [/^\/(recognize)?$/, recognizePage, "nav-recognize"],
  [/^\/classify$/, classifyPage, "nav-classify"],
  [/^\/people$/, peoplePage, "nav-people"],
  [/^\/people\/(\d+)$/, personPage, "nav-people"],
  [/^\/attendance$/, attendancePage, "nav-attendance"],
  [/^\/kiosk$/, kioskPage, "nav-kiosk"],
  [/^\/status$/, statusPage, "nav-status"],
  [/^\/login$/, loginPage, null],
  [/^\/setup$/, setupPage, null],
  [/^\/account$/, accountPage, null],
  [/^\/users$/, usersPage, "nav-users"],
  [/^\/keys$/, keysPage, "nav-keys"],
  [/^\/devices$/, devicesPage, "nav-devices"],
  [/^\/audit$/, auditPage, "nav-audit"],
  [/^\/webhooks$/, webhooksPage, "nav-webhooks"],
];
// Pages that work without a logged-in user (the kiosk may hold a device token instead).
const OPEN_PAGES = ["/login", "/setup", "/kiosk"];

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
  showUser();
  cleanup = (await page(main, { params: match.slice(1), navigate })) || null;
}

function showUser() {
  const who = me();
  const menu = document.querySelector(".user-menu");
  menu.hidden = !who || who.kind !== "user";
  if (menu.hidden) return;
  menu.querySelector(".user-name").textContent = who.name;
  menu.querySelector(".role").textContent = t(`role.${who.role}`);
}

async function start() {
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
  document.getElementById("logout").addEventListener("click", async () => {
    await logout().catch(() => {});
    navigate("/login");
  });
  const who = await loadMe().catch(() => null);
  if (!who && !OPEN_PAGES.includes(location.pathname)) {
    location.replace(loginUrl());
    return;
  }
  render();
}

start();
