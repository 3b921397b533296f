// <chat-view>: one stored conversation (CONTRACT §9) — which one comes from the URL hash
// (`#/chat/<id>`, `?m=<messageId>` to show a message; `#/chat` or `#/chat/new` for a new one) —
// with the conversation sidebar in the first column of its grid and the thread in the second.
//
// The server keeps the conversation; the thread is its stored path from the root to the current
// leaf. This element lays out the parts and keeps the header, composer and intro in step with
// the conversation shown. Its jobs are modules that take the view as their host (docs/UI.md,
// Chat view, lists them and what they use of it: the members without an underscore):
// chat-view-opener.js (which conversation), -providers.js (which provider and model),
// -replies.js (sending and the streaming reply), -tree.js (branches, deletes, system prompt,
// export), -pending.js (replies being written elsewhere), -intros.js (an empty thread).
// The header's "Tools" button (chat-tool-servers.js) chooses the conversation's tool servers
// (`toolServers`, stored on the conversation; a new conversation keeps the choice until it is
// created with it). `thread` is a new object per opened thread, so async answers for an old one
// are dropped.
// Anything that changes a stored conversation ends in `changed(id)` (conversationsChanged) so
// the sidebar refreshes.
//
// The app's shortcuts (the shell wires the keys) call `newConversation()`, `copyLastReply()`
// and `stop()`; Esc stops a streaming reply here too, outside dialogs.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { copyText } from "../lib/clipboard.js";
import { strategyLabel } from "../lib/route-rules.js";
import {
  NEW_DRAFT,
  loadDraft,
  rememberConversation,
  replyText,
  saveDraft,
  turnsFromMessages,
} from "../lib/chat-store.js";
import { mcpEvents, mcpService } from "../services/mcp-service.js";
import {
  conversationEvents,
  conversationHash,
  conversationService,
  conversationsChanged,
} from "../services/conversation-service.js";
import { CHAT_HASH, ConversationOpener } from "./chat-view-opener.js";
import { ProviderChoice } from "./chat-view-providers.js";
import { ReplyController } from "./chat-view-replies.js";
import { TreeActions } from "./chat-view-tree.js";
import { PendingReplies } from "./chat-view-pending.js";
import { failureIntro, missingIntro, noProvidersIntro, welcomeIntro } from "./chat-view-intros.js";
import "./chat-provider-picker.js";
import "./chat-message-list.js";
import "./chat-composer.js";
import "./chat-system-prompt.js";
import "./chat-export-menu.js";
import "./chat-tool-servers.js";
import "./conversation-sidebar.js";
import { toast } from "./toast-region.js";

export class ChatView extends HTMLElement {
  constructor() {
    super();
    this.conversations = conversationService;
    this.conversationId = null;
    this.conversation = null;
    this.state = "new"; // "new" | "loading" | "ready" | "missing" | "failed"
    this.turns = [];
    this.thread = {};
    this._active = false;
    this._selfChange = false;
    this._newToolServers = []; // chosen for the new conversation, stored when it is created
  }

  connectedCallback() {
    // The page-wide listeners live as long as the view is in the page: the shell builds the
    // views again when the language changes, and the old view must stop answering then.
    this._connection = new AbortController();
    const signal = this._connection.signal;
    document.addEventListener("keydown", (event) => this._onDocumentKey(event), { signal });
    window.addEventListener(
      "hashchange",
      () => {
        if (CHAT_HASH.test(window.location.hash)) this._opener.fromHash();
      },
      { signal },
    );
    conversationEvents.addEventListener(
      "changed",
      (event) => {
        if (!this._selfChange) this._opener.changedElsewhere(event.detail.id);
      },
      { signal },
    );
    mcpEvents.addEventListener(
      "changed",
      (event) => {
        if (this._toolMenu) this._toolMenu.servers = event.detail.servers;
      },
      { signal },
    );
    if (this._built) return;
    this._built = true;
    this._build();
    this.load();
    this._opener.fromHash(true);
  }

  disconnectedCallback() {
    this._connection.abort();
  }

  /** Whether the view is on screen. */
  get active() {
    return this._active;
  }

