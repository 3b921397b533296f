// <headers-editor>: rows of header name/value with add and remove. `value` is the headers
// object; `check()` marks problems and returns the first; `error` shows the server's message.
// Credential headers (isSecretHeader) are write-only like the API key: a saved one arrives as
// `null` with its hint in `secretHeaders` (set before `value`), shows an empty password field
// with the hint as placeholder, and is read back as `null` (keep) unless a value was typed.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { hints, isSecretHeader } from "../lib/provider-rules.js";

export class HeadersEditor extends HTMLElement {
  connectedCallback() {
    if (this._rows) return;
    this.classList.add("kv-editor");
    this._rows = h("div", { class: "kv-rows" });
    this._empty = h("p", { class: "muted kv-empty" }, t("providers.headers.empty"));
    this._message = h("p", { class: "field-msg", id: uid("headers-msg"), "aria-live": "polite" });
    const add = h(
      "button",
      { type: "button", class: "btn btn-sm btn-ghost", on: { click: () => this.addRow("", "", true) } },
      icon("plus", { size: 16 }),
      t("providers.headers.add"),
    );
    this.append(this._empty, this._rows, h("div", { class: "kv-footer" }, add), this._message);
    if (this._pending) this.value = this._pending;
  }

  get value() {
    const out = {};
    for (const row of this._rowsList()) {
      const name = row.nameInput.value.trim();
      if (!name) continue;
      const kept = row.saved && row.saved.toLowerCase() === name.toLowerCase() && !row.valueInput.value;
      out[name] = kept ? null : row.valueInput.value;
    }
    return out;
  }

  /** The saved provider's `secretHeaders` ({name: {hasValue, hint}}), or null. */
  set secretHeaders(info) {
    this._secret = info || {};
  }

  set value(headers) {
    if (!this._rows) {
      this._pending = headers;
      return;
    }
    replaceChildren(this._rows);
    for (const [name, value] of Object.entries(headers || {})) {
      const row = this.addRow(name, value ?? "", false);
      if (value === null) this._markSaved(row, name);
    }
    this._sync();
    this.error = "";
  }

  /** The first problem (also shown), or null. */
  check() {
    const seen = new Set();
    let first = null;
    for (const row of this._rowsList()) {
      const name = row.nameInput.value.trim();
      const problem = hints.header(name, row.valueInput.value, seen);
      if (name) seen.add(name.toLowerCase());
      row.nameInput.setAttribute("aria-invalid", String(Boolean(problem)));
      if (problem && !first) first = { problem, input: row.nameInput };
    }
    this.error = first ? first.problem : "";
    return first;
  }

  set error(message) {
    this._message.textContent = message || "";
    this.classList.toggle("has-error", Boolean(message));
  }

  get messageId() {
    return this._message.id;
  }

  focusFirst() {
    const row = this._rowsList()[0];
    if (row) row.nameInput.focus();
  }

  addRow(name, value, focus) {
    const index = this._rows.childElementCount + 1;
    const nameInput = h("input", {
      type: "text",
      class: "input mono",
      value: name,
      placeholder: "Header-Name",
      spellcheck: false,
      autocomplete: "off",
      "aria-label": t("providers.headers.name", { index }),
      "aria-describedby": this._message.id,
    });
    const valueInput = h("input", {
      type: "text",
      class: "input mono",
      value,
      placeholder: t("providers.headers.valuePlaceholder"),
      spellcheck: false,
      autocomplete: "off",
      "aria-label": t("providers.headers.value", { index }),
    });
    const remove = h(
      "button",
      {
        type: "button",
        class: "icon-btn",
        "aria-label": t("providers.headers.remove", { index }),
        title: t("providers.headers.removeTitle"),
      },
      icon("x", { size: 16 }),
    );
    const row = h("div", { class: "kv-row" }, nameInput, valueInput, remove);
    row.nameInput = nameInput;
    row.valueInput = valueInput;
    // A credential header's value is typed like a password and never shown again once saved.
    const mask = () => {
      valueInput.type = isSecretHeader(nameInput.value) ? "password" : "text";
    };
    nameInput.addEventListener("input", mask);
    mask();
    remove.addEventListener("click", () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      this._sync();
      this.dispatchEvent(new Event("input", { bubbles: true }));
      if (next) next.nameInput.focus();
      else this.querySelector(".kv-footer button").focus();
    });
    this._rows.append(row);
    this._sync();
    if (focus) nameInput.focus();
    return row;
  }

  _markSaved(row, name) {
    const info = (this._secret || {})[name] || {};
    row.saved = name;
    row.valueInput.type = "password";
    row.valueInput.placeholder = info.hasValue
      ? t("providers.headers.saved", { hint: info.hint || t("providers.keys.hidden") })
      : t("providers.headers.notSaved");
  }

  _rowsList() {
    return [...this._rows.children];
  }

  _sync() {
    this._empty.hidden = this._rows.childElementCount > 0;
    this._rowsList().forEach((row, i) => {
      row.nameInput.setAttribute("aria-label", t("providers.headers.name", { index: i + 1 }));
      row.valueInput.setAttribute("aria-label", t("providers.headers.value", { index: i + 1 }));
      row.querySelector("button").setAttribute("aria-label", t("providers.headers.remove", { index: i + 1 }));
    });
  }
}

customElements.define("headers-editor", HeadersEditor);
