// Server-sent events read from a byte stream (the body of a streamed response).
//
// The browser's own SSE client cannot send the app token header, so the chat reads the
// response body itself. `SseParser` follows the WHATWG event-stream rules: lines end with CR,
// LF or CRLF (a CRLF may be split between two chunks), `data` lines of one event are joined
// with "\n", lines starting with ":" are comments (the server's `: ping`), a field without a
// colon has an empty value, one space after the colon is dropped, and an event is dispatched
// at a blank line. An event left unfinished when the stream ends is dropped, as the spec says.

/** Incremental parser: `push(text)` returns the events completed by that text. */
export class SseParser {
  constructor() {
    this._partial = ""; // the start of a line whose end has not arrived yet
    this._skipLF = false; // the last chunk ended with CR: an LF starting the next one belongs to it
    this._type = "";
    this._data = [];
    this._id = "";
  }

  /** Feed decoded text; returns `[{event, data, id}]` for every event it completed, and
   * `{comment}` for every comment line, in stream order. */
  push(text) {
    let chunk = text;
    if (this._skipLF && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this._skipLF = false;
    if (!chunk) return [];
    const events = [];
    const buffer = this._partial + chunk;
    let start = 0;
    const breaks = /\r\n|\r|\n/g;
    let match;
    while ((match = breaks.exec(buffer)) !== null) {
      // A CR at the very end may be the first half of a CRLF: take the line now, skip the LF later.
      if (match[0] === "\r" && match.index === buffer.length - 1) this._skipLF = true;
      const event = this._line(buffer.slice(start, match.index));
      if (event) events.push(event);
      start = breaks.lastIndex;
    }
    this._partial = buffer.slice(start);
    return events;
  }

  _line(line) {
    if (line === "") return this._dispatch();
    // A comment, e.g. the heartbeat `: ping`: not an event, but handed out as `{comment}` so a
    // caller can read what it says (the chat's `: retrying {…}`); others ignore it.
    if (line.startsWith(":")) return { comment: line.slice(1).trimStart() };
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this._type = value;
    else if (field === "data") this._data.push(value);
    else if (field === "id" && !value.includes("\0")) this._id = value;
    // `retry` and unknown fields mean nothing to a one-shot request.
    return null;
  }

  _dispatch() {
    const hadData = this._data.length > 0;
    const event = { event: this._type || "message", data: this._data.join("\n"), id: this._id };
    this._type = "";
    this._data = [];
    return hadData ? event : null;
  }
}

/**
 * Read a byte stream as server-sent events, yielding arrays of events as the chunks arrive
 * (everything one chunk completed, so a caller can handle a burst before repainting).
 * Rejects with the reader's error, e.g. an AbortError when the request is stopped.
 */
export async function* readEventBatches(stream) {
  const reader = stream.getReader();
  const decoder = new TextDecoder("utf-8"); // `stream: true` keeps a character split across chunks whole
  const parser = new SseParser();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const events = parser.push(decoder.decode(value, { stream: true }));
      if (events.length) yield events;
    }
    finished = true;
    const rest = parser.push(decoder.decode());
    if (rest.length) yield rest;
  } finally {
    // Leaving early (the consumer stopped reading) must close the connection, not just unlock it.
    if (!finished) reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
