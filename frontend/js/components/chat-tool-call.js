// <chat-tool-call>: one tool call of a reply (docs/UI.md, "Tools in the thread") — its name, the
// server it belongs to, its arguments pretty printed when they are JSON, and where it stands:
//
// - "approval": the tool asks first (its policy is "ask"). The card asks "Run echo from
//   Everything?" with Allow once, Always allow and Deny, and takes the focus when it appears.
// - "running": allowed (or needing no approval) and not answered yet; the time it has taken
//   ticks every second.
// - "done" / "error": the result, collapsible, as text (tool output is untrusted: it never
//   becomes markup), with how long the call took; an error is marked as one.
// - "denied" (the user said no), "expired" (no answer in time: the app denied it), "notrun"
//   (the reply ended before the call ran, or the app was not asked to run it).
//
// In: `call` (a call of chat-store.js), `live` (its reply is streaming); `refresh()` after the
// call changed. Out (bubbling): `tool-approval` {call, decision: "allow" | "always" | "deny"}.
import { h, uid } from "../lib/dom.js";
import { formatDuration, formatMs } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { mcpService } from "../services/mcp-service.js";

const PREVIEW_CHARS = 90;
const STATE_ICONS = { approval: "shield", running: "clock", done: "check", error: "alert", denied: "x", expired: "x" };

export class ChatToolCall extends HTMLElement {
  constructor() {
    super();
    this._call = null;
    this._live = false;
    this._shown = "";
    this._tick = 0;
  }

  /** The call (`{id, name, arguments, approval, result, …}`, chat-store.js). */
  set call(value) {
    this._call = value;
    if (!this._head) this._build();
    this.refresh();
  }

  get call() {
    return this._call;
  }

  /** Whether the reply this call belongs to is still streaming. */
  set live(value) {
    this._live = Boolean(value);
    if (this._call) this.refresh();
  }

  /** Where the call stands (see the header). */
  get state() {
    const call = this._call;
    if (call.approval === "pending") return "approval";
    if (call.approval === "denied") return "denied";
    if (call.approval === "expired" && (!call.result || call.result.isError)) return "expired";
    if (call.result && call.result.declined) return "denied";
    if (call.result) return call.result.isError ? "error" : "done";
    return this._live ? "running" : "notrun";
  }

  disconnectedCallback() {
    clearInterval(this._tick);
    this._tick = 0;
  }

  _build() {
    const call = this._call;
    this._name = h("code", { class: "tool-name" });
    this._server = h("span", { class: "tool-server", hidden: true });
    this._status = h("span", { class: "tool-state" });
    this._head = h(
      "div",
      { class: "tool-head" },
      icon("tool", { size: 15 }),
      h("span", { class: "tool-kind" }, t("chat.tool.kind")),
      this._name,
      this._server,
      this._status,
    );
    this._args = h("pre", { class: "tool-args", tabIndex: 0 });
    this._card = h("div", { class: "tool-call", tabIndex: -1 }, this._head, this._args);
    this.replaceChildren(this._card);
    this._args.textContent = prettyArguments(call.arguments);
  }

  /** Bring the card in line with the call. */
  refresh() {
    const call = this._call;
    const state = this.state;
    const server = call.serverId ? mcpService.server(call.serverId) : null;
    const serverName = (server && server.displayName) || call.serverName || (server ? server.name : "");
    const result = call.result;
    const key = [state, call.name, serverName, call.answering, result && result.content.length].join("|");
    if (key === this._shown) return this._showElapsed(state);
    const appeared = state === "approval" && !this._shown.startsWith("approval|");
    this._shown = key;
    this.dataset.state = state;
    this._card.dataset.state = state;
    this._name.textContent = call.name || t("chat.tool.unnamed");
    this._server.hidden = !serverName;
    this._server.textContent = serverName ? t("mcp.call.from", { server: serverName }) : "";
    this._args.setAttribute(
      "aria-label",
      call.name ? t("chat.tool.arguments", { name: call.name }) : t("chat.tool.argumentsUnnamed"),
    );
    this._renderAsk(state, call, serverName);
    this._renderResult(state, result);
    this._showElapsed(state);
    if (appeared) this._takeFocus();
  }

