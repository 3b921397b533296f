// <provider-keys>: the provider form's keys beyond its "API key" field (API.md, Key pools).
// While no key is saved (adding, or editing a provider without one) it offers more key fields,
// sent with the form on save ("Add another key"). Once keys are saved it lists them — hint,
// state (cooling with a live countdown), last error, last use — with Re-enable, Remove (when
// there are several) and Add key, each applied at once through the bridge; then it emits
// "provider-keys-changed" ({detail: {provider}}). A key's text never comes back: only its hint.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { clockTime, formatDuration, fullTime, relativeTime } from "../lib/format.js";
import { KEY_STATES, currentKey, hasCountdown } from "../lib/key-pool.js";
import { providerService } from "../services/custom-provider-service.js";
import { confirmDialog } from "./confirm-dialog.js";

const MAX_KEYS = 32; // CONTRACT §10

export class ProviderKeys extends HTMLElement {
  constructor() {
    super();
    this.service = providerService;
    this._provider = null;
    this._timer = null;
    this._busy = false;
  }

  connectedCallback() {
    if (this._built) return;
    this._built = true;
    this.classList.add("field", "provider-keys");
    this._build();
    this.reset(null);
  }

  /** Start over for `provider` (null when adding): its saved keys, or extra key fields when none. */
  reset(provider) {
    this._stopTimer();
    this._provider = provider;
    replaceChildren(this._typedRows);
    this._addInput.value = "";
    this._setMessage("");
    this._render();
  }

  /** Whether the saved pool is shown (editing a provider that has keys). */
  get showsSaved() {
    return Boolean(this._provider && (this._provider.keys || []).length);
  }

  /** The extra key fields, in order (their values are sent after the "API key" field's). */
  get typedInputs() {
    return [...this._typedRows.querySelectorAll("input")];
  }

  /** Put a server message under one extra key field; returns the field (for focus). */
  setTypedError(input, text) {
    const row = input.closest(".typed-key");
    const msg = row && row.querySelector(".field-msg");
    if (!msg) return null;
    msg.textContent = text;
    input.setAttribute("aria-invalid", String(Boolean(text)));
    return input;
  }

  /** The dialog closed: no typed key may stay in a field, and the countdown stops. */
  stop() {
    this._stopTimer();
    for (const input of this.typedInputs) input.value = "";
    this._addInput.value = "";
  }

  // --- building -----------------------------------------------------------------------------

  _build() {
    this._typedRows = h("div", { class: "typed-keys" });
    this._moreBtn = h(
      "button",
      { type: "button", class: "btn btn-sm btn-ghost more-keys-btn", on: { click: () => this._addTypedRow() } },
      icon("plus", { size: 14 }),
      h("span", {}, t("providers.keys.addAnother")),
    );
    this._typedPart = h(
      "div",
      { class: "keys-typed" },
      this._typedRows,
      h("div", { class: "keys-more" }, this._moreBtn),
      h("p", { class: "field-help keys-typed-help" }, t("providers.keys.typedHelp")),
    );

    const listId = uid("keys-title");
    this._list = h("ul", { class: "key-list", "aria-labelledby": listId });
    this._addInput = h("input", {
      type: "password",
      class: "input",
      autocomplete: "new-password",
      spellcheck: false,
      placeholder: t("providers.keys.pasteAnother"),
      "aria-label": t("providers.keys.newKey"),
      id: uid("new-key"),
    });
    this._addInput.addEventListener("keydown", (event) => {
      // Enter here adds the key; it must not submit (save) the whole form.
      if (event.key === "Enter") {
        event.preventDefault();
        this._addKey();
      }
    });
    this._addInput.addEventListener("input", () => this._setMessage(""));
    this._addBtn = h(
      "button",
      { type: "button", class: "btn btn-sm add-key-btn", on: { click: () => this._addKey() } },
      icon("plus", { size: 14 }),
      h("span", {}, t("providers.keys.add")),
    );
    this._msg = h("p", { class: "field-msg", "aria-live": "polite", id: uid("new-key-msg") });
    this._addInput.setAttribute("aria-describedby", this._msg.id);
    this._title = h("span", { class: "field-label", id: listId });
    this._help = h("span", { class: "field-help" });
    this._savedPart = h(
      "div",
      { class: "keys-saved" },
      h("div", { class: "keys-head" }, this._title, this._help),
      this._list,
      h("div", { class: "control-row key-add" }, this._addInput, this._addBtn),
      this._msg,
    );
    this.append(this._typedPart, this._savedPart);
  }

