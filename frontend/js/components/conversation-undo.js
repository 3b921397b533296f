// Deleting a conversation with a way back. A delete on the server cannot be undone, so the
// sidebar defers it: the conversation leaves the list at once and a toast offers "Undo" for
// UNDO_MS; only when the toast expires (or is dismissed) is `deleteConversation` called, and
// the composer draft kept for that conversation goes with it.
//
// The page may go away inside that window (reload, window closed). The pending deletes are
// written to localStorage, an attempt is made on `pagehide`, and a later page finishes any that
// are still recorded: the user asked for the delete and the chance to undo it ended with the
// page. A delete is never lost, and never done while "Undo" is still on screen.
//
// Every tab of the app shares that localStorage, so each record names its owner (TAB, this
// page) and a deadline the owner moves forward every HEARTBEAT_MS while its toast is up. Every
// tab hides a pending conversation, but only the owner offers Undo or deletes it. Another tab,
// or a fresh load, deletes it only once the owner is gone: it released the record on
// `pagehide`, or its deadline is GRACE_MS past (a crashed or discarded tab sends nothing; the
// grace covers a busy or throttled one). A page put in the back/forward cache also deletes on
// `pagehide`; if it comes back (`pageshow` persisted), its toasts are stale and are dropped.
//
// `pendingDeletes` fires "change" when the set of hidden conversations changes, and "restored"
// ({detail: {id}}) after an undo.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { saveDraft } from "../lib/chat-store.js";
import { conversationService, conversationsChanged } from "../services/conversation-service.js";
import { toast } from "./toast-region.js";

export const UNDO_MS = 8000;
const HEARTBEAT_MS = 2000;
const GRACE_MS = 10000;
const STORE_KEY = "miaoda.pendingConversationDeletes";
/** This page, as the owner of the deletes it started (a reload is another page). */
const TAB = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

class PendingDeletes extends EventTarget {
  #entries = new Map(); // id -> {title, toast}: this page's own pending deletes
  #committing = new Set();
  #heartbeat = 0;
  #orphanTimer = 0;