  /** The shell says whether the view is on screen; showing it refreshes the providers. */
  set active(value) {
    const was = this._active;
    this._active = Boolean(value);
    this.toggleAttribute("data-active", this._active);
    if (this._active && !was && this._built) {
      this.load();
      mcpService.getServers(); // the Tools menu's list (mcpEvents brings it)
      const draft = this.composer.value;
      this.composer.value = draft; // a draft restored while hidden: size it now
      // newConversation() from another view: write at once. After the shell is done showing
      // the view (it focuses the view's heading).
      if (this._focusComposer) queueMicrotask(() => this.composer.focus());
    }
    this._focusComposer = false;
  }

  // --- layout ---------------------------------------------------------------------------

  _build() {
    this.classList.add("view", "chat-view");
    const picker = h("chat-provider-picker");
    this.providers = new ProviderChoice(this, picker);
    this._opener = new ConversationOpener(this);
    this.replies = new ReplyController(this);
    this._tree = new TreeActions(this);
    this._pending = new PendingReplies(this);
    this._exportMenu = h("chat-export-menu");
    this._toolMenu = h("chat-tool-servers");
    if (mcpService.servers) this._toolMenu.servers = mcpService.servers;
    this._toolMenu.addEventListener("tool-servers-change", (event) => this._setToolServers(event.detail.ids));
    this._exportMenu.addEventListener("export-conversation", (event) => this._tree.export(event.detail.format));
    this._newBtn = h(
      "a",
      { class: "btn new-chat-btn", href: "#/chat/new", title: t("chat.view.newHelp") },
      icon("new-chat", { size: 16 }),
      h("span", { class: "label-collapsible" }, t("chat.view.newTitle")),
    );
    this._newBtn.addEventListener("click", (event) => {
      if (this.conversationId || this.state !== "new") return;
      event.preventDefault(); // already a new conversation: just write
      this.composer.focus();
    });
    this._title = h(
      "h1",
      { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } },
      t("chat.view.heading"),
    );
    this._subtitle = h("p", { class: "view-subtitle" }, t("chat.view.subtitle"));
    const header = h(
      "header",
      { class: "view-header chat-header" },
      h("div", { class: "view-heading" }, this._title, this._subtitle),
      h("div", { class: "toolbar" }, picker, this._toolMenu, this._exportMenu, this._newBtn),
    );
    this._system = h("chat-system-prompt");
    this._system.addEventListener("system-prompt-change", (event) => this._tree.saveSystemPrompt(event.detail.value));
    this.list = h("chat-message-list");
    this.composer = h("chat-composer");
    this.composer.addEventListener("input", () => saveDraft(this.draftKey(), this.composer.value));
    this._announcer = h("p", { class: "sr-only", role: "status", "aria-live": "polite" });
    this.addEventListener("compose-send", (event) => this.send(event.detail.text));
    this.addEventListener("compose-stop", () => this.stop());
    this.addEventListener("chat-action", (event) => this._onAction(event));
    this.addEventListener("tool-approval", (event) =>
      this.replies.answerApproval(event.detail.call, event.detail.decision),
    );
    this.addEventListener("sibling-switch", (event) => this._tree.switchTo(event.detail.id, event.target));
    this._main = h("div", { class: "chat-main" }, header, this.list, this.composer, this._announcer);
    this.append(h("conversation-sidebar"), this._main);
    this.list.top = this._system;
  }

  /** Bring the header, the composer and the intro in line with the state (for its parts too). */
  renderState() {
    const provider = this.providers.current();
    const none = this.providers.loaded && this.providers.list.length === 0;
    const run = this.replies.current();
    const empty = this.turns.length === 0;
    this.composer.disabled = !provider || this.state === "missing" || this.state === "loading";
    this.composer.streaming = Boolean(run);
    this.composer.placeholder = provider
      ? t("chat.view.messageTo", { name: provider.displayName })
      : none
        ? t("chat.intro.addFirst")
        : t("chat.composer.label");
    this.list.locked = Boolean(run);
    this._exportMenu.hidden = !this.conversationId || this.state !== "ready";
    this._toolMenu.value = this.toolServers;
    this._toolMenu.disabled = this.state === "missing" || this.state === "loading" || this.state === "failed";
    this._system.hidden = this.state === "missing" || this.state === "failed" || (none && !this.conversationId);
    this._title.textContent = this.conversation
      ? this.conversation.title || t("chat.view.newTitle")
      : this.conversationId
        ? t("chat.view.heading")
        : t("chat.view.newTitle");
    if (provider && provider.isRoute) {
      this._subtitle.textContent = t("chat.view.routeSubtitle", {
        strategy: strategyLabel(provider.route.strategy),
        members: provider.memberNames.join(" → ") || t("chat.view.noMembersLeft"),
      });
      this._subtitle.title = "";
    } else {
      this._subtitle.textContent = provider
        ? t("chat.view.subtitleFor", {
            model: this.providers.model || provider.model,
            host: hostOf(provider.requestURL),
          })
        : t("chat.view.subtitle");
      this._subtitle.title = provider ? t("chat.view.requestsGo", { url: provider.requestURL }) : "";
    }
    this.dataset.thread = this.state;
    if (this.conversationId) this.dataset.conversationId = this.conversationId;
    else delete this.dataset.conversationId;
    this.list.intro = this._intro(provider, none, empty);
  }

  _intro(provider, none, empty) {
    if (this.state === "missing") return missingIntro();
    if (this.state === "failed")
      return failureIntro(t("chat.view.openFailed"), this._opener.failure, () => this._opener.fromHash(true));
    if (this.providers.failure && !this.providers.loaded)
      return failureIntro(t("chat.view.loadFailed"), this.providers.failure, () => this.load());
    if (none && empty && this.state !== "loading") return noProvidersIntro();
    if (empty && provider && (this.state === "new" || this.state === "ready"))
      return welcomeIntro(provider, (text) => this._useStarter(text));
    return null;
  }

  _useStarter(text) {
    this.composer.value = text;
    saveDraft(this.draftKey(), text);
    this.composer.focus();
  }

  // --- providers ------------------------------------------------------------------------

  /** Load providers and their cached health (no request to any provider). */
  async load() {
    this.removeAttribute("data-ready");
    if (!(await this.providers.load())) return; // a newer load is on its way
    if (!this.providers.failure) {
      this.providers.apply(this.conversation);
      this._refreshAuthors();
    }
    this.renderState();
    this.setAttribute("data-ready", ""); // loaded: what tests and styles may wait for
  }

  // Replies name their provider; names arrive with the provider list.
  _refreshAuthors() {
    for (const turn of this.turns) {
      if (turn.role !== "assistant" || turn.providerName) continue;
      if (turn.routeId && !turn.routeName) turn.routeName = this.providers.name(turn.routeId);
      turn.providerName = this.providers.name(turn.providerId);
      const message = this.list.messageById(turn.id);
      if (message && (turn.providerName || turn.routeName)) message.refresh();
    }
  }

  // --- which conversation ---------------------------------------------------------------

  /** Show conversation `id` (null: a new one), with `messageId` in view when given. */
  open(id, messageId = null) {
    return this._opener.open(id, messageId);
  }

  /** Show the conversation open last (the nav's "Chat"), or a new one when there is none or it is gone. */
  resume() {
    this._opener.resume();
  }

  // --- for its parts --------------------------------------------------------------------

  /** The ids of the tool servers the conversation shown offers (for a new one: the choice so far). */
  get toolServers() {
    if (!this.conversationId) return [...this._newToolServers];
    return this.conversation && Array.isArray(this.conversation.toolServers) ? [...this.conversation.toolServers] : [];
  }

  // The "Tools" menu changed: stored on the conversation, or kept for the new one.
  async _setToolServers(ids) {
    const id = this.conversationId;
    if (!id) {
      this._newToolServers = ids;
      return;
    }
    const thread = this.thread;
    const result = await this.conversations.update(id, { toolServers: ids });
    if (thread !== this.thread) return;
    if (result.success) {
      this.conversation = result.conversation;
      this.changed(id);
    } else toast({ kind: "error", title: t("mcp.picker.saveFailed"), message: result.error.message });
    this.renderState();
  }

  /** Start an empty thread for conversation `id` (null: a new one); returns its `thread`. */
  clearThread(id) {
    this.thread = {};
    this.conversationId = id;
    this.conversation = null;
    this.turns = [];
    this.list.clear();
    this._system.value = "";
    this.composer.value = loadDraft(this.draftKey());
    return this.thread;
  }

  /** Render a getConversation answer as the thread. */
  show(result, { focusId = null, anchorId = null, keep = null } = {}) {
    performance.mark("chat-thread-data"); // bench/bench_open_conversation.py: data in, render starts
    this.state = "ready";
    this.conversation = result.conversation;
    this.turns = turnsFromMessages(result.messages, (id) => this.providers.name(id));
    const run = this.replies.adopt(this.turns);
    this._system.value = this.conversation.systemPrompt || "";
    this.providers.apply(this.conversation);
    this.list.show(this.turns, { fromId: focusId || anchorId });
    if (run) run.message = this.list.messageById(run.turn.id);
    this.renderState();
    const target = focusId && this.list.messageById(focusId);
    if (target) this.list.reveal(target);
    else if (keep) keep();
    else this.list.scrollToEnd();
    this._pending.follow();
  }

  /** The conversation shown is stored now: the hash names it, without a reload, a history entry or a hashchange. */
  adoptConversation(id, conversation = this.conversation) {
    this.conversationId = id;
    this.conversation = conversation;
    this._newToolServers = []; // stored with it (or not chosen): the next new one starts afresh
    window.history.replaceState(window.history.state, "", conversationHash(id));
    saveDraft(NEW_DRAFT, "");
    rememberConversation(id);
    this.state = "ready";
    this.renderState();
  }

  /** Store `leafId` as the current leaf of `id`; saves queue in `thread.leafSaving`, which a send waits for. */
  saveLeaf(id, leafId) {
    const thread = this.thread;
    const saving = Promise.resolve(thread.leafSaving).then(() =>
      this.conversations.update(id, { currentLeafId: leafId }),
    );
    thread.leafSaving = saving;
    return saving;
  }

  /** Tell the other views that stored conversation `id` changed (not this one: it knows). */
  changed(id) {
    this._selfChange = true;
    try {
      conversationsChanged(id);
    } finally {
      this._selfChange = false;
    }
  }

  /** Drop `turn` and everything after it from the thread shown. */
  cut(turn) {
    const at = this.turns.indexOf(turn);
    this.list.removeFrom(this.list.messageById(turn.id));
    if (at >= 0) this.turns = this.turns.slice(0, at);
  }

  /** The draft's key in the browser: the conversation's id, or NEW_DRAFT. */
  draftKey() {
    return this.conversationId || NEW_DRAFT;
  }

  /** Say `text` to screen readers (the thread itself is not live). */
  announce(text) {
    this._announcer.textContent = text;
  }

  // --- sending, the app's shortcuts and the keyboard -------------------------------------

  /** Send `text` as the user's next turn and stream the reply. */
  send(text) {
    this.replies.send(text);
  }

  /** Stop the reply streaming in the conversation shown, keeping what arrived; whether one was. */
  stop() {
    return this.replies.stop();
  }

  /** What "New conversation" does: a new conversation on screen, the composer focused. */
  newConversation() {
    if (CHAT_HASH.test(window.location.hash) && !this.conversationId && this.state === "new") {
      if (this.active) this.composer.focus();
      else this._focusComposer = true; // the shell shows the view next
      return;
    }
    this._focusComposer = !this.active;
    window.location.hash = "#/chat/new";
  }

  /** Copy the text of the last finished reply in the thread and say so; whether it was copied. */
  async copyLastReply() {
    const busy = ["streaming", "pending"];
    const turn = this.turns.findLast((one) => one.role === "assistant" && replyText(one) && !busy.includes(one.status));
    if (!turn) {
      toast({ kind: "info", title: t("chat.view.nothingToCopy") });
      return false;
    }
    const copied = await copyText(replyText(turn));
    if (copied) toast({ kind: "success", title: t("common.copied") });
    else toast({ kind: "error", title: t("chat.markdown.copyFailed") });
    return copied;
  }

  _onAction(event) {
    const { action, text } = event.detail;
    const element = event.target instanceof Element ? event.target.closest("chat-message") : null;
    const turn = element ? element.turn : null;
    if (action === "new-conversation") window.location.hash = "#/chat/new";
    else if (!turn) return;
    else if (action === "edit") this.replies.edit(turn, text);
    else if (action === "regenerate") this.replies.regenerate(turn);
    else if (action === "retry") this.replies.retry(turn);
    else if (action === "delete") this._tree.deleteTurn(turn);
  }

  _onDocumentKey(event) {
    if (event.key !== "Escape" || !this.active || !this.replies.current() || event.defaultPrevented) return;
    if (event.target instanceof Element && event.target.closest("dialog")) return;
    event.preventDefault();
    this.stop();
  }
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

customElements.define("chat-view", ChatView);
