// <chat-message-list>: the scrolling thread of <chat-message>s.
//
// A long conversation opens at its end without building every message: `show(turns)` renders
// the last TAIL messages (or from a message asked for), and earlier ones arrive PAGE at a time
// as the reader scrolls near the top, the view held still while they are added above. Markdown
// for 2,000 messages would take seconds; the tail takes milliseconds
// (bench/bench_open_conversation.py).
//
// Auto-scroll follows a streaming reply only while the reader is at the bottom: scrolling up
// (wheel, keys, scrollbar, touch) stops it, and coming back to the bottom — or the "Jump to
// latest" button that appears meanwhile — resumes it. Messages are appended and updated in
// place, never rebuilt, so what the reader is looking at does not move.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import "./chat-message.js";

// Scrolled to within this many pixels of the end: following (fractions of a pixel at zoom).
const AT_END_PX = 2;
// The jump button only appears when more than this much is out of sight.
const NEAR_END_PX = 48;
// Messages rendered when a conversation opens, and added per step when scrolling up.
const TAIL = 40;
const PAGE = 40;
// Closer than this to the top: add the earlier messages.
const NEAR_TOP_PX = 600;

export class ChatMessageList extends HTMLElement {
  constructor() {
    super();
    this._stick = true;
    this._lastTop = 0;
    this._hidden = []; // earlier turns not rendered yet (oldest first)
    this._locked = false;
  }

  connectedCallback() {
    if (this._scroller) return;
    this.classList.add("chat-list");
    this._intro = h("div", { class: "chat-intro" });
    this._top = h("div", { class: "chat-top" });
    this._thread = h("div", { class: "chat-thread", role: "list", "aria-label": t("chat.list.thread") });
    this._earlier = h(
      "button",
      { type: "button", class: "btn btn-sm chat-earlier", hidden: true, on: { click: () => this._revealEarlier() } },
      t("chat.list.earlier"),
    );
    this._scroller = h(
      "div",
      { class: "chat-scroll", tabIndex: 0, "aria-label": t("chat.list.messages") },
      h("div", { class: "chat-column" }, this._top, this._intro, this._earlier, this._thread),
    );
    this._jump = h(
      "button",
      {
        type: "button",
        class: "btn jump-latest",
        hidden: true,
        on: { click: () => this.scrollToEnd({ smooth: true }) },
      },
      icon("arrow-down", { size: 15 }),
      t("chat.list.jump"),
    );
    this._scroller.addEventListener("scroll", () => this._onScroll(), { passive: true });
    // When the view is resized (window, composer growing), keep the end in view if we follow it.
    this._resize = new ResizeObserver(() => this.follow());
    this._resize.observe(this._scroller);
    this.append(this._scroller, this._jump);
  }

  /** The element shown above the thread when it is empty (welcome, no providers, failure). */
  set intro(node) {
    this._intro.replaceChildren(...(node ? [node] : []));
  }

  /** What sits at the top of the thread, scrolling with it (the system prompt). */
  set top(node) {
    this._top.replaceChildren(...(node ? [node] : []));
  }

  /**
   * Show `turns` (a whole path) in place of what was shown: the last TAIL of them, or from
   * `fromId` on when that message is further up. Scrolls to the end (or leaves it to the caller).
   */
  show(turns, { fromId = null } = {}) {
    const at = fromId ? turns.findIndex((t) => t.id === fromId) : -1;
    const start = Math.max(0, Math.min(at >= 0 ? at : turns.length, turns.length - TAIL));
    this._hidden = turns.slice(0, start);
    this._thread.replaceChildren(...turns.slice(start).map((turn) => this._message(turn)));
    this._earlier.hidden = this._hidden.length === 0;
    this._markLast();
  }

  /** Append a <chat-message> for `turn`; returns it. */
  add(turn) {
    const message = this._message(turn);
    this._thread.append(message);
    this._markLast();
    return message;
  }

  /** Whether a reply streams in this conversation (messages then offer no edit or switch). */
  set locked(value) {
    this._locked = Boolean(value);
    for (const message of this._thread.children) message.locked = this._locked;
  }