  constructor() {
    super();
    window.addEventListener("pagehide", () => this.#release());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) this.#restoredFromCache();
    });
    window.addEventListener("storage", (event) => {
      if (event.key === STORE_KEY || event.key === null) this.#storedElsewhere(event);
    });
  }

  /** True while `id` waits for an undo window, here or in another tab, to end (lists hide it). */
  has(id) {
    return this.#entries.has(id) || this.#records().some((r) => r.id === id);
  }

  /** Hide `conversation` now and delete it when the undo window ends. */
  schedule(conversation) {
    if (this.#entries.has(conversation.id)) return;
    const entry = { title: conversation.title || "" };
    this.#entries.set(conversation.id, entry);
    this.#claim();
    entry.toast = undoToasts().add(entry.title, {
      onUndo: () => this.undo(conversation.id),
      onExpire: () => this.commit(conversation.id),
    });
    this.#changed();
  }

  /** Keep `id`: it shows again in the list. */
  undo(id) {
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#entries.delete(id);
    entry.toast.remove();
    this.#forget(id);
    this.#changed();
    this.dispatchEvent(new CustomEvent("restored", { detail: { id } }));
    conversationsChanged(id); // the list from the server: another tab may have changed it
  }

  /** Delete `id` on the server now. */
  async commit(id) {
    if (this.#committing.has(id)) return;
    this.#committing.add(id);
    const entry = this.#entries.get(id);
    if (entry) entry.toast.remove();
    const result = await conversationService.remove(id);
    this.#committing.delete(id);
    this.#entries.delete(id);
    this.#forget(id); // done, or failed and shown again with the reason
    if (result.success || result.error.code === "NOT_FOUND")
      saveDraft(id, ""); // unsent text goes with it
    else toast({ kind: "error", title: t("chat.undo.failed"), message: result.error.message });
    this.#changed();
    conversationsChanged(id);
  }

  /** Finish the deletes whose owner is gone; look again when the next live owner's grace ends. */
  resume() {
    window.clearTimeout(this.#orphanTimer);
    const now = Date.now();
    let next = Infinity;
    for (const record of this.#records()) {
      if (this.#entries.has(record.id)) continue; // ours (its toast is up)
      const orphanedAt = record.until + GRACE_MS;
      if (orphanedAt <= now) this.commit(record.id);
      else next = Math.min(next, orphanedAt);
    }
    if (next !== Infinity) this.#orphanTimer = window.setTimeout(() => this.resume(), next - now + 100);
  }

  // The page is going away, maybe for good: delete now (the request may not get out), and
  // release the records so the next page finishes them without waiting for the grace.
  #release() {
    if (!this.#entries.size) return;
    window.clearInterval(this.#heartbeat); // a page back from the cache must not renew them
    this.#heartbeat = 0;
    for (const id of this.#entries.keys()) {
      conversationService.remove(id);
      saveDraft(id, "");
    }
    const ours = new Set(this.#entries.keys());
    this.#write(this.#records().map((r) => (ours.has(r.id) ? { ...r, until: 0 } : r)));
  }

  // Back from the back/forward cache: the deletes were sent on `pagehide`, so the toasts offer
  // an Undo that no longer exists. Finish them (a lost request is sent again) and reload lists.
  #restoredFromCache() {
    for (const id of [...this.#entries.keys()]) this.commit(id);
    this.resume();
    conversationsChanged();
  }

  // Another tab changed the records: show or hide what it scheduled or undid, record ours
  // again if its write dropped them (two tabs writing at once), and finish any orphans. Only a
  // missing record is written back: rewriting on every event would echo between the tabs.
  #storedElsewhere(event) {
    const ids = (value) =>
      parse(value)
        .map((r) => r.id)
        .sort()
        .join("\n");
    const stored = new Set(this.#records().map((r) => r.id));
    if ([...this.#entries.keys()].some((id) => !stored.has(id))) this.#claim();
    if (event.key === null || ids(event.oldValue) !== ids(event.newValue)) this.#changed();
    this.resume();
  }

  // Record this page's pending deletes with a fresh deadline; renewed every HEARTBEAT_MS while
  // any is pending.
  #claim() {
    const until = Date.now() + HEARTBEAT_MS;
    const others = this.#records().filter((r) => !this.#entries.has(r.id));
    const ours = [...this.#entries.keys()].map((id) => ({ id, owner: TAB, until }));
    this.#write([...others, ...ours]);
    this.#pulse();
  }

  #pulse() {
    if (this.#entries.size && !this.#heartbeat) this.#heartbeat = window.setInterval(() => this.#claim(), HEARTBEAT_MS);
    else if (!this.#entries.size && this.#heartbeat) {
      window.clearInterval(this.#heartbeat);
      this.#heartbeat = 0;
    }
  }

  #forget(id) {
    this.#write(this.#records().filter((r) => r.id !== id));
    this.#pulse();
  }

  #records() {
    try {
      return parse(window.localStorage.getItem(STORE_KEY));
    } catch {
      return [];
    }
  }

  #write(records) {
    try {
      if (records.length) window.localStorage.setItem(STORE_KEY, JSON.stringify(records));
      else window.localStorage.removeItem(STORE_KEY);
    } catch {
      /* storage full or blocked: the delete still happens when the toast expires */
    }
  }

  #changed() {
    this.dispatchEvent(new Event("change"));
  }
}

/** The `{id, owner, until}` records in a stored value; anything malformed is left out. */
function parse(value) {
  try {
    const records = JSON.parse(value || "[]");
    if (!Array.isArray(records)) return [];
    return records.filter(
      (r) => r && typeof r.id === "string" && typeof r.owner === "string" && Number.isFinite(r.until),
    );
  } catch {
    return [];
  }
}

/** The page's pending deletes. */
export const pendingDeletes = new PendingDeletes();

// --- the toasts -----------------------------------------------------------------------------

// <conversation-undo-toasts>: the "Conversation deleted — Undo" toasts, bottom left, beside the
// sidebar the delete came from (the other toasts are bottom right).
export class UndoToasts extends HTMLElement {
  connectedCallback() {
    this.classList.add("undo-toasts");
    this.setAttribute("role", "status");
    this.setAttribute("aria-live", "polite");
  }

  /**
   * Show one; returns `{remove()}`. The timer pauses while the pointer or focus is on it, but
   * not while the page is hidden: nobody reads it then, and a hidden tab's timers may be
   * throttled until its heartbeat lags past the other tabs' grace.
   */
  add(title, { onUndo, onExpire }) {
    let timer = 0;
    let running = false;
    let left = UNDO_MS;
    let startedAt = 0;
    const undo = h(
      "button",
      { type: "button", class: "btn btn-sm undo-btn", on: { click: () => onUndo() } },
      icon("undo", { size: 15 }),
      t("common.undo"),
    );
    const close = h(
      "button",
      {
        type: "button",
        class: "icon-btn undo-close",
        "aria-label": t("chat.undo.dismiss"),
        title: t("chat.undo.dismiss"),
        on: { click: () => expire() },
      },
      icon("x", { size: 15 }),
    );
    const el = h(
      "div",
      { class: "undo-toast" },
      h("span", { class: "undo-icon" }, icon("trash", { size: 16 })),
      h(
        "span",
        { class: "undo-text" },
        h("strong", {}, t("chat.undo.deleted")),
        title ? h("span", { class: "undo-title" }, title) : null,
      ),
      undo,
      close,
      h("span", { class: "undo-timer", "aria-hidden": "true" }),
    );
    const start = () => {
      if (running) return;
      running = true;
      startedAt = Date.now();
      timer = window.setTimeout(expire, left);
      el.classList.remove("is-paused");
    };
    const stop = () => {
      if (!running || document.hidden) return;
      running = false;
      window.clearTimeout(timer);
      left = Math.max(0, left - (Date.now() - startedAt));
      el.classList.add("is-paused");
    };
    const onVisibility = () => {
      if (document.hidden) start();
    };
    const remove = () => {
      window.clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
      el.remove();
    };
    const expire = () => {
      remove();
      onExpire();
    };
    el.addEventListener("mouseenter", stop);
    el.addEventListener("mouseleave", start);
    el.addEventListener("focusin", stop);
    el.addEventListener("focusout", (event) => {
      if (!el.contains(event.relatedTarget)) start();
    });
    document.addEventListener("visibilitychange", onVisibility);
    this.append(el);
    start();
    return { remove };
  }
}

customElements.define("conversation-undo-toasts", UndoToasts);

function undoToasts() {
  let region = document.querySelector("conversation-undo-toasts");
  if (!region) {
    region = h("conversation-undo-toasts");
    document.body.append(region);
  }
  return region;
}