  _addTypedRow() {
    const number = this.typedInputs.length + 2; // the form's own "API key" field is key 1
    if (number > MAX_KEYS) return;
    const msg = h("p", { class: "field-msg", "aria-live": "polite", id: uid("key-msg") });
    const input = h("input", {
      type: "password",
      class: "input",
      autocomplete: "new-password",
      spellcheck: false,
      placeholder: t("providers.keys.pasteAnother"),
      "aria-label": t("providers.keys.numbered", { number }),
      "aria-describedby": msg.id,
    });
    const removeLabel = t("providers.keys.removeNumbered", { number });
    const remove = h(
      "button",
      { type: "button", class: "icon-btn", "aria-label": removeLabel, title: removeLabel },
      icon("x", { size: 16 }),
    );
    const row = h("div", { class: "typed-key" }, h("div", { class: "control-row" }, input, remove), msg);
    remove.addEventListener("click", () => {
      row.remove();
      this._renumber();
      (this.typedInputs.at(-1) || this._moreBtn).focus();
    });
    input.addEventListener("input", () => this.setTypedError(input, ""));
    this._typedRows.append(row);
    this._moreBtn.disabled = number >= MAX_KEYS;
    input.focus();
  }

  _renumber() {
    this.typedInputs.forEach((input, index) => {
      const number = index + 2;
      input.setAttribute("aria-label", t("providers.keys.numbered", { number }));
      const remove = input.nextElementSibling;
      remove.setAttribute("aria-label", t("providers.keys.removeNumbered", { number }));
      remove.title = t("providers.keys.removeNumbered", { number });
    });
    this._moreBtn.disabled = this.typedInputs.length + 1 >= MAX_KEYS;
  }

  // --- the saved pool -----------------------------------------------------------------------

  _render() {
    const saved = this.showsSaved;
    this._typedPart.hidden = saved;
    this._savedPart.hidden = !saved;
    if (!saved) return this._stopTimer();
    const keys = this._provider.keys;
    this._title.textContent = t("providers.keys.saved", { count: keys.length });
    this._help.textContent = t(keys.length === 1 ? "providers.keys.savedHelp.one" : "providers.keys.savedHelp.several");
    this._addInput.disabled = this._busy || keys.length >= MAX_KEYS;
    this._addBtn.disabled = this._addInput.disabled;
    // Rows are rebuilt, so a focused button is found again by its key and its job.
    const focused = this._list.contains(document.activeElement) ? document.activeElement : null;
    const again = focused && {
      keyId: focused.closest(".key-row").dataset.keyId,
      className: focused.classList[focused.classList.length - 1],
    };
    const now = Date.now();
    replaceChildren(
      this._list,
      keys.map((key) => this._row(currentKey(key, now), now)),
    );
    if (again) this._focusRow(again.keyId, `.${again.className}`);
    this._tickIfNeeded();
  }

  /** One second on: the countdowns' texts in place, or the whole list when a wait ended. */
  _tick() {
    const now = Date.now();
    const rows = [...this._list.children];
    const keys = this._provider.keys.map((key) => currentKey(key, now));
    if (keys.some((k, i) => !rows[i] || rows[i].dataset.state !== k.state)) return this._render();
    keys.forEach((k, i) => {
      rows[i].querySelector(".key-state").textContent = stateLabel(k);
      rows[i].querySelector(".key-when").textContent = whenText(k, now);
    });
    this._tickIfNeeded();
  }

  _row(k, now) {
    const info = KEY_STATES[k.state] || KEY_STATES.active;
    const badge = h("span", { class: `badge key-state key-state-${k.state}`, title: t(info.help) }, stateLabel(k));
    const when = h("span", { class: "key-when muted" }, whenText(k, now));
    if (k.lastUsedAt) when.title = t("providers.keys.lastUsed", { when: fullTime(k.lastUsedAt) });
    const actions = [];
    if (k.state !== "active") {
      actions.push(
        h(
          "button",
          {
            type: "button",
            class: "btn btn-sm btn-ghost reset-key-btn",
            "aria-label": t("providers.keys.reenableLabel", { hint: k.hint }),
            disabled: this._busy,
            on: { click: () => this._reset(k) },
          },
          t("providers.keys.reenable"),
        ),
      );
    }
    // A single key is removed with the form's own "Remove key" (on save), as before pools.
    if (this._provider.keys.length > 1) {
      actions.push(
        h(
          "button",
          {
            type: "button",
            class: "btn btn-sm btn-ghost danger remove-saved-key-btn",
            "aria-label": t("providers.keys.removeLabel", { hint: k.hint }),
            disabled: this._busy,
            on: { click: () => this._remove(k) },
          },
          t("common.remove"),
        ),
      );
    }
    // A failure is shown while it keeps the key out of turn; an active key's old one is history.
    const error =
      k.state !== "active" && k.lastError
        ? h(
            "p",
            { class: "key-error" },
            h("code", { class: "error-code" }, k.lastError.code),
            " ",
            h("span", {}, k.lastError.message),
          )
        : null;
    return h(
      "li",
      { class: "key-row", dataset: { keyId: k.id, state: k.state } },
      h(
        "div",
        { class: "key-line" },
        h("code", { class: "key-hint" }, k.hint || t("providers.keys.hidden")),
        badge,
        when,
        h("span", { class: "key-actions" }, actions),
      ),
      error,
    );
  }

