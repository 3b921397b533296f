// <chat-view>: the conversation. Owns the providers to choose from, the turns, and the one
// reply that may be streaming; its children only show things and report what the user wants.
//
// A send appends the user's turn and an empty assistant turn, then streams
// POST /api/chat/stream (js/lib/chat-client.js) with the whole history. Events update the turn
// object at once; the DOM catches up at most once per animation frame, so a fast provider
// costs one repaint per frame, not one per token. Stop (or Esc) aborts the request, which makes
// the server close the upstream; the partial answer stays, marked "Stopped".
import { h } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { adviceFor } from "../lib/advice.js";
import { streamChat } from "../lib/chat-client.js";
import {
  assistantTurn,
  loadConversation,
  rememberProvider,
  rememberedProvider,
  requestMessages,
  saveConversation,
  userTurn,
} from "../lib/chat-store.js";
import { providerService } from "../services/custom-provider-service.js";
import { orderByHealth } from "./chat-provider-picker.js";
import "./chat-provider-picker.js";
import "./chat-message-list.js";
import "./chat-composer.js";

const STARTERS = [
  "Explain how HTTPS keeps a connection private, in five sentences.",
  "Write a Python function that removes duplicates from a list and keeps the order.",
  "What are the trade-offs of SQLite for a desktop app?",
];

export class ChatView extends HTMLElement {
  constructor() {
    super();
    this.service = providerService;
    this._providers = [];
    this._statuses = new Map();
    this._providerId = "";
    this._loaded = false;
    this._loadFailure = null;
    this._loadSeq = 0;
    this._active = false;
    this._turns = loadConversation();
    this._run = null; // the streaming reply: {controller, turn, message, sentAt, firstAt, reasoningAt}
    this._frame = 0;
  }

  connectedCallback() {
    if (this._built) return;
    this._built = true;
    this._build();
    for (const turn of this._turns) this._list.add(turn);
    this._list.scrollToEnd();
    this._renderState();
    document.addEventListener("keydown", (event) => this._onDocumentKey(event));
    this.load();
  }

  /** The shell says whether the view is on screen; showing it refreshes the providers. */
  set active(value) {
    const was = this._active;
    this._active = Boolean(value);
    this.toggleAttribute("data-active", this._active);
    if (this._active && !was && this._built) this.load();
  }

  // --- layout ---------------------------------------------------------------------------

