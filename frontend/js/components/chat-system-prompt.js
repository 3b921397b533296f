// <chat-system-prompt>: the conversation's system prompt, at the top of the thread. Collapsed by
// default; its summary line says whether one is set and shows its start. Saved when the field
// loses the focus or on Enter (Shift+Enter starts a new line); Esc puts back the saved text.
//
// Event (bubbling): `system-prompt-change` {value}, only when the text really changed.
import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";

export class ChatSystemPrompt extends HTMLElement {
  constructor() {
    super();
    this._value = "";
  }

  connectedCallback() {
    if (this._details) return;
    const hintId = uid("system-hint");
    this._summary = h("span", { class: "system-summary-text" });
    this._state = h("span", { class: "system-state", role: "status" });
    this._input = h("textarea", {
      class: "input system-input",
      rows: 3,
      placeholder: t("chat.system.placeholder"),
      "aria-label": t("chat.system.title"),
      "aria-describedby": hintId,
    });
    this._input.addEventListener("keydown", (event) => this._onKey(event));
    this._input.addEventListener("blur", () => this._save());
    this._input.addEventListener("input", () => {
      this._state.textContent = "";
    });
    this._details = h(
      "details",
      { class: "system-prompt" },
      h(
        "summary",
        { class: "system-summary" },
        icon("sparkle", { size: 15 }),
        h("span", { class: "system-title" }, t("chat.system.title")),
        this._summary,
        icon("chevron", { size: 14, className: "system-chevron" }),
      ),
      h(
        "div",
        { class: "system-body" },
        this._input,
        h("p", { class: "system-hint", id: hintId }, t("chat.system.hint"), " ", this._state),
      ),
    );
    this._details.addEventListener("toggle", () => {
      if (this._details.open) this._input.focus();
    });
    this.append(this._details);
    this._sync();
  }

  /** The stored system prompt (set when a conversation opens; the field follows unless focused). */
  set value(text) {
    this._value = String(text || "");
    this._sync();
  }

  get value() {
    return this._value;
  }

  /** Open or close the field. */
  set open(value) {
    this._details.open = Boolean(value);
  }

  get open() {
    return this._details.open;
  }

  _sync() {
    if (!this._details) return;
    if (document.activeElement !== this._input) this._input.value = this._value;
    const line = this._value.replace(/\s+/g, " ").trim();
    this._summary.textContent = line || t("chat.system.none");
    this._summary.title = line;
    this.toggleAttribute("data-set", Boolean(line));
  }

  _onKey(event) {
    if (event.isComposing || event.keyCode === 229) return;
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      this._save();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this._input.value = this._value;
    }
  }

  _save() {
    const text = this._input.value.trim();
    if (text === this._value) return;
    this._value = text;
    this._sync();
    this._state.textContent = t("chat.system.saved");
    this.dispatchEvent(new CustomEvent("system-prompt-change", { bubbles: true, detail: { value: text } }));
  }
}

customElements.define("chat-system-prompt", ChatSystemPrompt);
