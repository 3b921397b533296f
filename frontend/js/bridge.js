// The one module that talks to the backend, whichever way it is reached:
//
// - In the desktop window, pywebview injects `window.pywebview.api` and fires `pywebviewready`;
//   calls go straight to the Python bridge (which can open native file dialogs).
// - In a browser, `miaoda serve` prints http://127.0.0.1:<port>/#token=<token>. The token is taken
//   from the fragment, kept in sessionStorage for reloads, and removed from the address bar;
//   calls are POST /api/rpc/<method> with the token in the X-MiaoDa-Token header.
//
// Every call resolves to the contract's envelope ({success: true, ...} or {success: false, error});
// it never rejects. Failures to reach the app at all become a CONNECTION_FAILED envelope, its
// message in the language in use (the catalogues may not be loaded yet when the very first call
// fails: then the message is the key, which nothing shows).
import { t } from "./lib/i18n.js";

const TOKEN_KEY = "miaoda.token";
const TOKEN_HEADER = "X-MiaoDa-Token";
// How long a page without a token waits for pywebview before trying HTTP anyway.
const PYWEBVIEW_WAIT_MS = 4000;
const notAnswering = () => t("shell.bridge.notAnswering");

/** Fires "unauthorized" when the server refuses the token (the page needs a fresh link). */
export const bridgeEvents = new EventTarget();

let token = takeTokenFromURL();
let transportPromise = null;

function takeTokenFromURL() {
  const hash = window.location.hash;
  const match = /(?:^#|&)token=([^&]*)/.exec(hash);
  if (match) {
    let found = match[1];
    try {
      found = decodeURIComponent(found);
    } catch {
      /* keep it as given */
    }
    const rest = (hash.slice(0, match.index) + hash.slice(match.index + match[0].length)).replace(/^#&/, "#");
    const keep = rest === "#" ? "" : rest;
    window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search + keep);
    try {
      sessionStorage.setItem(TOKEN_KEY, found);
    } catch {
      /* storage may be off; the token still works for this page */
    }
    if (found) return found;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function pywebviewReady() {
  const api = window.pywebview && window.pywebview.api;
  return Boolean(api && typeof api.getAppInfo === "function");
}

function waitForPywebview(timeoutMs) {
  if (pywebviewReady()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok) => {
      clearTimeout(timer);
      window.removeEventListener("pywebviewready", onReady);
      resolve(ok);
    };
    const onReady = () => done(pywebviewReady());
    const timer = setTimeout(() => done(pywebviewReady()), timeoutMs);
    window.addEventListener("pywebviewready", onReady);
  });
}

async function pickTransport() {
  if (pywebviewReady()) return "pywebview";
  // A page with a token and no pywebview object is a browser tab: no need to wait.
  if (token && !window.pywebview) return "http";
  return (await waitForPywebview(PYWEBVIEW_WAIT_MS)) ? "pywebview" : "http";
}

/** "pywebview" (desktop window) or "http" (browser); resolves once decided. */
export function transport() {
  transportPromise ??= pickTransport();
  return transportPromise;
}

function failure(code, message) {
  return { success: false, error: { code, message } };
}

function asEnvelope(result) {
  if (result && typeof result === "object" && typeof result.success === "boolean") return result;
  return failure("INTERNAL", t("shell.bridge.unreadable"));
}

async function viaHttp(method, args) {
  const response = await fetch(`/api/rpc/${encodeURIComponent(method)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", [TOKEN_HEADER]: token || "" },
    body: JSON.stringify(args),
    cache: "no-store",
    credentials: "same-origin",
  });
  let body;
  try {
    body = await response.json();
  } catch {
    return failure("INTERNAL", t("shell.bridge.unexpected", { status: String(response.status) }));
  }
  return asEnvelope(body);
}

/**
 * Call a bridge method by name with positional arguments; resolves to the envelope.
 * Trailing undefined arguments are dropped so the backend sees its defaults.
 */
export async function call(method, ...args) {
  while (args.length && args[args.length - 1] === undefined) args.pop();
  let result;
  try {
    const kind = await transport();
    result =
      kind === "pywebview" ? asEnvelope(await window.pywebview.api[method](...args)) : await viaHttp(method, args);
  } catch {
    return failure("CONNECTION_FAILED", notAnswering());
  }
  if (!result.success && result.error && result.error.code === "UNAUTHORIZED") {
    bridgeEvents.dispatchEvent(new CustomEvent("unauthorized", { detail: result.error }));
  }
  return result;
}

/** The app token for direct HTTP requests; in the window it is asked of the bridge once. */
export async function httpToken() {
  if (token) return token;
  if ((await transport()) === "pywebview") {
    const info = await call("getAppInfo");
    if (info.success && info.token) token = info.token;
  }
  return token;
}

/**
 * POST JSON to an app route that answers with a stream (e.g. /api/chat/stream) and resolve to
 * the fetch Response, so the caller can read `response.body`. Pass an AbortSignal to stop it.
 * Rejects only when the app cannot be reached (the error carries `.envelope`) or when aborted.
 */
export async function streamRequest(path, body, { signal } = {}) {
  const key = await httpToken();
  try {
    return await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream", [TOKEN_HEADER]: key || "" },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
      signal,
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    const wrapped = new Error(notAnswering());
    wrapped.envelope = failure("CONNECTION_FAILED", wrapped.message);
    throw wrapped;
  }
}

/** One of the app's own JSON files (a translation catalogue), from wherever the page came from. */
export async function readAppJson(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${new URL(url).pathname}: HTTP ${response.status}`);
  return response.json();
}
