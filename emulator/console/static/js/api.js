// The console's only way to the emulator: the ICE RPC API at "/" and the admin API under /_emulator/,
// exactly as the SDK and the mcemu CLI call them. Unsigned until the API answers that a signature is
// required; then the user gives an AccessKey pair (a dialog) and every call is signed (V3).

import { canonicalQuery, percent, signV3 } from "./sign.js";

export const API_VERSION = "2020-11-09";

/** ICE error codes that mean "sign (again) with a valid AccessKey pair". */
const AUTH_CODES = new Set([
  "IncompleteSignature",
  "InvalidAccessKeyId.NotFound",
  "SignatureDoesNotMatch",
]);

/** An API refusal: HTTP status, ICE Code (or ""), the API's own message, and the parameter it names. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
  get text() {
    return this.code ? `${this.code}: ${this.message}` : this.message;
  }
}

/** The API parameter a message names: "FlowId: no flow ..." or "FlowName is required ...". */
export function fieldOf(message) {
  const m = /^([A-Z][A-Za-z]*)(?::| is required)/.exec(message || "");
  return m ? m[1] : "";
}

const STORE = "mcemu.accessKey";

function loadKey() {
  try {
    const raw = sessionStorage.getItem(STORE);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

let credentials = loadKey();
let asking = null;

export function hasCredentials() {
  return credentials !== null;
}

/** Ask for an AccessKey pair (one dialog at a time); resolves true when one was given. */
export function askCredentials(why) {
  if (asking) return asking;
  const dialog = document.getElementById("keys-dialog");
  const error = document.getElementById("keys-error");
  const id = document.getElementById("keys-id");
  const secret = document.getElementById("keys-secret");
  error.textContent = why || "";
  if (credentials) id.value = credentials.id;
  asking = new Promise((resolve) => {
    const done = (ok) => {
      dialog.removeEventListener("close", onClose);
      document.getElementById("keys-cancel").removeEventListener("click", onCancel);
      asking = null;
      resolve(ok);
    };
    const onClose = () => {
      if (dialog.returnValue === "ok" && id.value && secret.value) {
        credentials = { id: id.value.trim(), secret: secret.value };
        sessionStorage.setItem(STORE, JSON.stringify(credentials));
        secret.value = "";
        done(true);
      } else {
        done(false);
      }
    };
    const onCancel = () => {
      dialog.returnValue = "cancel";
      dialog.close();
    };
    dialog.addEventListener("close", onClose);
    document.getElementById("keys-cancel").addEventListener("click", onCancel);
    dialog.returnValue = "";
    dialog.showModal();
    (id.value ? secret : id).focus();
  });
  return asking;
}

export function forgetCredentials() {
  credentials = null;
  sessionStorage.removeItem(STORE);
}

/** Headers for one request: signed when credentials are known. */
async function headersFor(method, path, query, headers, body) {
  if (!credentials) return { ...headers };
  return signV3({
    method,
    path,
    query,
    headers,
    body,
    accessKeyId: credentials.id,
    secret: credentials.secret,
  });
}

async function errorOf(resp) {
  const raw = await resp.text();
  let doc = null;
  try {
    doc = JSON.parse(raw);
  } catch {
    doc = null;
  }
  if (doc && typeof doc === "object" && "Code" in doc) {
    const message = String(doc.Message || "").split(" server string to sign")[0];
    return new ApiError(resp.status, String(doc.Code), message, fieldOf(message));
  }
  if (doc && typeof doc === "object" && "error" in doc) {
    return new ApiError(resp.status, "", String(doc.error), fieldOf(String(doc.error)));
  }
  return new ApiError(resp.status, "", `HTTP ${resp.status} ${resp.statusText}: ${raw.slice(0, 300)}`, "");
}

/**
 * One HTTP call. Retries once after asking for an AccessKey pair when the API refuses it for its
 * signature. Returns the Response (ok) or throws ApiError. `opts.raw` keeps the body unread.
 */
export async function call(method, path, { query = {}, body = null, headers = {}, signal } = {}) {
  for (let attempt = 0; ; attempt++) {
    const text = body === null ? "" : JSON.stringify(body);
    const base = { ...headers };
    if (body !== null) base["content-type"] = "application/json";
    const sent = await headersFor(method, path, query, base, text);
    const qs = canonicalQuery(query);
    let resp;
    try {
      resp = await fetch(path + (qs ? "?" + qs : ""), {
        method,
        headers: sent,
        body: body === null ? undefined : text,
        signal,
        cache: "no-store",
      });
    } catch (exc) {
      if (exc && exc.name === "AbortError") throw exc;
      throw new ApiError(0, "", `cannot reach the emulator: ${exc}`, "");
    }
    if (resp.ok) return resp;
    const err = await errorOf(resp);
    if (AUTH_CODES.has(err.code) && attempt < 3) {
      if (credentials && err.code !== "IncompleteSignature") forgetCredentials();
      if (await askCredentials(err.text)) continue;
    }
    throw err;
  }
}

/** An admin API call answering JSON. */
export async function admin(method, path, opts = {}) {
  const resp = await call(method, path, opts);
  return resp.json();
}

/** One ICE RPC operation; returns its Content. Empty parameters are left out. */
export async function rpc(action, params = {}) {
  const query = { Action: action, Version: API_VERSION };
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && String(v).trim() !== "") query[k] = String(v).trim();
  }
  const resp = await call("POST", "/", {
    query,
    headers: { "x-acs-action": action, "x-acs-version": API_VERSION },
  });
  const doc = await resp.json();
  return doc.Content;
}

/** The admin path /_emulator/<segments>, each percent-encoded. */
export function adminPath(...segments) {
  return "/_emulator/" + segments.map((s) => percent(s)).join("/");
}