  /** The <chat-message> of the message `id`, if rendered. */
  messageById(id) {
    return [...this._thread.children].find((m) => m.turn && m.turn.id === id) || null;
  }

  /** Remove `message` and every message after it. */
  removeFrom(message) {
    while (message && message.parentNode === this._thread) {
      const next = message.nextElementSibling;
      message.remove();
      message = next;
    }
    this._markLast();
  }

  /** Scroll `message` into the middle of the view and mark it for a moment. */
  reveal(message) {
    this._stick = false;
    message.scrollIntoView({ block: "center" });
    message.classList.remove("is-highlighted");
    void message.offsetWidth; // restart the animation when shown twice
    message.classList.add("is-highlighted");
    message.addEventListener("animationend", () => message.classList.remove("is-highlighted"), { once: true });
    this._lastTop = this._scroller.scrollTop;
    this._updateJump();
  }

  _message(turn) {
    const message = h("chat-message", { role: "listitem" });
    message.turn = turn;
    message.locked = this._locked;
    return message;
  }

  // Add the PAGE turns before the first one shown, keeping what the reader sees where it is.
  _revealEarlier() {
    if (!this._hidden.length) return;
    const before = this._scroller.scrollHeight;
    const top = this._scroller.scrollTop;
    const start = Math.max(0, this._hidden.length - PAGE);
    const turns = this._hidden.slice(start);
    this._hidden = this._hidden.slice(0, start);
    this._thread.prepend(...turns.map((turn) => this._message(turn)));
    this._earlier.hidden = this._hidden.length === 0;
    this._scroller.scrollTop = top + (this._scroller.scrollHeight - before);
    this._lastTop = this._scroller.scrollTop;
  }

  /** Remove the message of `turn`. */
  remove(turn) {
    const message = this.messageFor(turn);
    if (message) message.remove();
    this._markLast();
  }

  /** The <chat-message> showing `turn`, if any. */
  messageFor(turn) {
    return [...this._thread.children].find((m) => m.turn === turn) || null;
  }

  /** Remove every message. */
  clear() {
    this._thread.replaceChildren();
    this._hidden = [];
    this._earlier.hidden = true;
    this._stick = true;
    this._jump.hidden = true;
  }

  get empty() {
    return this._thread.childElementCount === 0;
  }

  /** After content grew: stay at the end if the reader is following it. */
  follow() {
    if (this._stick) this._toEnd(false);
    else this._updateJump();
  }

  /** Scroll to the newest message and follow it from now on. */
  scrollToEnd({ smooth = false } = {}) {
    this._stick = true;
    this._jump.hidden = true;
    this._toEnd(smooth);
  }

  _toEnd(smooth) {
    const top = this._scroller.scrollHeight - this._scroller.clientHeight;
    if (smooth && !window.matchMedia("(prefers-reduced-motion: reduce)").matches)
      this._scroller.scrollTo({ top, behavior: "smooth" });
    else this._scroller.scrollTop = top;
  }

  _onScroll() {
    const top = this._scroller.scrollTop;
    const gap = this._scroller.scrollHeight - this._scroller.clientHeight - top;
    // At the very end (or clamped there when content above shrank): follow. Any move up that
    // leaves the end is the reader's, however small (a trackpad moves a few pixels at a time).
    if (gap <= AT_END_PX) this._stick = true;
    else if (top < this._lastTop) this._stick = false;
    this._lastTop = top;
    if (top < NEAR_TOP_PX && this._hidden.length) this._revealEarlier();
    this._updateJump();
  }

  _updateJump() {
    const gap = this._scroller.scrollHeight - this._scroller.clientHeight - this._scroller.scrollTop;
    this._jump.hidden = this._stick || gap <= NEAR_END_PX || this.empty;
  }

  _markLast() {
    const messages = [...this._thread.children];
    const lastReply = messages.filter((m) => m.turn && m.turn.role === "assistant").pop();
    for (const m of messages)
      if (m.turn && m.turn.role === "assistant") m.last = m === lastReply && m === messages[messages.length - 1];
  }
}

customElements.define("chat-message-list", ChatMessageList);
