// <chat-sibling-nav>: `‹ 2/3 ›` on a message that has siblings — the other versions an edit or a
// regenerate made. Hidden when the message is the only one of its kind.
//
// Event (bubbling): `sibling-switch` {id} with the sibling to show.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";

export class ChatSiblingNav extends HTMLElement {
  connectedCallback() {
    if (this._count) return;
    this.classList.add("sibling-nav");
    this._prev = h(
      "button",
      {
        type: "button",
        class: "sibling-btn sibling-prev",
        "aria-label": t("chat.siblings.previous"),
        title: t("chat.siblings.previous"),
      },
      "‹",
    );
    this._next = h(
      "button",
      {
        type: "button",
        class: "sibling-btn sibling-next",
        "aria-label": t("chat.siblings.next"),
        title: t("chat.siblings.next"),
      },
      "›",
    );
    this._count = h("span", { class: "sibling-count" });
    this._prev.addEventListener("click", () => this._go(-1));
    this._next.addEventListener("click", () => this._go(1));
    this.append(this._prev, this._count, this._next);
    this._sync();
  }

  /** `ids` in creation order, `current` the one shown; `disabled` while a reply streams. */
  show({ ids, current, disabled = false }) {
    this._ids = ids || [];
    this._current = current;
    this._disabled = disabled;
    this._sync();
  }

  _sync() {
    if (!this._count) return;
    const ids = this._ids || [];
    const at = ids.indexOf(this._current);
    this.hidden = ids.length < 2 || at < 0;
    if (this.hidden) return;
    const place = { current: at + 1, total: ids.length };
    this._count.textContent = t("chat.siblings.count", place);
    this._count.setAttribute("aria-label", t("chat.siblings.position", place));
    this._prev.disabled = this._disabled || at === 0;
    this._next.disabled = this._disabled || at === ids.length - 1;
  }

  _go(step) {
    const ids = this._ids || [];
    const target = ids[ids.indexOf(this._current) + step];
    if (target) this.dispatchEvent(new CustomEvent("sibling-switch", { bubbles: true, detail: { id: target } }));
  }
}

customElements.define("chat-sibling-nav", ChatSiblingNav);
