// <chat-message>: one turn of the conversation. A user turn is its text in a bubble; an
// assistant turn has, top to bottom, the provider and model, the reasoning (<chat-reasoning>),
// the answer as sanitized markdown, tool calls (<chat-tool-call>, which models send after
// their text), an inline error (<chat-error>) and a footer with the reply's stats, a "Stopped"
// mark and its actions.
//
// The turn object is owned by the chat view; `refresh()` brings the DOM in line with it and
// touches only what changed, so a streaming reply repaints its tail and nothing else. The
// footer row exists from the start ("Generating…"), so the stats arriving do not move anything.
import { adviceFor } from "../lib/advice.js";
import { h } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { MarkdownStream, copyFeedback } from "../lib/markdown.js";
import "./chat-reasoning.js";
import "./chat-tool-call.js";
import "./chat-error.js";
import "./chat-reply-stats.js";

const FLAGS = {
  stopped: "Stopped",
  length: "Cut off at the token limit",
};

export class ChatMessage extends HTMLElement {
  constructor() {
    super();
    this._turn = null;
    this._last = false;
    this._shown = { content: null, tools: 0, error: null, status: null, last: null };
  }

  /** The turn to show (see js/lib/chat-store.js). */
  set turn(turn) {
    this._turn = turn;
    if (!this._main) this._build();
    this.refresh();
  }

  get turn() {
    return this._turn;
  }

  /** Whether this is the conversation's last reply (it then offers Retry). */
  set last(value) {
    if (this._last === Boolean(value)) return;
    this._last = Boolean(value);
    if (this._turn) this.refresh();
  }

  _build() {
    const turn = this._turn;
    this.classList.add("msg", `msg-${turn.role}`);
    this.dataset.turnId = turn.id;
    if (turn.role === "user") {
      this._bubble = h("div", { class: "msg-bubble" });
      this._actions = h("div", { class: "msg-actions" }, copyButton(() => this._turn.content, "Copy message"));
      this._main = h("div", { class: "msg-main" }, this._bubble, this._actions);
      this.append(this._main);
      return;
    }
    this._author = h("span", { class: "msg-author" });
    this._model = h("span", { class: "msg-model" });
    this._tools = h("div", { class: "msg-tools" });
    this._content = h("div", { class: "msg-content markdown" });
    this._markdown = new MarkdownStream(this._content);
    this._waiting = h("div", { class: "msg-waiting", "aria-hidden": "true" }, h("span"), h("span"), h("span"));
    this._empty = h("p", { class: "msg-empty muted", hidden: true }, "The model sent an empty reply.");
    this._notice = h("p", { class: "msg-notice muted", role: "status", hidden: true });
    this._tick = 0;
    this._error = h("chat-error", { hidden: true });
    this._flag = h("span", { class: "msg-flag", hidden: true });
    this._progress = h("span", { class: "msg-progress" }, "Generating…");
    this._stats = h("chat-reply-stats");
    this._copy = copyButton(() => this._turn.content, "Copy reply");
    this._retry = h("button", { type: "button", class: "btn btn-ghost btn-sm msg-retry", title: "Send the last message again" }, icon("retry", { size: 14 }), "Retry");
    this._retry.addEventListener("click", () => this.dispatchEvent(new CustomEvent("chat-action", { bubbles: true, detail: { action: "retry" } })));
    this._actions = h("div", { class: "msg-actions" }, this._copy, this._retry);
    this._main = h(
      "div",
      { class: "msg-main" },
      h("div", { class: "msg-head" }, this._author, this._model),
      this._content,
      this._tools,
      this._waiting,
      this._notice,
      this._empty,
      this._error,
      h("div", { class: "msg-foot" }, this._flag, this._progress, this._stats, this._actions),
    );
    this.append(h("div", { class: "msg-avatar", "aria-hidden": "true" }, h("img", { src: "img/logo.svg", alt: "", width: 28, height: 28 })), this._main);
  }

