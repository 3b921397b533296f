// <chat-composer>: where the user writes. The textarea grows with its text (up to a limit,
// then scrolls); Enter sends, Shift+Enter starts a new line, and Enter while an input method is
// composing (Chinese, Japanese…) is left to the input method. While a reply streams, Send
// becomes Stop. Without a provider it is disabled and says why.
//
// Events (bubbling): `compose-send` {text}, `compose-stop`.
import { h } from "../lib/dom.js";
import { icon } from "../lib/icons.js";

const MAX_HEIGHT_PX = 220;

export class ChatComposer extends HTMLElement {
  constructor() {
    super();
    this._streaming = false;
    this._disabled = false;
  }

  connectedCallback() {
    if (this._input) return;
    this.classList.add("composer-host");
    this._input = h("textarea", {
      class: "composer-input",
      rows: 1,
      placeholder: "Message",
      "aria-label": "Message",
      spellcheck: true,
      autocomplete: "off",
    });
    this._input.addEventListener("input", () => this._changed());
    this._input.addEventListener("keydown", (event) => this._onKey(event));
    this._send = h(
      "button",
      { type: "submit", class: "composer-btn composer-send", "aria-label": "Send", title: "Send (Enter)" },
      icon("send", { size: 18 }),
    );
    this._stop = h(
      "button",
      { type: "button", class: "composer-btn composer-stop", "aria-label": "Stop", title: "Stop (Esc)", hidden: true },
      icon("stop", { size: 16 }),
      h("span", {}, "Stop"),
    );
    this._stop.addEventListener("click", () => this._emit("compose-stop"));
    this._form = h(
      "form",
      { class: "composer", on: { submit: (event) => this._submit(event) } },
      this._input,
      h("div", { class: "composer-buttons" }, this._send, this._stop),
    );
    this._hint = h(
      "p",
      { class: "composer-hint" },
      h("kbd", {}, "Enter"),
      " to send · ",
      h("kbd", {}, "Shift"),
      "+",
      h("kbd", {}, "Enter"),
      " for a new line",
    );
    this._form.addEventListener("click", (event) => {
      if (event.target === this._form) this._input.focus();
    });
    this.append(this._form, this._hint);
    this._sync();
  }

  /** True while a reply streams: Stop replaces Send. */
  set streaming(value) {
    const onButton =
      Boolean(this._form) && this._form.querySelector(".composer-buttons").contains(document.activeElement);
    this._streaming = Boolean(value);
    this._sync();
    // The focused button is about to be hidden: keep the keyboard in the composer, not lost.
    if (onButton) this._input.focus();
  }

  /** True when there is no provider to send to. */
  set disabled(value) {
    this._disabled = Boolean(value);
    this._sync();
  }

  set placeholder(text) {
    this._input.placeholder = text;
  }

  get value() {
    return this._input.value;
  }

  set value(text) {
    this._input.value = text;
    this._changed();
  }

  focus() {
    this._input.focus();
  }

  _onKey(event) {
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.isComposing || event.keyCode === 229) return; // the input method owns this Enter
    event.preventDefault();
    if (!this._streaming) this._form.requestSubmit();
  }

  _submit(event) {
    event.preventDefault();
    const text = this._input.value;
    if (this._streaming || this._disabled || !text.trim()) return;
    this._emit("compose-send", { text });
  }

  _changed() {
    this._grow();
    this._sync();
  }

  // Height follows the text: measure at the natural height, then cap it.
  _grow() {
    const input = this._input;
    input.style.height = "auto";
    // Not laid out (the view is hidden): measure once it shows instead of fixing a height of 0.
    if (!input.scrollHeight) return;
    const wanted = Math.min(input.scrollHeight, MAX_HEIGHT_PX);
    input.style.height = `${wanted}px`;
    input.classList.toggle("is-capped", input.scrollHeight > MAX_HEIGHT_PX);
  }

  _sync() {
    if (!this._input) return;
    this._input.disabled = this._disabled;
    this._send.hidden = this._streaming;
    this._stop.hidden = !this._streaming;
    this._send.disabled = this._disabled || !this._input.value.trim();
    this._form.classList.toggle("is-disabled", this._disabled);
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { bubbles: true, detail }));
  }
}

customElements.define("chat-composer", ChatComposer);