  _build() {
    this.classList.add("view", "chat-view");
    this._picker = h("chat-provider-picker");
    this._picker.addEventListener("provider-change", (event) => this._choose(event.detail.id));
    this._newBtn = h("button", { type: "button", class: "btn new-chat-btn", title: "Start a new conversation", on: { click: () => this.newConversation() } }, icon("new-chat", { size: 16 }), h("span", { class: "label-collapsible" }, "New conversation"));
    this._subtitle = h("p", { class: "view-subtitle" }, "Talk to any of your providers");
    const header = h(
      "header",
      { class: "view-header chat-header" },
      h("div", { class: "view-heading" }, h("h1", { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } }, "Chat"), this._subtitle),
      h("div", { class: "toolbar" }, this._picker, this._newBtn),
    );
    this._list = h("chat-message-list");
    this._composer = h("chat-composer");
    this._announcer = h("p", { class: "sr-only", role: "status", "aria-live": "polite" });
    this.addEventListener("compose-send", (event) => this.send(event.detail.text));
    this.addEventListener("compose-stop", () => this.stop());
    this.addEventListener("chat-action", (event) => this._onAction(event.detail.action));
    this.append(header, this._list, this._composer, this._announcer);
  }

  _renderState() {
    const provider = this._provider();
    const none = this._loaded && this._providers.length === 0;
    this._composer.disabled = !provider;
    this._composer.placeholder = provider ? `Message ${provider.displayName}` : none ? "Add a provider to start chatting" : "Message";
    this._newBtn.disabled = this._turns.length === 0;
    this._subtitle.textContent = provider ? `${provider.model} at ${hostOf(provider.requestURL)}` : "Talk to any of your providers";
    this._subtitle.title = provider ? `Requests go to ${provider.requestURL}` : "";
    if (this._loadFailure && !this._loaded) this._list.intro = this._failureIntro(this._loadFailure);
    else if (none && this._turns.length === 0) this._list.intro = this._noProvidersIntro();
    else if (this._turns.length === 0 && provider) this._list.intro = this._welcomeIntro(provider);
    else this._list.intro = null;
  }

  _noProvidersIntro() {
    return h(
      "div",
      { class: "chat-empty" },
      h("span", { class: "placeholder-icon" }, icon("chat", { size: 36 })),
      h("h2", {}, "Add a provider to start chatting"),
      h("p", { class: "muted" }, "MiaoDa Chat talks to OpenAI, Anthropic, Groq, a local Ollama or any compatible endpoint. Add one, and come back here."),
      h("a", { class: "btn btn-primary btn-lg chat-add-provider", href: "#/providers?add" }, icon("plus", { size: 18 }), "Add a provider"),
    );
  }

  _welcomeIntro(provider) {
    return h(
      "div",
      { class: "chat-welcome" },
      h("img", { src: "img/logo.svg", alt: "", width: 56, height: 56, class: "chat-welcome-logo" }),
      h("h2", {}, `Chat with ${provider.displayName}`),
      h("p", { class: "muted" }, "Replies stream as they are written. Stop one with Esc; the whole conversation is sent with each message."),
      h(
        "div",
        { class: "chat-starters" },
        STARTERS.map((text) =>
          h("button", { type: "button", class: "chat-starter", on: { click: () => this._useStarter(text) } }, text),
        ),
      ),
    );
  }

  _failureIntro(error) {
    return h(
      "div",
      { class: "chat-empty" },
      icon("alert", { size: 28 }),
      h("h2", {}, "The providers could not be loaded"),
      h("p", { class: "muted" }, error.message),
      h("button", { type: "button", class: "btn", on: { click: () => this.load() } }, "Try again"),
    );
  }

  _useStarter(text) {
    this._composer.value = text;
    this._composer.focus();
  }

  // --- providers ------------------------------------------------------------------------

  /** Load providers and their cached health (no request to any provider). */
  async load() {
    const seq = ++this._loadSeq;
    this.removeAttribute("data-ready");
    const [list, health] = await Promise.all([this.service.getProviders(), this.service.getHealthStatuses()]);
    if (seq !== this._loadSeq) return;
    if (!list.success) {
      this._loadFailure = list.error;
      this._renderState();
      this.setAttribute("data-ready", "");
      return;
    }
    this._loadFailure = null;
    this._loaded = true;
    this._providers = list.providers;
    this._statuses = new Map(health.success ? health.statuses.map((s) => [s.providerId, s]) : []);
    const ids = new Set(this._providers.map((p) => p.id));
    const remembered = rememberedProvider();
    if (!ids.has(this._providerId)) {
      this._providerId = ids.has(remembered) ? remembered : (orderByHealth(this._providers, this._statuses)[0] || {}).id || "";
    }
    this._picker.setProviders(this._providers, this._statuses);
    this._picker.value = this._providerId;
    this._renderState();
    this.setAttribute("data-ready", ""); // loaded: what tests and styles may wait for
  }

  _provider() {
    return this._providers.find((p) => p.id === this._providerId) || null;
  }

  _choose(id) {
    this._providerId = id;
    rememberProvider(id);
    this._renderState();
  }

  // --- conversation ---------------------------------------------------------------------

  /** Send `text` as the user's next turn and stream the reply. */
  send(text) {
    const provider = this._provider();
    const content = String(text).trim();
    if (!provider || this._run || !content) return;
    const turn = userTurn(content);
    this._turns.push(turn);
    this._list.add(turn);
    this._composer.value = "";
    saveConversation(this._turns);
    this._reply(provider);
  }

  /** Stop the streaming reply, keeping what arrived. */
  stop() {
    if (this._run) this._run.controller.abort();
  }

  /** Forget the conversation (stopping a reply in progress). */
  newConversation() {
    this.stop();
    this._turns = [];
    this._list.clear();
    saveConversation(this._turns);
    this._renderState();
    this._announce("New conversation");
    this._composer.focus();
  }

  /** Send the last user turn again, replacing the reply that followed it. */
  retry() {
    const provider = this._provider();
    const last = this._turns[this._turns.length - 1];
    if (this._run || !provider || !last) return;
    if (last.role === "assistant") {
      this._turns.pop();
      this._list.remove(last);
    }
    const before = this._turns[this._turns.length - 1];
    if (!before || before.role !== "user") return;
    this._reply(provider);
  }

  async _reply(provider) {
    const body = { providerId: provider.id, messages: requestMessages(this._turns) };
    const turn = assistantTurn(provider);
    this._turns.push(turn);
    const message = this._list.add(turn);
    this._list.scrollToEnd();
    const run = { controller: new AbortController(), turn, message, sentAt: performance.now(), firstAt: null, reasoningAt: null };
    this._run = run;
    this._composer.streaming = true;
    this._renderState();
    this._announce(`${provider.displayName} is replying…`);

    const outcome = await streamChat(body, { signal: run.controller.signal, onEvents: (events) => this._apply(run, events) });
    if (outcome === "aborted" || turn.status === "streaming") {
      turn.status = "stopped";
      turn.finishReason = "cancelled";
      // No `done` came: time the reply here (first token too, if one arrived).
      turn.elapsedMs = Math.round(performance.now() - run.sentAt);
      if (run.firstAt != null) turn.ttftMs = Math.round(run.firstAt - run.sentAt);
    }
    if (run.reasoningAt != null && turn.reasoningMs == null) turn.reasoningMs = Math.round(performance.now() - run.reasoningAt);
    this._finish(run);
  }

  // Events change the turn now; the DOM follows on the next animation frame.
  _apply(run, events) {
    const turn = run.turn;
    for (const { type, data } of events) {
      // A retry notice stands until anything else arrives.
      turn.retrying = type === "retrying" ? retryState(data) : null;
      if (type === "start") {
        if (data.model) turn.model = String(data.model);
      } else if (type === "delta") {
        run.firstAt ??= performance.now();
        this._reasoningDone(run);
        turn.content += String(data.text ?? "");
      } else if (type === "reasoning") {
        run.reasoningAt ??= performance.now();
        run.firstAt ??= run.reasoningAt;
        turn.reasoning += String(data.text ?? "");
      } else if (type === "tool_call") {
        run.firstAt ??= performance.now();
        this._reasoningDone(run);
        turn.toolCalls.push(toolCall(data, turn.toolCalls.length));
      } else if (type === "usage") {
        turn.usage = { inputTokens: data.inputTokens ?? null, outputTokens: data.outputTokens ?? null, source: data.source || "reported" };
      } else if (type === "error") {
        turn.error = { code: String(data.code || "INTERNAL"), message: String(data.message || ""), retryAfter: data.retryAfter ?? null, httpStatus: data.httpStatus ?? null, at: Date.now() };
      } else if (type === "done") {
        this._reasoningDone(run);
        const reason = data.finishReason || "stop";
        turn.finishReason = reason;
        turn.ttftMs = data.ttftMs ?? (run.firstAt != null ? Math.round(run.firstAt - run.sentAt) : null);
        turn.elapsedMs = data.elapsedMs ?? Math.round(performance.now() - run.sentAt);
        if (reason === "error" && !turn.error) turn.error = { code: "INTERNAL", message: "The reply failed without saying why. Try again.", at: Date.now() };
        turn.status = turn.error ? "error" : reason === "cancelled" ? "stopped" : "done";
      }
    }
    if (!this._frame) this._frame = requestAnimationFrame(() => this._paint());
  }

  _reasoningDone(run) {
    if (run.reasoningAt != null && run.turn.reasoningMs == null) run.turn.reasoningMs = Math.round(performance.now() - run.reasoningAt);
  }

  _paint() {
    this._frame = 0;
    if (!this._run) return;
    this._run.message.refresh();
    this._list.follow();
  }

  _finish(run) {
    if (this._frame) cancelAnimationFrame(this._frame);
    this._frame = 0;
    if (this._run === run) this._run = null;
    this._composer.streaming = Boolean(this._run);
    if (!this._turns.includes(run.turn)) return; // "New conversation" dropped it meanwhile
    run.message.refresh();
    this._list.follow();
    saveConversation(this._turns);
    this._renderState();
    const turn = run.turn;
    if (turn.status === "error") {
      this._announce(`Reply failed: ${adviceFor(turn.error).title}. ${turn.error.message}`);
      if (turn.error.code === "NOT_FOUND") this.load();
    } else if (turn.status === "stopped") this._announce("Stopped. The partial reply is kept.");
    else this._announce("Reply complete.");
  }

  _onAction(action) {
    if (action === "retry") this.retry();
    else if (action === "new-conversation") this.newConversation();
  }

  _onDocumentKey(event) {
    if (event.key !== "Escape" || !this._active || !this._run || event.defaultPrevented) return;
    if (event.target instanceof Element && event.target.closest("dialog")) return;
    event.preventDefault();
    this.stop();
  }

  _announce(text) {
    this._announcer.textContent = text;
  }
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

// A `tool_call` event as a turn keeps it (and sends it back): arguments as a string, an id always.
function toolCall(data, index) {
  const args = typeof data.arguments === "string" ? data.arguments : JSON.stringify(data.arguments ?? {});
  return { id: String(data.id || `call_${data.index ?? index}`), name: String(data.name || ""), arguments: args };
}

customElements.define("chat-view", ChatView);

// What the reply shows while the server waits to retry: why, and when it tries again.
function retryState(data) {
  const seconds = Number(data.retryIn);
  return {
    code: String(data.code || ""),
    attempt: Number(data.attempt) || 1,
    attempts: Number(data.attempts) || 1,
    at: Date.now() + (Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0),
  };
}
