// <chat-message-list>: the scrolling thread of <chat-message>s.
//
// Auto-scroll follows a streaming reply only while the reader is at the bottom: scrolling up
// (wheel, keys, scrollbar, touch) stops it, and coming back to the bottom — or the "Jump to
// latest" button that appears meanwhile — resumes it. Messages are appended and updated in
// place, never rebuilt, so what the reader is looking at does not move.
import { h } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import "./chat-message.js";

// Scrolled to within this many pixels of the end: following (fractions of a pixel at zoom).
const AT_END_PX = 2;
// The jump button only appears when more than this much is out of sight.
const NEAR_END_PX = 48;

export class ChatMessageList extends HTMLElement {
  constructor() {
    super();
    this._stick = true;
    this._lastTop = 0;
  }

  connectedCallback() {
    if (this._scroller) return;
    this.classList.add("chat-list");
    this._intro = h("div", { class: "chat-intro" });
    this._thread = h("div", { class: "chat-thread", role: "list", "aria-label": "Conversation" });
    this._scroller = h("div", { class: "chat-scroll", tabIndex: 0, "aria-label": "Messages" }, h("div", { class: "chat-column" }, this._intro, this._thread));
    this._jump = h("button", { type: "button", class: "btn jump-latest", hidden: true, on: { click: () => this.scrollToEnd({ smooth: true }) } }, icon("arrow-down", { size: 15 }), "Jump to latest");
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

  /** Append a <chat-message> for `turn`; returns it. */
  add(turn) {
    const message = h("chat-message", { role: "listitem" });
    message.turn = turn;
    this._thread.append(message);
    this._markLast();
    return message;
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
    if (smooth && !window.matchMedia("(prefers-reduced-motion: reduce)").matches) this._scroller.scrollTo({ top, behavior: "smooth" });
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
    this._updateJump();
  }

  _updateJump() {
    const gap = this._scroller.scrollHeight - this._scroller.clientHeight - this._scroller.scrollTop;
    this._jump.hidden = this._stick || gap <= NEAR_END_PX || this.empty;
  }

  _markLast() {
    const messages = [...this._thread.children];
    const lastReply = messages.filter((m) => m.turn && m.turn.role === "assistant").pop();
    for (const m of messages) if (m.turn && m.turn.role === "assistant") m.last = m === lastReply && m === messages[messages.length - 1];
  }
}

customElements.define("chat-message-list", ChatMessageList);
