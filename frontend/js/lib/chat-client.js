// One streamed chat request (POST /api/chat/stream; docs/API.md, Event stream) as a sequence of
// events.
//
// Whatever goes wrong, the caller sees the contract's shape: an `error` event followed by
// `done` with finishReason "error". A refused body (HTTP error envelope before the stream), an
// app that cannot be reached, and a stream that ends without its `done` all arrive that way.
// Stopping (aborting the signal) is not an error: `streamChat` then resolves to "aborted".
import { bridgeEvents, streamRequest } from "../bridge.js";
import { readEventBatches } from "./sse-reader.js";

const KINDS = new Set(["start", "delta", "reasoning", "tool_call", "usage", "error", "done"]);
const CUT_SHORT = "The connection to MiaoDa Chat closed before the reply was complete. Try again.";

/**
 * Stream `body`; `onEvents([{type, data}])` receives the events in order, in the batches they
 * arrived in, plus `{type: "retrying", data}` when the server announces a retry before the reply
 * starts. Resolves to "done" or "aborted"; never rejects.
 */
export async function streamChat(body, { signal, onEvents }) {
  let response;
  try {
    response = await streamRequest("/api/chat/stream", body, { signal });
  } catch (err) {
    if (aborted(err, signal)) return "aborted";
    onEvents(failure(err && err.envelope ? err.envelope.error : { code: "CONNECTION_FAILED", message: CUT_SHORT }));
    return "done";
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok || !type.includes("text/event-stream")) {
    onEvents(failure(await refusal(response)));
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
    if (signal && signal.aborted) return "aborted";
    onEvents(failure({ code: "CONNECTION_FAILED", message: CUT_SHORT }));
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
  return Boolean((err && err.name === "AbortError") || (signal && signal.aborted));
}

function failure(error) {
  return [
    { type: "error", data: error },
    { type: "done", data: { finishReason: "error", ttftMs: null, elapsedMs: null } },
  ];
}

// The request was refused before streaming: the answer is the contract's error envelope.
async function refusal(response) {
  let error = null;
  try {
    const body = await response.json();
    if (body && body.success === false && body.error && body.error.code) error = body.error;
  } catch {
    /* not an envelope */
  }
  error ??= { code: "INTERNAL", message: `MiaoDa Chat answered with something unexpected (HTTP ${response.status}). Reload the page and try again.` };
  if (error.code === "UNAUTHORIZED") bridgeEvents.dispatchEvent(new CustomEvent("unauthorized", { detail: error }));
  return error;
}
