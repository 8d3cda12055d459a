// Who is using the UI (GET /auth/me), and which pages and buttons they may use.
// Elements marked data-perm="people:write" (etc.) are hidden by app.css unless <body>
// lists that permission in data-can; the API refuses what they would do anyway.
import { ApiError, get, post } from "./api.js";

export const ALL_PERMISSIONS = [
  "recognize", "people:read", "people:write", "attendance:read", "attendance:write",
  "checkin", "status", "settings", "admin", "metrics",
];
// Access control switched off (or a server from before it): the local user may do anything.
const LOCAL = { kind: "local", id: null, name: "local", role: null, permissions: ALL_PERMISSIONS };

let current = null;

export function me() {
  return current;
}

export function can(permission) {
  return Boolean(current && current.permissions.includes(permission));
}

// null when nobody is logged in (401).
export async function loadMe() {
  try {
    current = await get("/auth/me");
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) current = null;
    else if (err.status === 404) current = LOCAL;
    else throw err;
  }
  applyPermissions();
  return current;
}

export function setMe(principal) {
  current = principal;
  applyPermissions();
}

export async function logout() {
  try {
    await post("/auth/logout");
  } finally {
    setMe(null);
  }
}

function applyPermissions() {
  document.body.dataset.can = current ? current.permissions.join(" ") : "";
  document.body.dataset.principal = current ? current.kind : "anonymous";
}
