// <chat-composer>: where the user writes. The textarea grows with its text (up to a limit,
// then scrolls). The send key is a setting (`sendKey`, docs/API.md "Settings"): with "enter",
// Enter sends and Shift+Enter starts a new line; with "ctrl-enter", Ctrl+Enter (Cmd+Enter on a
// Mac) sends and Enter starts a new line. Ctrl/Cmd+Enter sends with either. The hint under the
// field says which, and follows a change of the setting at once. Enter while an input method
// is composing (Chinese, Japanese…) is left to the input method. While a reply streams, Send
// becomes Stop. Without a provider it is disabled and says why.
//
// Events (bubbling): `compose-send` {text}, `compose-stop`.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { sendKeys } from "../lib/shortcuts.js";
import { settingsService } from "../services/settings-service.js";

const MAX_HEIGHT_PX = 220;

/** The send key in effect: "enter" (the default) or "ctrl-enter". */
export function sendKey() {
  return settingsService.current?.sendKey === "ctrl-enter" ? "ctrl-enter" : "enter";
}

/**
 * Whether `event` (a keydown in a text field) asks to send with the send key in effect; an
 * Enter that belongs to an input method never does.
 */
export function isSendKeystroke(event, key = sendKey()) {
  if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return false;
  if (event.shiftKey || event.altKey) return false;
  const mod = event.ctrlKey || event.metaKey;
  return mod || key === "enter";
}

export class ChatComposer extends HTMLElement {
  constructor() {
    super();
    this._streaming = false;
    this._disabled = false;
  }

  connectedCallback() {
    this._stopListening = settingsService.onChange(() => this._showSendKey());
    if (this._input) {
      this._showSendKey(); // changed while away
      return;
    }
    this.classList.add("composer-host");
    this._input = h("textarea", {
      class: "composer-input",
      rows: 1,
      placeholder: t("chat.composer.label"),
      "aria-label": t("chat.composer.label"),
      spellcheck: true,
      autocomplete: "off",
    });
    this._input.addEventListener("input", () => this._changed());
    this._input.addEventListener("keydown", (event) => this._onKey(event));
    this._send = h(
      "button",
      { type: "submit", class: "composer-btn composer-send", "aria-label": t("chat.composer.send") },
      icon("send", { size: 18 }),
    );
    this._stop = h(
      "button",
      {
        type: "button",
        class: "composer-btn composer-stop",
        "aria-label": t("chat.composer.stop"),
        title: t("chat.composer.stopHelp"),
        hidden: true,
      },
      icon("stop", { size: 16 }),
      h("span", {}, t("chat.composer.stop")),
    );
    this._stop.addEventListener("click", () => this._emit("compose-stop"));
    this._form = h(
      "form",
      { class: "composer", on: { submit: (event) => this._submit(event) } },
      this._input,
      h("div", { class: "composer-buttons" }, this._send, this._stop),
    );
    this._hint = h("p", { class: "composer-hint" });
    this._form.addEventListener("click", (event) => {
      if (event.target === this._form) this._input.focus();
    });
    this.append(this._form, this._hint);
    this._showSendKey();
    this._sync();
  }

  disconnectedCallback() {
    this._stopListening();
  }

  // The hint and the Send button's tooltip name the send key in effect.
  _showSendKey() {
    const key = sendKey();
    const keys = sendKeys(key);
    this.dataset.sendKey = key;
    this._send.title = t("chat.composer.sendHelp", { keys: keys.send });
    this._hint.replaceChildren(...withKeys(t("chat.composer.hint"), { send: keys.send, newline: keys.newLine }));
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
    if (!isSendKeystroke(event)) return; // a new line (or the input method's Enter)
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

// `text` with each {name} placeholder replaced by a <kbd> of `keys.name` ("Ctrl+Enter").
function withKeys(text, keys) {
  return text
    .split(/\{(\w+)\}/)
    .map((part, index) => (index % 2 ? h("kbd", {}, keys[part] ?? part) : part))
    .filter((part) => part !== "");
}

customElements.define("chat-composer", ChatComposer);
