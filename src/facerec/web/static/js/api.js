// A small client for /api/v1: JSON in and out, errors as ApiError with the stable code.
import { t } from "./i18n.js";

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }

  // A sentence for people, in the current language, with the server's detail.
  explain() {
    const known = t(`error.${this.code}`);
    return known === `error.${this.code}` ? this.message : known;
  }
}

// Where a 401 must not send the browser to the login page: the login and set-up calls
// themselves, pairing, and the kiosk (a device token; it shows its own message).
const NO_LOGIN_REDIRECT = ["/auth/login", "/auth/setup", "/auth/me", "/auth/password", "/devices/pair"];
const NO_LOGIN_PAGES = ["/login", "/setup", "/kiosk"];

export function loginUrl(next = location.pathname + location.search) {
  return `/login?next=${encodeURIComponent(next)}`;
}

function toLogin(path, headers) {
  if (NO_LOGIN_REDIRECT.includes(path) || headers.Authorization) return;
  if (NO_LOGIN_PAGES.includes(location.pathname)) return;
  location.assign(loginUrl());
}

export async function request(method, path, { json, form, query, headers } = {}) {
  const url = new URL(API + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const init = { method, headers: { ...(headers || {}) }, credentials: "same-origin" };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, "network", String(err), null);
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && body.error ? body.error : { code: "internal_error", message: response.statusText };
    if (response.status === 401) toLogin(path, init.headers);
    throw new ApiError(response.status, error.code, error.message, error);
  }
  return body;
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, json) => request("POST", path, { json });
export const postForm = (path, form, query) => request("POST", path, { form, query });
export const patch = (path, json) => request("PATCH", path, { json });
export const put = (path, json) => request("PUT", path, { json });
export const del = (path, query) => request("DELETE", path, { query });

let statusCache = null;
export async function serverStatus(refresh = false) {
  if (!statusCache || refresh) statusCache = await get("/status");
  return statusCache;
}
