// <chat-message>: one turn of the conversation. A user turn is its text in a bubble, with Edit
// (an inline editor whose Send makes a new branch) and Copy; an assistant turn has, top to
// bottom, the provider and model that answered, the reasoning (<chat-reasoning>), the rounds of
// a reply that called tools (each round's text, then its calls: <chat-tool-call>, with their
// approval cards and results), the answer as sanitized markdown, the note of a reply stopped at
// the tool-round limit, an inline error (<chat-error>), for a reply through a route the line
// saying who answered and what happened to the members tried before (js/lib/route-attempts.js),
// and a footer with the reply's stats, a "Stopped" / "Interrupted" mark and its actions (Copy,
// Regenerate, Delete for a failed turn). Either kind shows `‹ 2/3 ›` (<chat-sibling-nav>) when
// an edit or a regenerate gave it siblings.
//
// The turn object is owned by the chat view; `refresh()` brings the DOM in line with it and
// touches only what changed, so a streaming reply repaints its tail and nothing else. The
// footer row exists from the start ("Generating…"), so the stats arriving do not move anything.
//
// Events (bubbling): `chat-action` {action: "edit" (with `text`) | "regenerate" | "delete" |
// "retry" (from the error card) | "new-conversation"}; `sibling-switch` {id}. The view finds the
// turn from the event's target (`closest("chat-message").turn`).
import { adviceFor } from "../lib/advice.js";
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { MarkdownStream, copyFeedback, renderMarkdown } from "../lib/markdown.js";
import { replyText } from "../lib/chat-store.js";
import { routeLine } from "../lib/route-attempts.js";
import "./chat-reasoning.js";
import "./chat-tool-call.js";
import "./chat-error.js";
import "./chat-reply-stats.js";
import "./chat-sibling-nav.js";
import { isSendKeystroke } from "./chat-composer.js";