  _showElapsed(state) {
    const call = this._call;
    const result = call.result;
    let text;
    if (state === "running") {
      const seconds = call.startedAt ? (Date.now() - call.startedAt) / 1000 : 0;
      text = t("mcp.call.running", { elapsed: formatDuration(seconds) });
    } else if ((state === "done" || state === "error") && result && result.elapsedMs != null) {
      text = t(state === "done" ? "mcp.call.doneIn" : "mcp.call.failedIn", { elapsed: formatMs(result.elapsedMs) });
    } else {
      text = t(STATE_KEYS[state]);
    }
    const iconName = STATE_ICONS[state];
    if (this._status.dataset.text !== text) {
      this._status.dataset.text = text;
      this._status.replaceChildren(...(iconName ? [icon(iconName, { size: 13 })] : []), h("span", {}, text));
    }
    if (state === "running" && !this._tick) this._tick = setInterval(() => this._showElapsed(this.state), 1000);
    if (state !== "running" && this._tick) {
      clearInterval(this._tick);
      this._tick = 0;
    }
  }

  _renderAsk(state, call, serverName) {
    if (state !== "approval") {
      if (!this._ask) return;
      const hadFocus = this._ask.contains(document.activeElement);
      this._ask.remove();
      this._ask = null;
      if (hadFocus) this._card.focus({ preventScroll: true }); // not lost to the page
      return;
    }
    const name = call.name || t("chat.tool.unnamed");
    const question = serverName
      ? t("mcp.call.askFrom", { tool: name, server: serverName })
      : t("mcp.call.ask", { tool: name });
    if (!this._ask) {
      const textId = uid("tool-ask");
      const button = (decision, label, className) =>
        h(
          "button",
          {
            type: "button",
            class: ["btn", "btn-sm", className],
            dataset: { decision },
            on: {
              click: () =>
                this.dispatchEvent(
                  new CustomEvent("tool-approval", { bubbles: true, detail: { call: this._call, decision } }),
                ),
            },
          },
          label,
        );
      this._askText = h("p", { class: "tool-ask-text", id: textId });
      this._askButtons = [
        button("allow", t("mcp.call.allowOnce"), "btn-primary"),
        button("always", t("mcp.call.alwaysAllow"), ""),
        button("deny", t("mcp.call.deny"), "tool-deny"),
      ];
      this._ask = h(
        "div",
        { class: "tool-ask", role: "group", tabIndex: -1, "aria-labelledby": textId },
        h("span", { class: "tool-ask-icon", "aria-hidden": "true" }, icon("shield", { size: 18 })),
        h(
          "div",
          { class: "tool-ask-body" },
          this._askText,
          h("p", { class: "tool-ask-help muted" }, t("mcp.call.askHelp")),
          h("div", { class: "tool-ask-actions" }, this._askButtons),
        ),
      );
      this._args.after(this._ask);
    }
    this._askText.textContent = question;
    for (const b of this._askButtons) b.disabled = Boolean(call.answering);
  }

  _renderResult(state, result) {
    if (!result || (state !== "done" && state !== "error" && state !== "denied" && state !== "expired")) {
      if (this._result) this._result.remove();
      this._result = null;
      return;
    }
    const failed = result.isError;
    const text = result.content;
    const firstLine = text.trim().split("\n", 1)[0] || "";
    const preview = firstLine.length > PREVIEW_CHARS ? `${firstLine.slice(0, PREVIEW_CHARS)}…` : firstLine;
    const body = h("pre", { class: "tool-result-text", tabIndex: 0 });
    body.textContent = text || t("mcp.call.emptyResult");
    const details = h(
      "details",
      { class: ["tool-result", failed ? "is-error" : ""], open: failed && state === "error" },
      h(
        "summary",
        {},
        icon("chevron", { size: 14, className: "section-chevron" }),
        h("span", { class: "tool-result-label" }, t(failed ? "mcp.call.errorLabel" : "mcp.call.resultLabel")),
        preview ? h("span", { class: "tool-result-preview" }, preview) : null,
      ),
      body,
    );
    if (this._result) {
      details.open = this._result.open;
      this._result.replaceWith(details);
    } else this._card.append(details);
    this._result = details;
  }

  // A card asking for approval takes the focus when the chat is on screen, so the keyboard can
  // answer at once (Tab reaches Allow once, Always allow and Deny).
  _takeFocus() {
    const view = this.closest("chat-view");
    if (view && !view.active) return;
    queueMicrotask(() => {
      if (this._ask && this._ask.isConnected) this._ask.focus({ preventScroll: false });
    });
  }
}

const STATE_KEYS = {
  approval: "mcp.call.waiting",
  running: "mcp.call.running",
  done: "mcp.call.done",
  error: "mcp.call.failed",
  denied: "mcp.call.denied",
  expired: "mcp.call.expired",
  notrun: "mcp.call.notRun",
};

/** JSON arguments indented by two spaces; anything else exactly as sent. */
export function prettyArguments(text) {
  const raw = String(text ?? "");
  if (!raw.trim()) return "{}";
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

customElements.define("chat-tool-call", ChatToolCall);