  disconnectedCallback() {
    clearInterval(this._tick);
    this._tick = 0;
  }

  /** Bring the DOM in line with the turn. */
  refresh() {
    const turn = this._turn;
    if (turn.role === "user") {
      if (this._bubble.textContent !== turn.content) this._bubble.textContent = turn.content;
      return;
    }
    const streaming = turn.status === "streaming";
    this.dataset.status = turn.status;
    this.setAttribute("aria-busy", String(streaming));
    this._author.textContent = turn.providerName || "Assistant";
    this._model.textContent = turn.model || "";

    this._refreshReasoning(turn, streaming);
    while (this._shown.tools < turn.toolCalls.length) {
      this._tools.append(h("chat-tool-call", { call: turn.toolCalls[this._shown.tools] }));
      this._shown.tools += 1;
    }
    if (this._shown.content !== turn.content) {
      this._markdown.update(turn.content);
      this._shown.content = turn.content;
    }
    const nothingYet = !turn.content && !turn.reasoning && turn.toolCalls.length === 0;
    this._waiting.hidden = !(streaming && nothingYet);
    this._refreshNotice(streaming ? turn.retrying : null);
    this._empty.hidden = !(turn.status === "done" && nothingYet);
    this._content.hidden = !turn.content;

    if (turn.error && (this._shown.error !== turn.error || this._shown.last !== this._last)) {
      this._error.show({ error: turn.error, providerId: turn.providerId, canRetry: this._last });
      this._error.hidden = false;
    } else if (!turn.error) {
      this._error.hidden = true;
    }
    this._shown.error = turn.error;
    this._shown.last = this._last;

    const flag = turn.status === "stopped" ? FLAGS.stopped : turn.finishReason === "length" ? FLAGS.length : "";
    this._flag.hidden = !flag;
    this._flag.textContent = flag;
    this._progress.hidden = !streaming;
    if (this._shown.status !== turn.status || !streaming) this._stats.turn = turn;
    this._shown.status = turn.status;
    this._copy.hidden = streaming || !turn.content;
    this._retry.hidden = streaming || !this._last || Boolean(turn.error); // an error offers its own
  }

  // "Rate limited — trying again in 12 s (retry 1 of 2)" while the server waits to retry,
  // counting down once a second; gone as soon as anything else arrives.
  _refreshNotice(retrying) {
    if (!retrying) {
      this._notice.hidden = true;
      clearInterval(this._tick);
      this._tick = 0;
      return;
    }
    const left = Math.max(0, Math.ceil((retrying.at - Date.now()) / 1000));
    const when = left > 0 ? `trying again in ${left} s` : "trying again now";
    const text = `${adviceFor({ code: retrying.code }).title} — ${when} (retry ${retrying.attempt} of ${retrying.attempts})`;
    if (this._notice.textContent !== text) this._notice.textContent = text;
    this._notice.hidden = false;
    this._tick ||= setInterval(() => this._refreshNotice(this._turn.status === "streaming" ? this._turn.retrying : null), 1000);
  }

  _refreshReasoning(turn, streaming) {
    if (!turn.reasoning) return;
    if (!this._reasoning) {
      this._reasoning = h("chat-reasoning");
      this._content.before(this._reasoning);
    }
    const answering = Boolean(turn.content) || turn.toolCalls.length > 0;
    this._reasoning.update({ text: turn.reasoning, thinking: streaming && !answering, ms: turn.reasoningMs });
  }
}

function copyButton(text, label) {
  const button = h("button", { type: "button", class: "btn btn-ghost btn-sm msg-copy", title: label, "aria-label": label }, icon("copy", { size: 14 }), h("span", { class: "copy-label" }, "Copy"));
  button.addEventListener("click", () => copyFeedback(button, text()));
  return button;
}

customElements.define("chat-message", ChatMessage);
