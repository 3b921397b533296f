// <mcp-pairs-editor>: name/value rows for a tool server's environment variables (`kind` "env")
// or HTTP headers (`kind` "headers"). The values are secrets, write-only like an API key: typed
// into password fields, and a saved one arrives as `null` with its hint (`secretEnv` /
// `secretHeaders`: [{name, hint}]), shows an empty field with the hint as placeholder, and is
// read back as `null` (keep it) unless something was typed. A header the server sends back
// with its value (not a secret) is shown and edited as text.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";

const WORDS = {
  env: {
    empty: "mcp.pairs.env.empty",
    add: "mcp.pairs.env.add",
    name: "mcp.pairs.env.name",
    value: "mcp.pairs.env.value",
    remove: "mcp.pairs.env.remove",
    placeholder: "API_TOKEN",
  },
  headers: {
    empty: "mcp.pairs.headers.empty",
    add: "mcp.pairs.headers.add",
    name: "mcp.pairs.headers.name",
    value: "mcp.pairs.headers.value",
    remove: "mcp.pairs.headers.remove",
    placeholder: "Authorization",
  },
};

export class McpPairsEditor extends HTMLElement {
  constructor() {
    super();
    this._kind = "env";
    this._hints = new Map();
  }

  connectedCallback() {
    if (this._rows) return;
    this.classList.add("kv-editor", "mcp-pairs");
    const words = WORDS[this._kind];
    this._rows = h("div", { class: "kv-rows" });
    this._empty = h("p", { class: "muted kv-empty" }, t(words.empty));
    this._message = h("p", { class: "field-msg", id: uid("pairs-msg"), "aria-live": "polite" });
    this._add = h(
      "button",
      { type: "button", class: "btn btn-sm btn-ghost", on: { click: () => this._addRow("", "", true) } },
      icon("plus", { size: 16 }),
      t(words.add),
    );
    this.append(this._empty, this._rows, h("div", { class: "kv-footer" }, this._add), this._message);
    this._sync();
    if (this._pending) this.show(...this._pending);
    this._pending = null;
  }

  /** "env" or "headers" (set before the element is in the page). */
  set kind(value) {
    this._kind = value === "headers" ? "headers" : "env";
  }

  get kind() {
    return this._kind;
  }

  /** Show `values` ({name: value | null}) with the hints of the saved secrets ([{name, hint}]). */
  show(values, secrets = []) {
    if (!this._rows) {
      this._pending = [values, secrets];
      return;
    }
    this._hints = new Map((secrets || []).map((s) => [String(s.name).toLowerCase(), s.hint || ""]));
    replaceChildren(this._rows);
    for (const [name, value] of Object.entries(values || {})) this._addRow(name, value, false);
    this._sync();
    this.error = "";
  }

  /** {name: typed value, or null to keep the saved one}; rows without a name are left out. */
  get value() {
    const out = {};
    for (const row of this._rowsList()) {
      const name = row.nameInput.value.trim();
      if (!name) continue;
      const kept = row.saved !== null && row.saved.toLowerCase() === name.toLowerCase() && !row.valueInput.value;
      out[name] = kept ? null : row.valueInput.value;
    }
    return out;
  }

  /** A message under the rows (the server's, for `env…` / `headers…`). */
  set error(message) {
    this._message.textContent = message || "";
    this.classList.toggle("has-error", Boolean(message));
    for (const row of this._rowsList()) row.nameInput.setAttribute("aria-invalid", String(Boolean(message)));
  }

  /** The control to focus when the rows hold an error. */
  get firstControl() {
    const row = this._rowsList()[0];
    return row ? row.nameInput : this._add;
  }

  _addRow(name, value, focus) {
    const words = WORDS[this._kind];
    const nameInput = h("input", {
      type: "text",
      class: "input mono",
      value: name,
      placeholder: words.placeholder,
      spellcheck: false,
      autocomplete: "off",
      "aria-describedby": this._message.id,
    });
    const saved = value === null;
    const valueInput = h("input", {
      type: saved || this._kind === "env" || !value ? "password" : "text",
      class: "input mono",
      value: saved ? "" : value,
      spellcheck: false,
      autocomplete: "new-password",
    });
    if (saved) {
      const hint = this._hints.get(name.toLowerCase());
      valueInput.placeholder = hint ? t("mcp.pairs.saved", { hint }) : t("mcp.pairs.savedNoHint");
    } else valueInput.placeholder = t("mcp.pairs.valuePlaceholder");
    const remove = h("button", { type: "button", class: "icon-btn" }, icon("x", { size: 16 }));
    const row = h("div", { class: "kv-row" }, nameInput, valueInput, remove);
    Object.assign(row, { nameInput, valueInput, saved: saved ? name : null });
    remove.addEventListener("click", () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      this._sync();
      this.dispatchEvent(new Event("input", { bubbles: true }));
      (next ? next.nameInput : this._add).focus();
    });
    this._rows.append(row);
    this._sync();
    if (focus) nameInput.focus();
    return row;
  }

  _rowsList() {
    return [...this._rows.children];
  }

  // Labels carry the row number, so a screen reader tells the rows apart.
  _sync() {
    const words = WORDS[this._kind];
    this._empty.hidden = this._rows.childElementCount > 0;
    this._rowsList().forEach((row, i) => {
      const index = i + 1;
      row.nameInput.setAttribute("aria-label", t(words.name, { index }));
      row.valueInput.setAttribute("aria-label", t(words.value, { index }));
      const button = row.querySelector("button");
      button.setAttribute("aria-label", t(words.remove, { index }));
      button.title = t(words.remove, { index });
    });
  }
}

customElements.define("mcp-pairs-editor", McpPairsEditor);