  // A cooling key counts down each second while the form is open; nothing is asked of the
  // backend meanwhile: the end of a wait is known from `until`.
  _tickIfNeeded() {
    const counting = hasCountdown(this._provider && this._provider.keys);
    if (counting && !this._timer) this._timer = setInterval(() => this._tick(), 1000);
    if (!counting) this._stopTimer();
  }

  _stopTimer() {
    if (this._timer) clearInterval(this._timer);
    this._timer = null;
  }

  async _addKey() {
    const key = this._addInput.value;
    if (!key) {
      this._setMessage(t("providers.keys.pasteFirst"));
      return this._addInput.focus();
    }
    const result = await this._apply(() => this.service.addKey(this._provider.id, key));
    if (result.success) {
      this._addInput.value = "";
      this._addInput.focus();
    } else {
      this._setMessage(((result.error.fields || {}).key || [result.error.message]).join(" "));
      this._addInput.focus();
    }
  }

  async _reset(key) {
    const result = await this._apply(() => this.service.resetKey(this._provider.id, key.id));
    if (!result.success) this._setMessage(result.error.message);
    this._focusRow(key.id, this._provider.keys.length > 1 ? ".remove-saved-key-btn" : ".reset-key-btn");
  }

  async _remove(key) {
    const ok = await confirmDialog({
      title: t("providers.keys.confirm.title", { hint: key.hint }),
      message: t("providers.keys.confirm.message"),
      confirmLabel: t("providers.keys.confirm.button"),
      danger: true,
    });
    if (!ok) return;
    const index = this._provider.keys.findIndex((k) => k.id === key.id);
    const result = await this._apply(() => this.service.removeKey(this._provider.id, key.id));
    if (!result.success) return this._setMessage(result.error.message);
    const next = this._provider.keys[Math.min(index, this._provider.keys.length - 1)];
    if (this._provider.keys.length > 1) this._focusRow(next.id, ".remove-saved-key-btn");
    else this._addInput.focus();
  }

  /** Run one key operation; on success show and announce the provider it returns. */
  async _apply(operation) {
    this._busy = true;
    this._setMessage("");
    this._render();
    const result = await operation();
    this._busy = false;
    if (result.success) {
      this._provider = result.provider;
      this.dispatchEvent(
        new CustomEvent("provider-keys-changed", { bubbles: true, detail: { provider: result.provider } }),
      );
    }
    this._render();
    return result;
  }

  _focusRow(keyId, selector) {
    const row = [...this._list.children].find((li) => li.dataset.keyId === keyId);
    const target = row && row.querySelector(selector);
    if (target) target.focus();
    else this._addInput.focus();
  }

  _setMessage(text) {
    this._msg.textContent = text;
    this._addInput.setAttribute("aria-invalid", String(Boolean(text)));
  }
}

/** "Cooling — 42 s" while a key waits; otherwise the state's word. */
function stateLabel(k) {
  const label = t((KEY_STATES[k.state] || KEY_STATES.active).label);
  return k.state === "cooling" && k.secondsLeft
    ? t("providers.keys.coolingFor", { state: label, wait: formatDuration(k.secondsLeft) })
    : label;
}

function whenText(k, now) {
  if (k.state === "exhausted" && k.until)
    return t("providers.keys.triedAgain", { time: clockTime(k.until), wait: formatDuration(k.secondsLeft || 0) });
  return k.lastUsedAt
    ? t("providers.keys.lastUsed", { when: relativeTime(k.lastUsedAt, now) })
    : t("providers.keys.notUsed");
}

customElements.define("provider-keys", ProviderKeys);
