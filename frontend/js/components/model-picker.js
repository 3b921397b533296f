// <model-picker>: which model of the chosen provider answers — a combobox (ARIA 1.2 pattern): a
// text field that accepts any model id (a provider may serve models its list does not name),
// with a list of the provider's models under it, filtered by what is typed. The provider's own
// `model` is the default: always offered, first, and marked so.
//
// Keyboard: ArrowDown/ArrowUp open the list and move through it, Enter takes the highlighted
// model (or the typed text), Esc closes the list and puts the value back. Leaving the field
// takes what was typed. A list still loading never blocks typing.
//
// Event (bubbling): `model-change` {model}, only when the value really changed.
import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";

export class ModelPicker extends HTMLElement {
  constructor() {
    super();
    this._models = [];
    this._default = "";
    this._value = "";
    this._loading = false;
    this._active = -1;
    this._shown = [];
  }

  connectedCallback() {
    if (this._input) return;
    this.classList.add("model-picker");
    const listId = uid("models");
    const inputId = uid("model");
    this._input = h("input", {
      id: inputId,
      class: "input mono model-input",
      type: "text",
      role: "combobox",
      autocomplete: "off",
      spellcheck: false,
      "aria-autocomplete": "list",
      "aria-expanded": "false",
      "aria-controls": listId,
    });
    this._toggle = h(
      "button",
      {
        type: "button",
        class: "model-toggle",
        tabIndex: -1,
        "aria-label": t("providers.models.toggle"),
        title: t("providers.models.toggle"),
      },
      icon("chevron", { size: 14 }),
    );
    this._list = h("ul", {
      id: listId,
      class: "model-list",
      role: "listbox",
      "aria-label": t("providers.models.label"),
      hidden: true,
    });
    this._input.addEventListener("input", () => this._open(this._input.value));
    this._input.addEventListener("keydown", (event) => this._onKey(event));
    this._input.addEventListener("blur", () => this._onBlur());
    this._toggle.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the field
    this._toggle.addEventListener("click", () => (this._list.hidden ? this._open("") : this._close()));
    // Options are chosen with the mouse without taking the focus from the field.
    this._list.addEventListener("mousedown", (event) => event.preventDefault());
    this._list.addEventListener("click", (event) => {
      const option = event.target instanceof Element ? event.target.closest("[role=option]") : null;
      if (option) this._commit(option.dataset.model);
    });
    this.append(
      h("label", { class: "picker-label", for: inputId }, t("providers.models.label")),
      h("div", { class: "model-field" }, this._input, this._toggle, this._list),
    );
    this._sync();
  }

  /** The provider's model ids (any order); `defaultModel` is offered whether listed or not. */
  setModels(models, defaultModel) {
    this._models = [...new Set(models.map(String))];
    this._default = defaultModel || "";
    this._loading = false;
    if (this._list && !this._list.hidden) this._render(this._filter);
  }

  /** True while the list is being fetched (the field stays usable). */
  set loading(value) {
    this._loading = Boolean(value);
    if (this._list && !this._list.hidden) this._render(this._filter);
  }

  get value() {
    return this._value;
  }

  set value(model) {
    this._value = model || "";
    this._sync();
  }

  set disabled(value) {
    this._disabled = Boolean(value);
    this._sync();
  }

  /** Whether the list is open (for tests and styles: `[data-open]`). */
  get open() {
    return Boolean(this._list) && !this._list.hidden;
  }

  focus() {
    this._input.focus();
  }

  _sync() {
    if (!this._input) return;
    if (document.activeElement !== this._input || this._list.hidden) this._input.value = this._value;
    this._input.disabled = Boolean(this._disabled);
    this._toggle.disabled = Boolean(this._disabled);
    this._input.title = this._value;
  }

  // The default first, then the rest in the provider's order; filtered by `text` when given.
  _options(text) {
    const all = [...(this._default ? [this._default] : []), ...this._models.filter((m) => m !== this._default)];
    const needle = text.trim().toLowerCase();
    return needle && needle !== this._value.toLowerCase() ? all.filter((m) => m.toLowerCase().includes(needle)) : all;
  }

  _open(text) {
    this._filter = text;
    this._render(text);
    this._list.hidden = false;
    this.toggleAttribute("data-open", true);
    this._input.setAttribute("aria-expanded", "true");
  }

  _close() {
    this._list.hidden = true;
    this.removeAttribute("data-open");
    this._input.setAttribute("aria-expanded", "false");
    this._input.removeAttribute("aria-activedescendant");
    this._active = -1;
  }

  _render(text) {
    this._shown = this._options(text);
    this._active = Math.max(0, this._shown.indexOf(this._value));
    if (text.trim() && text !== this._value) this._active = this._shown.length ? 0 : -1;
    const items = this._shown.map((model, index) =>
      h(
        "li",
        {
          id: `${this._list.id}-${index}`,
          role: "option",
          class: "model-option",
          dataset: { model },
          "aria-selected": String(model === this._value),
        },
        h("span", { class: "model-option-name" }, model),
        model === this._default ? h("span", { class: "model-option-default" }, t("providers.models.default")) : null,
      ),
    );
    const note = this._loading ? t("providers.models.loading") : items.length ? "" : t("providers.models.none");
    this._list.replaceChildren(
      ...items,
      ...(note ? [h("li", { class: "model-note", role: "presentation" }, note)] : []),
    );
    this._highlight();
  }

  _highlight() {
    const options = [...this._list.querySelectorAll("[role=option]")];
    options.forEach((option, index) => option.classList.toggle("is-active", index === this._active));
    const active = options[this._active];
    if (active) {
      this._input.setAttribute("aria-activedescendant", active.id);
      active.scrollIntoView({ block: "nearest" });
    } else this._input.removeAttribute("aria-activedescendant");
  }

  _onKey(event) {
    if (event.isComposing) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (this._list.hidden) return this._open("");
      if (!this._shown.length) return;
      const step = event.key === "ArrowDown" ? 1 : -1;
      this._active = (this._active + step + this._shown.length) % this._shown.length;
      this._highlight();
    } else if (event.key === "Enter") {
      event.preventDefault();
      const picked = !this._list.hidden && this._active >= 0 ? this._shown[this._active] : this._input.value;
      this._commit(picked);
    } else if (event.key === "Escape" && !this._list.hidden) {
      event.preventDefault();
      event.stopPropagation();
      this._close();
      this._input.value = this._value;
    }
  }

  _onBlur() {
    const typed = this._input.value.trim();
    this._close();
    if (typed && typed !== this._value) this._commit(typed);
    else this._input.value = this._value;
  }

  _commit(model) {
    const next = String(model || "").trim();
    this._close();
    if (!next) {
      this._input.value = this._value;
      return;
    }
    this._input.value = next;
    if (next === this._value) return;
    this._value = next;
    this._input.title = next;
    this.dispatchEvent(new CustomEvent("model-change", { bubbles: true, detail: { model: next } }));
  }
}

customElements.define("model-picker", ModelPicker);
