// <chat-reasoning>: the model's reasoning in a collapsible block.
//
// It opens while the reasoning streams, so the user sees the model is working, and closes
// itself once the answer starts (or the reply ends) — unless the user has opened or closed it
// by hand, which it then respects. The summary says how long the model thought.
import { h } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { formatMs } from "../lib/format.js";
import { t } from "../lib/i18n.js";

// Reasoning and answer that arrive together (one network read) give no real duration.
const MEASURABLE_MS = 100;

export class ChatReasoning extends HTMLElement {
  constructor() {
    super();
    this._userToggled = false;
  }

  connectedCallback() {
    if (this._details) return;
    this._label = h("span", { class: "reasoning-label" }, t("chat.reasoning.thinking"));
    this._text = h("div", { class: "reasoning-text" });
    this._details = h(
      "details",
      { class: "reasoning", open: true },
      h(
        "summary",
        { class: "reasoning-summary" },
        icon("brain", { size: 15 }),
        this._label,
        icon("chevron", { size: 14, className: "reasoning-chevron" }),
      ),
      this._text,
    );
    // A click on the summary (Enter and Space click it too) is the user's choice.
    this._details.firstElementChild.addEventListener("click", () => {
      this._userToggled = true;
    });
    this.append(this._details);
  }

  /** Show `text` (all the reasoning so far); `thinking` while it still streams; `ms` how long it took. */
  update({ text, thinking, ms }) {
    if (!this._details) this.connectedCallback();
    if (this._text.textContent !== text) {
      this._text.textContent = text;
      // While it streams the block has a fixed height: keep its newest line in view.
      if (thinking) this._text.scrollTop = this._text.scrollHeight;
    }
    this.classList.toggle("is-thinking", thinking);
    this._label.textContent = thinking
      ? t("chat.reasoning.thinking")
      : ms >= MEASURABLE_MS
        ? t("chat.reasoning.thoughtFor", { duration: formatMs(ms) })
        : t("chat.reasoning.done");
    if (!thinking && this._details.open && !this._userToggled) {
      this._details.open = false;
    }
  }
}

customElements.define("chat-reasoning", ChatReasoning);
