// <conversation-sidebar>: the stored conversations beside the thread — pinned first, then by the
// local day they were last updated (Today, Yesterday, Previous 7 days, Older) — with "New
// conversation", search (Ctrl+K) and a collapse toggle.
//
// The list is updated in place (items are kept per id and only moved when the order changed),
// so a refresh after every "changed" event neither flickers nor loses the scroll position or
// the focus. Collapsing is remembered in localStorage. Below NARROW_QUERY the panel is an
// overlay drawer that starts closed: Esc, a click outside or opening a conversation closes it.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import {
  conversationEvents,
  conversationFromHash,
  conversationService,
  conversationsChanged,
} from "../services/conversation-service.js";
import { pendingDeletes } from "./conversation-undo.js";
import { openConversationSearch, SHORTCUT_LABEL } from "./search-dialog.js";
import { toast } from "./toast-region.js";
import "./conversation-item.js";

const PAGE = 50;
const MAX_PAGE = 200;
const COLLAPSED_KEY = "miaoda.sidebarCollapsed";
export const NARROW_QUERY = "(max-width: 899px)";

// The groups in the order they are listed, each with the key of its heading.
const GROUPS = {
  pinned: "chat.sidebar.groups.pinned",
  today: "chat.sidebar.groups.today",
  yesterday: "chat.sidebar.groups.yesterday",
  week: "chat.sidebar.groups.week",
  older: "chat.sidebar.groups.older",
};
const GROUP_ORDER = Object.keys(GROUPS);

/** The group key of `conversation` on the local calendar of `now`. */
export function groupOf(conversation, now = new Date()) {
  if (conversation.pinned) return "pinned";
  const updated = new Date(conversation.updatedAt);
  if (Number.isNaN(updated.getTime())) return "older";
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const day = new Date(updated.getFullYear(), updated.getMonth(), updated.getDate());
  const days = Math.round((today - day) / 86_400_000); // rounding absorbs a DST hour
  if (days <= 0) return "today";
  if (days === 1) return "yesterday";
  return days <= 7 ? "week" : "older";
}

export class ConversationSidebar extends HTMLElement {
  #conversations = []; // as listed: pinned first, then newest
  #nextCursor = null;
  #loaded = false;
  #failure = null;
  #seq = 0;
  #loadingMore = false;
  #items = new Map(); // id -> <conversation-item>
  #groups = new Map(); // key -> {section, list}
  #narrow = window.matchMedia(NARROW_QUERY);
  #open = false; // the drawer, when narrow
  #refreshQueued = false;
  #onChat = false;
  #panel;
  #scroll;
  #groupsEl;
  #state;
  #moreBtn;
  #toggles = [];
  #connection = null;

