// One streamed chat request (POST /api/chat/stream; docs/API.md, Event stream) as a sequence of
// events.
//
// Whatever goes wrong, the caller sees the contract's shape: an `error` event followed by
// `done` with finishReason "error". A refused body (HTTP error envelope before the stream), an
// app that cannot be reached, and a stream that ends without its `done` all arrive that way.
// A refusal's error also carries `responseStatus`, the app's HTTP status (409: the conversation
// is answering in another tab), apart from `httpStatus`, the provider's. A conversation whose
// request failed after the server stored the turn names what it stored in the envelope
// (`conversationId`, `userMessageId`, `messageId`): those come first, as a `start` event, so the
// caller shows the stored turn (and retries it) as it would after a stream's own `start`.
// Stopping (aborting the signal) is not an error: `streamChat` then resolves to "aborted".
//
// Neither is the page going away. A reload or a closed tab cuts the fetch, and the browser reports
// that as a network error a moment before the page is gone; shown, it would be a false "Can't
// connect" card (and it would flash in the page a reload restores). So while the page unloads,
// every live stream is aborted on purpose (the server then stores the partial reply as
// "cancelled") and no failure is reported.
import { bridgeEvents, streamRequest } from "../bridge.js";
import { t } from "./i18n.js";
import { readEventBatches } from "./sse-reader.js";

const KINDS = new Set([
  "start",
  "attempt",
  "delta",
  "reasoning",
  "tool_call",
  "tool_approval",
  "tool_result",
  "usage",
  "error",
  "done",
]);
const live = new Set(); // the AbortControllers of the streams running now
let leaving = false;

function pageLeaving() {
  leaving = true;
  for (const controller of live) controller.abort();
}
window.addEventListener("beforeunload", pageLeaving);
window.addEventListener("pagehide", pageLeaving);
// A page kept in the back/forward cache comes back alive.
window.addEventListener("pageshow", () => {
  leaving = false;
});

/**
 * Stream `body`; `onEvents([{type, data}])` receives the events in order, in the batches they
 * arrived in, plus `{type: "retrying", data}` when the server announces a retry before the reply
 * starts. Resolves to "done" or "aborted"; never rejects.
 */
export async function streamChat(body, { signal, onEvents }) {
  const controller = new AbortController();
  const stop = () => controller.abort();
  if (signal) {
    if (signal.aborted) return "aborted";
    signal.addEventListener("abort", stop, { once: true });
  }
  live.add(controller);
  try {
    return await run(body, controller.signal, onEvents);
  } finally {
    live.delete(controller);
    if (signal) signal.removeEventListener("abort", stop);
  }
}

async function run(body, signal, onEvents) {
  let response;
  try {
    response = await streamRequest("/api/chat/stream", body, { signal });
  } catch (err) {
    if (aborted(err, signal)) return "aborted";
    onEvents(
      failure(
        err && err.envelope ? err.envelope.error : { code: "CONNECTION_FAILED", message: t("chat.client.cutShort") },
      ),
    );
    return "done";
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok || !type.includes("text/event-stream")) {
    onEvents(refused(await refusal(response)));
    return "done";
  }
  let finished = false;
  try {
    for await (const batch of readEventBatches(response.body)) {
      const events = [];
      for (const raw of batch) {
        if (raw.comment !== undefined) {
          const notice = retryNotice(raw.comment);
          if (notice) events.push({ type: "retrying", data: notice });
          continue;
        }
        if (!KINDS.has(raw.event)) continue;
        let data;
        try {
          data = JSON.parse(raw.data);
        } catch {
          continue; // a malformed frame is skipped; the rest of the reply still shows
        }
        events.push({ type: raw.event, data: data && typeof data === "object" ? data : {} });
        if (raw.event === "done") finished = true;
      }
      if (events.length) onEvents(events);
      if (finished) break;
    }
  } catch (err) {
    if (aborted(err, signal)) return "aborted";
  }
  if (!finished) {
    if (leaving || (signal && signal.aborted)) return "aborted";
    onEvents(failure({ code: "CONNECTION_FAILED", message: t("chat.client.cutShort") }));
  }
  return "done";
}

// `: retrying {"code","message","retryIn","attempt","attempts"}`: the server is waiting to retry
// a request that failed before the reply started (not a contract event; a comment).
function retryNotice(comment) {
  if (!comment.startsWith("retrying ")) return null;
  try {
    const data = JSON.parse(comment.slice("retrying ".length));
    return data && typeof data === "object" ? data : null;
  } catch {
    return null;
  }
}

function aborted(err, signal) {
  return leaving || Boolean((err && err.name === "AbortError") || (signal && signal.aborted));
}

function failure(error) {
  return [
    { type: "error", data: error },
    { type: "done", data: { finishReason: "error", ttftMs: null, elapsedMs: null } },
  ];
}

const STORED = ["conversationId", "userMessageId", "messageId"];

// A refusal as events: `start` with what the server stored, when it names anything, then the error.
function refused(error) {
  const rest = { ...error };
  const stored = {};
  for (const key of STORED) {
    if (rest[key]) stored[key] = String(rest[key]);
    delete rest[key];
  }
  const start = Object.keys(stored).length ? [{ type: "start", data: stored }] : [];
  return [...start, ...failure(rest)];
}

// The request was refused before streaming: the answer is the contract's error envelope.
async function refusal(response) {
  let error = null;
  try {
    const body = await response.json();
    if (body && body.success === false && body.error && body.error.code) error = { ...body.error };
  } catch {
    /* not an envelope */
  }
  error ??= {
    code: "INTERNAL",
    message: t("chat.client.unexpected", { status: String(response.status) }),
  };
  error.responseStatus = response.status;
  if (error.code === "UNAUTHORIZED") bridgeEvents.dispatchEvent(new CustomEvent("unauthorized", { detail: error }));
  return error;
}