export class ChatMessage extends HTMLElement {
  constructor() {
    super();
    this._turn = null;
    this._last = false;
    this._locked = false;
    this._shown = { content: null, error: null, status: null, last: null, route: null };
    this._roundEls = []; // per round shown: {element, tools (container), calls: [<chat-tool-call>]}
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

  /** Whether this is the conversation's last reply (kept for styles; every reply can retry). */
  set last(value) {
    if (this._last === Boolean(value)) return;
    this._last = Boolean(value);
    if (this._turn) this.refresh();
  }

  /** True while a reply streams in this conversation: no edit, regenerate or switching then. */
  set locked(value) {
    if (this._locked === Boolean(value)) return;
    this._locked = Boolean(value);
    if (this._turn) this.refresh();
  }

  /** Whether the inline editor is open. */
  get editing() {
    return Boolean(this._editor);
  }

  _build() {
    const turn = this._turn;
    this.classList.add("msg", `msg-${turn.role}`);
    this._siblings = h("chat-sibling-nav");
    if (turn.role === "user") {
      this._bubble = h("div", { class: "msg-bubble" });
      this._edit = actionButton("edit", t("common.edit"), t("chat.message.editHelp"), () => this.startEdit());
      this._actions = h(
        "div",
        { class: "msg-actions" },
        this._edit,
        copyButton(() => this._turn.content, t("chat.message.copyMessage")),
      );
      this._main = h(
        "div",
        { class: "msg-main" },
        this._bubble,
        h("div", { class: "msg-user-foot" }, this._siblings, this._actions),
      );
      this.append(this._main);
      return;
    }
    this._author = h("span", { class: "msg-author" });
    this._model = h("span", { class: "msg-model" });
    this._rounds = h("div", { class: "msg-rounds" });
    this._limit = h(
      "p",
      { class: "msg-limit", role: "note", hidden: true },
      icon("alert", { size: 15 }),
      t("mcp.call.limit"),
    );
    this._content = h("div", { class: "msg-content markdown" });
    this._markdown = new MarkdownStream(this._content);
    this._waiting = h("div", { class: "msg-waiting", "aria-hidden": "true" }, h("span"), h("span"), h("span"));
    this._empty = h("p", { class: "msg-empty muted", hidden: true }, t("chat.message.empty"));
    this._notice = h("p", { class: "msg-notice muted", role: "status", hidden: true });
    this._tick = 0;
    this._error = h("chat-error", { hidden: true });
    this._route = h("p", { class: "msg-route", hidden: true });
    this._flag = h("span", { class: "msg-flag", hidden: true });
    this._progress = h("span", { class: "msg-progress" }, t("chat.message.generating"));
    this._stats = h("chat-reply-stats");
    this._copy = copyButton(() => replyText(this._turn), t("chat.message.copyReply"));
    this._retry = actionButton("retry", t("chat.message.regenerate"), t("chat.message.regenerateHelp"), () =>
      this._emit("regenerate"),
    );
    this._retry.classList.add("msg-retry");
    this._delete = actionButton("trash", t("common.delete"), t("chat.message.deleteHelp"), () => this._emit("delete"));
    this._delete.classList.add("msg-delete");
    this._actions = h("div", { class: "msg-actions" }, this._copy, this._retry, this._delete);
    this._main = h(
      "div",
      { class: "msg-main" },
      h("div", { class: "msg-head" }, this._author, this._model),
      this._rounds,
      this._content,
      this._limit,
      this._waiting,
      this._notice,
      this._empty,
      this._error,
      this._route,
      h("div", { class: "msg-foot" }, this._flag, this._progress, this._stats, this._siblings, this._actions),
    );
    this.append(
      h(
        "div",
        { class: "msg-avatar", "aria-hidden": "true" },
        h("img", { src: "img/logo.svg", alt: "", width: 28, height: 28 }),
      ),
      this._main,
    );
  }

  disconnectedCallback() {
    clearInterval(this._tick);
    this._tick = 0;
  }

  /** Bring the DOM in line with the turn. */
  refresh() {
    const turn = this._turn;
    this.dataset.messageId = turn.id;
    this._siblings.show({ ids: turn.siblingIds, current: turn.id, disabled: this._locked });
    if (turn.role === "user") {
      if (this._bubble.textContent !== turn.content) this._bubble.textContent = turn.content;
      this._edit.disabled = this._locked;
      return;
    }
    const streaming = turn.status === "streaming";
    const busy = streaming || turn.status === "pending";
    this.dataset.status = turn.status;
    this.setAttribute("aria-busy", String(busy));
    // Through a route, the member that answered; until one does (or when none did), the route.
    const unanswered =
      Boolean(turn.routeId) && Array.isArray(turn.attempts) && !turn.attempts.some((a) => a.outcome === "answering");
    const model = unanswered ? "" : turn.model || "";
    this._author.textContent =
      (unanswered ? turn.routeName : "") || turn.providerName || turn.routeName || t("chat.message.assistant");
    this._model.textContent = model;
    this._model.title = model;

    this._refreshReasoning(turn, streaming);
    this._refreshRounds(turn, streaming);
    if (this._shown.content !== turn.content) {
      this._markdown.update(turn.content);
      this._shown.content = turn.content;
    }
    const nothingYet = !turn.content && !turn.reasoning && turn.toolCalls.length === 0;
    this._waiting.hidden = !(busy && nothingYet);
    this._refreshNotice(streaming ? turn.retrying : null);
    this._empty.hidden = !(turn.status === "done" && nothingYet);
    this._content.hidden = !turn.content;
    this._limit.hidden = turn.finishReason !== "tool_limit";

    if (
      turn.error &&
      turn.status === "error" &&
      (this._shown.error !== turn.error || this._shown.last !== this._last)
    ) {
      this._error.show({ error: turn.error, providerId: turn.providerId, canRetry: true });
      this._error.hidden = false;
    } else if (!turn.error || turn.status !== "error") {
      this._error.hidden = true;
    }
    this._shown.error = turn.error;
    this._shown.last = this._last;
    this._refreshRoute(turn);

    const flag =
      { stopped: t("chat.message.stopped"), interrupted: t("chat.message.interrupted") }[turn.status] ||
      (turn.finishReason === "length" ? t("chat.message.length") : "");
    this._flag.hidden = !flag;
    this._flag.textContent = flag;
    this._flag.title = turn.status === "interrupted" ? t("chat.message.interruptedHelp") : "";
    this._progress.hidden = !busy;
    this._progress.textContent = streaming ? t("chat.message.generating") : t("chat.message.pending");
    if (this._shown.status !== turn.status || !streaming) this._stats.turn = turn;
    this._shown.status = turn.status;
    this._copy.hidden = busy || !replyText(turn);
    // An error card offers its own Retry; a reply streaming elsewhere cannot be asked again yet.
    this._retry.hidden = busy || turn.status === "error";
    this._retry.disabled = this._locked;
    this._delete.hidden = busy || !["error", "interrupted", "stopped"].includes(turn.status);
    this._delete.disabled = this._locked;
  }

  /** Open the inline editor on a user message. */
  startEdit() {
    if (this._turn.role !== "user" || this._editor || this._locked) return;
    const input = h("textarea", { class: "input msg-edit-input", rows: 3, "aria-label": t("chat.message.editLabel") });
    input.value = this._turn.content;
    const cancel = h("button", { type: "button", class: "btn btn-sm" }, t("common.cancel"));
    const send = h("button", { type: "submit", class: "btn btn-sm btn-primary" }, t("chat.composer.send"));
    const form = h("form", { class: "msg-editor" }, input, h("div", { class: "msg-editor-actions" }, cancel, send));
    const finish = () => {
      form.remove();
      this._editor = null;
      this.classList.remove("is-editing");
      this._edit.focus();
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || this._locked) return;
      form.remove();
      this._editor = null;
      this.classList.remove("is-editing");
      this._emit("edit", { text });
    });
    cancel.addEventListener("click", finish);
    input.addEventListener("keydown", (event) => {
      if (event.isComposing || event.keyCode === 229) return;
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        finish();
      } else if (isSendKeystroke(event)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    this._editor = form;
    this.classList.add("is-editing");
    this._main.append(form);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  _emit(action, extra = {}) {
    this.dispatchEvent(new CustomEvent("chat-action", { bubbles: true, detail: { action, ...extra } }));
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
    const when = left > 0 ? t("chat.message.retryingIn", { seconds: left }) : t("chat.message.retryingNow");
    const text = t("chat.message.retrying", {
      what: adviceFor({ code: retrying.code }).title,
      when,
      attempt: retrying.attempt,
      attempts: retrying.attempts,
    });
    if (this._notice.textContent !== text) this._notice.textContent = text;
    this._notice.hidden = false;
    this._tick ||= setInterval(
      () => this._refreshNotice(this._turn.status === "streaming" ? this._turn.retrying : null),
      1000,
    );
  }

  // "Answered by DeepSeek — Groq was rate limited (429)": redrawn only when what it says changed.
  _refreshRoute(turn) {
    const line = routeLine(turn);
    const key = line ? `${line.outcome}|${line.lead}|${line.name}|${line.rest}` : "";
    if (this._shown.route === key) return;
    this._shown.route = key;
    this._route.hidden = !line;
    if (!line) return;
    this._route.dataset.outcome = line.outcome;
    const text = line.lead
      ? [
          line.lead,
          line.name ? [" ", h("strong", { class: "route-answered" }, line.name)] : null,
          line.rest ? ` — ${line.rest}` : null,
        ]
      : [line.rest];
    this._route.replaceChildren(icon("route", { size: 14 }), h("span", { class: "msg-route-text" }, text));
  }

  // Each round's text (final once its calls came) and its calls, added as they arrive; every
  // call is told whether the reply still streams (a call not answered by then did not run).
  _refreshRounds(turn, streaming) {
    const rounds = turn.rounds || [];
    rounds.forEach((round, index) => {
      let shown = this._roundEls[index];
      if (!shown) {
        const text = h("div", { class: "msg-round-text markdown", hidden: !round.content.trim() });
        if (round.content.trim()) text.append(renderMarkdown(round.content));
        const tools = h("div", { class: "msg-tools" });
        shown = { element: h("div", { class: "msg-round" }, text, tools), tools, calls: [] };
        this._roundEls.push(shown);
        this._rounds.append(shown.element);
      }
      while (shown.calls.length < round.calls.length) {
        const element = h("chat-tool-call");
        element.live = streaming;
        element.call = round.calls[shown.calls.length];
        shown.tools.append(element);
        shown.calls.push(element);
      }
      for (const element of shown.calls) element.live = streaming;
    });
    this._rounds.hidden = rounds.length === 0;
  }

  _refreshReasoning(turn, streaming) {
    if (!turn.reasoning) return;
    if (!this._reasoning) {
      this._reasoning = h("chat-reasoning");
      this._rounds.before(this._reasoning);
    }
    const answering = Boolean(turn.content) || turn.toolCalls.length > 0;
    this._reasoning.update({ text: turn.reasoning, thinking: streaming && !answering, ms: turn.reasoningMs });
  }
}

function copyButton(text, label) {
  const button = h(
    "button",
    { type: "button", class: "btn btn-ghost btn-sm msg-copy", title: label, "aria-label": label },
    icon("copy", { size: 14 }),
    h("span", { class: "copy-label" }, t("common.copy")),
  );
  button.addEventListener("click", () => copyFeedback(button, text()));
  return button;
}

function actionButton(iconName, label, help, onClick) {
  const button = h(
    "button",
    { type: "button", class: "btn btn-ghost btn-sm", title: help, "aria-label": label },
    icon(iconName, { size: 14 }),
    h("span", { class: "action-label" }, label),
  );
  button.addEventListener("click", onClick);
  return button;
}

customElements.define("chat-message", ChatMessage);