  connectedCallback() {
    // Listeners outside the element last while it is in the page (the shell builds the views
    // again when the language changes: the old sidebar must stop answering).
    this.#connection = new AbortController();
    const signal = this.#connection.signal;
    this.#narrow.addEventListener("change", () => this.#setOpen(false), { signal });
    conversationEvents.addEventListener("changed", () => this.refresh(), { signal });
    pendingDeletes.addEventListener("change", () => this.#render(), { signal });
    pendingDeletes.addEventListener("restored", (event) => this.#focusRestored(event.detail.id), { signal });
    window.addEventListener("hashchange", () => this.#onHash(), { signal });
    document.addEventListener(
      "visibilitychange",
      () => {
        if (document.visibilityState === "visible") this.refresh();
      },
      { signal },
    );
    document.addEventListener(
      "pointerdown",
      (event) => {
        if (this.#isDrawer() && this.#open && !this.contains(event.target)) this.#setOpen(false);
      },
      { signal },
    );
    if (!this.#panel) this.#build();
    this.#onChat = isChatHash();
    this.#layout();
    pendingDeletes.resume();
    this.refresh();
  }

  disconnectedCallback() {
    this.#connection.abort();
  }

  /** Reload the list (as many as are shown), keeping the items, the scroll and the focus. */
  refresh() {
    if (this.#refreshQueued) return;
    this.#refreshQueued = true;
    queueMicrotask(() => {
      this.#refreshQueued = false;
      this.#load();
    });
  }

  // --- building -------------------------------------------------------------------------

  #build() {
    this.classList.add("conv-sidebar");
    const panelId = uid("conv-panel");
    const toggle = (cls) => {
      const btn = h(
        "button",
        {
          type: "button",
          class: ["icon-btn", "conv-toggle", cls],
          "aria-controls": panelId,
          on: { click: () => this.#toggle() },
        },
        icon("sidebar", { size: 18 }),
      );
      this.#toggles.push(btn);
      return btn;
    };
    const newBtn = (cls, withLabel) =>
      h(
        "button",
        {
          type: "button",
          class: [withLabel ? "btn conv-new" : "icon-btn conv-new-icon", cls],
          title: t("chat.view.newTitle"),
          "aria-label": withLabel ? null : t("chat.view.newTitle"),
          on: { click: () => this.#newConversation() },
        },
        icon("new-chat", { size: 16 }),
        withLabel ? h("span", {}, t("chat.view.newTitle")) : null,
      );
    const searchLabel = t("chat.sidebar.searchLabel", { shortcut: SHORTCUT_LABEL });
    const searchIcon = h(
      "button",
      {
        type: "button",
        class: "icon-btn conv-search-icon",
        "aria-label": searchLabel,
        title: searchLabel,
        on: { click: () => openConversationSearch() },
      },
      icon("search", { size: 17 }),
    );
    const rail = h(
      "div",
      { class: "conv-rail" },
      toggle("conv-rail-toggle"),
      newBtn("conv-rail-new", false),
      searchIcon,
    );

    const searchBtn = h(
      "button",
      {
        type: "button",
        class: "conv-search",
        "aria-label": searchLabel,
        title: searchLabel,
        on: { click: () => openConversationSearch() },
      },
      icon("search", { size: 15 }),
      h("span", { class: "conv-search-text" }, t("chat.sidebar.search")),
      h("kbd", { class: "conv-kbd" }, SHORTCUT_LABEL),
    );
    const head = h(
      "header",
      { class: "conv-head" },
      h(
        "div",
        { class: "conv-head-row" },
        h("h2", { class: "conv-heading" }, t("chat.sidebar.heading")),
        toggle("conv-panel-toggle"),
      ),
      newBtn("conv-head-new", true),
      searchBtn,
    );
    this.#groupsEl = h("div", { class: "conv-groups" });
    this.#state = h("div", { class: "conv-state", hidden: true });
    this.#moreBtn = h(
      "button",
      { type: "button", class: "btn btn-sm btn-ghost conv-more", hidden: true, on: { click: () => this.#loadMore() } },
      t("chat.sidebar.more"),
    );
    this.#scroll = h(
      "nav",
      { class: "conv-scroll", "aria-label": t("chat.sidebar.heading") },
      this.#state,
      this.#groupsEl,
      this.#moreBtn,
    );
    this.#scroll.addEventListener("scroll", () => this.#maybeLoadMore(), { passive: true });
    this.#panel = h("div", { class: "conv-panel", id: panelId }, head, this.#scroll);
    this.#panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.#isDrawer() && this.#open) {
        event.preventDefault();
        event.stopPropagation();
        this.#setOpen(false, { focusToggle: true });
      }
    });
    this.addEventListener("conversation-rename", (event) => this.#rename(event.detail.id, event.detail.title));
    this.addEventListener("conversation-pin", (event) => this.#pin(event.detail.id, event.detail.pinned));
    this.addEventListener("conversation-delete", (event) => this.#delete(event.detail.id));
    this.append(rail, this.#panel);
  }

  // --- loading --------------------------------------------------------------------------

  async #load() {
    const seq = ++this.#seq;
    const want = Math.max(PAGE, this.#conversations.length);
    const got = [];
    let cursor = null;
    do {
      const result = await conversationService.list({
        limit: Math.min(MAX_PAGE, Math.max(PAGE, want - got.length)),
        ...(cursor ? { cursor } : {}),
      });
      if (seq !== this.#seq) return;
      if (!result.success) {
        this.#failure = result.error;
        this.#render();
        return;
      }
      got.push(...result.conversations);
      cursor = result.nextCursor || null;
    } while (cursor && got.length < want);
    this.#failure = null;
    this.#loaded = true;
    this.#conversations = unique(got);
    this.#nextCursor = cursor;
    this.#render();
    this.setAttribute("data-ready", "");
  }

  async #loadMore() {
    if (!this.#nextCursor || this.#loadingMore) return;
    this.#loadingMore = true;
    const seq = this.#seq;
    const result = await conversationService.list({ limit: PAGE, cursor: this.#nextCursor });
    this.#loadingMore = false;
    if (seq !== this.#seq || !result.success) return;
    this.#conversations = unique([...this.#conversations, ...result.conversations]);
    this.#nextCursor = result.nextCursor || null;
    this.#render();
  }

  #maybeLoadMore() {
    const el = this.#scroll;
    if (el.scrollHeight - el.scrollTop - el.clientHeight < 120) this.#loadMore();
  }

  // --- rendering ------------------------------------------------------------------------

  #render() {
    const shown = this.#conversations.filter((c) => !pendingDeletes.has(c.id));
    this.#renderState(shown.length);
    const now = new Date();
    const byGroup = new Map(GROUP_ORDER.map((key) => [key, []]));
    for (const c of shown) byGroup.get(groupOf(c, now)).push(c);
    const keep = new Set();
    let before = this.#groupsEl.firstElementChild;
    for (const key of GROUP_ORDER) {
      const members = byGroup.get(key);
      if (!members.length) continue;
      const group = this.#group(key);
      if (group.section !== before) this.#groupsEl.insertBefore(group.section, before);
      before = group.section.nextElementSibling;
      this.#fill(group.list, members, keep);
    }
    for (const [key, group] of this.#groups) {
      if (!byGroup.get(key).length) group.section.remove();
    }
    for (const [id, item] of this.#items) {
      if (!keep.has(id)) {
        item.remove();
        this.#items.delete(id);
      }
    }
    this.#moreBtn.hidden = !this.#nextCursor;
    this.#highlight();
  }

  #renderState(count) {
    let content = null;
    if (this.#failure && !this.#loaded) {
      content = [
        icon("alert", { size: 18 }),
        h("p", {}, t("chat.sidebar.loadFailed")),
        h("p", { class: "muted" }, this.#failure.message),
        h("button", { type: "button", class: "btn btn-sm", on: { click: () => this.refresh() } }, t("common.retry")),
      ];
    } else if (!this.#loaded) {
      content = [
        h("span", { class: "spinner", "aria-hidden": "true" }),
        h("span", { class: "muted" }, t("common.loading")),
      ];
    } else if (count === 0) {
      content = [
        icon("chat", { size: 22 }),
        h("p", { class: "conv-empty-title" }, t("chat.sidebar.empty")),
        h("p", { class: "muted" }, t("chat.sidebar.emptyHint")),
      ];
    }
    this.#state.hidden = !content;
    this.#state.classList.toggle("conv-empty", Boolean(this.#loaded && count === 0));
    if (content) replaceChildren(this.#state, content);
  }

  #group(key) {
    let group = this.#groups.get(key);
    if (!group) {
      const headingId = uid(`conv-group-${key}`);
      const list = h("div", { class: "conv-list", role: "list", "aria-labelledby": headingId });
      const section = h(
        "section",
        { class: ["conv-group", `conv-group-${key}`], dataset: { group: key } },
        h("h3", { class: "conv-group-title", id: headingId }, t(GROUPS[key])),
        list,
      );
      group = { section, list };
      this.#groups.set(key, group);
    }
    return group;
  }

  // Put `members` into `list` in order, moving an item only when it is out of place (a moved
  // node loses the focus and restarts its transitions).
  #fill(list, members, keep) {
    let before = list.firstElementChild;
    for (const c of members) {
      let item = this.#items.get(c.id);
      if (!item) {
        item = h("conversation-item");
        this.#items.set(c.id, item);
      }
      if (!item.editing || !item.conversation) item.conversation = c;
      keep.add(c.id);
      if (item !== before) list.insertBefore(item, before);
      before = item.nextElementSibling;
    }
    while (before) {
      const next = before.nextElementSibling;
      before.remove();
      before = next;
    }
  }

  #highlight() {
    const { id } = conversationFromHash();
    for (const [key, item] of this.#items) item.current = key === id;
  }

  // --- actions --------------------------------------------------------------------------

  #newConversation() {
    window.location.hash = "#/chat/new";
    this.#setOpen(false);
  }

  async #rename(id, title) {
    const result = await conversationService.update(id, { title });
    if (!result.success) toast({ kind: "error", title: t("chat.sidebar.renameFailed"), message: result.error.message });
    conversationsChanged(id);
  }

  async #pin(id, pinned) {
    const result = await conversationService.update(id, { pinned });
    if (!result.success) toast({ kind: "error", title: t("chat.sidebar.pinFailed"), message: result.error.message });
    else this.#replace(result.conversation);
    conversationsChanged(id);
    const item = this.#items.get(id);
    if (item) item.focus();
  }

  #delete(id) {
    const conversation = this.#conversations.find((c) => c.id === id);
    if (!conversation) return;
    const next = this.#neighbour(id);
    pendingDeletes.schedule(conversation);
    if (conversationFromHash().id === id) window.location.hash = "#/chat/new";
    if (next) next.focus();
    else this.querySelector(".conv-head-new")?.focus();
  }

  // The item to focus when `id` leaves the list: the next one, else the previous one.
  #neighbour(id) {
    const items = [...this.#groupsEl.querySelectorAll("conversation-item")];
    const at = items.findIndex((item) => item.dataset.id === id);
    return items[at + 1] || items[at - 1] || null;
  }

  #focusRestored(id) {
    this.#render();
    const item = this.#items.get(id);
    if (item && (document.activeElement === document.body || !document.activeElement)) item.focus();
  }

  #replace(conversation) {
    if (!conversation) return;
    this.#conversations = this.#conversations.map((c) => (c.id === conversation.id ? conversation : c));
    this.#conversations.sort((a, b) => Number(Boolean(b.pinned)) - Number(Boolean(a.pinned)));
    this.#render();
  }

  // --- collapse and drawer --------------------------------------------------------------

  #onHash() {
    const onChat = isChatHash();
    const arrived = onChat && !this.#onChat;
    this.#onChat = onChat;
    this.#highlight();
    if (arrived) this.refresh();
    if (this.#isDrawer() && this.#open) this.#setOpen(false);
  }

  #isDrawer() {
    return this.#narrow.matches;
  }

  #collapsed() {
    try {
      return window.localStorage.getItem(COLLAPSED_KEY) === "true";
    } catch {
      return false;
    }
  }

  #toggle() {
    if (this.#isDrawer()) return this.#setOpen(!this.#open, { focusToggle: this.#open });
    try {
      window.localStorage.setItem(COLLAPSED_KEY, String(!this.#collapsed()));
    } catch {
      /* not remembered, still toggled below */
    }
    this.#layout();
    const visible = this.#toggles.find((btn) => btn.getClientRects().length > 0);
    if (visible) visible.focus();
  }

  #setOpen(open, { focusToggle = false } = {}) {
    this.#open = open;
    this.#layout();
    if (open) this.querySelector(".conv-panel .conv-head-new")?.focus();
    else if (focusToggle) this.querySelector(".conv-rail-toggle")?.focus();
  }

  #layout() {
    const drawer = this.#isDrawer();
    const expanded = drawer ? this.#open : !this.#collapsed();
    this.toggleAttribute("data-collapsed", !expanded);
    this.toggleAttribute("data-drawer", drawer);
    this.#panel.inert = !expanded;
    for (const btn of this.#toggles) {
      btn.setAttribute("aria-expanded", String(expanded));
      const label = expanded ? t("chat.sidebar.hide") : t("chat.sidebar.show");
      btn.setAttribute("aria-label", label);
      btn.title = label;
    }
  }
}

function isChatHash() {
  return /^#\/?chat(?:[/?]|$)/.test(window.location.hash);
}

function unique(conversations) {
  const seen = new Set();
  return conversations.filter((c) => !seen.has(c.id) && seen.add(c.id));
}

customElements.define("conversation-sidebar", ConversationSidebar);
