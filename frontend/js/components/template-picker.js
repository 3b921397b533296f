// <template-picker>: choose a known provider to start from, or start blank.
// Set `.templates`; emits "template-chosen" with {detail: {template}} (null for blank).
// Type to filter, Enter takes the first match, arrow keys move between tiles.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { typeLabel } from "../lib/provider-rules.js";

export class TemplatePicker extends HTMLElement {
  constructor() {
    super();
    this._templates = [];
  }

  connectedCallback() {
    if (this._grid) return;
    this.classList.add("template-picker");
    const searchId = uid("tpl-search");
    this._search = h("input", {
      type: "search",
      id: searchId,
      class: "input search-input",
      placeholder: t("providers.templates.searchPlaceholder"),
      autocomplete: "off",
      spellcheck: false,
    });
    this._grid = h("div", { class: "template-grid", id: uid("tpl-grid"), role: "list" });
    this._search.setAttribute("aria-controls", this._grid.id);
    this._count = h("p", { class: "muted template-count", "aria-live": "polite" });
    this._search.addEventListener("input", () => this._filter());
    this._search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        const first = this._visibleTiles()[0];
        if (first) first.click();
      } else if (event.key === "ArrowDown") {
        event.preventDefault();
        const first = this._visibleTiles()[0];
        if (first) first.focus();
      }
    });
    this._grid.addEventListener("keydown", (event) => this._arrows(event));
    this.append(
      h("label", { class: "sr-only", for: searchId }, t("providers.templates.search")),
      h("div", { class: "search-wrap" }, icon("search", { size: 16 }), this._search),
      this._count,
      this._grid,
    );
    this._render();
  }

  set templates(list) {
    if (list === this._templates) return;
    this._templates = list || [];
    if (this._grid) this._render();
  }

  focus() {
    this._search.focus();
  }

  reset() {
    this._search.value = "";
    this._filter();
  }

  _render() {
    // Keep the keyboard where it was: a tile with focus is replaced by its new twin.
    const active = this._grid.contains(document.activeElement) ? document.activeElement.dataset.template : null;
    const blank = this._tile(null);
    replaceChildren(
      this._grid,
      blank,
      this._templates.map((template) => this._tile(template)),
    );
    this._filter();
    if (active !== null) {
      const twin = [...this._grid.querySelectorAll(".template-tile")].find((tile) => tile.dataset.template === active);
      if (twin) twin.focus();
    }
  }

  _tile(template) {
    const name = template ? template.displayName : t("providers.templates.blank");
    const sub = !template
      ? t("providers.templates.blankSub")
      : template.needsApiKey === false
        ? t("providers.templates.noKey", { type: typeLabel(template.type) })
        : typeLabel(template.type);
    const button = h(
      "button",
      {
        type: "button",
        class: ["template-tile", template ? "" : "is-blank"],
        dataset: { template: template ? template.id : "" },
      },
      h(
        "span",
        { class: "monogram", "aria-hidden": "true" },
        template ? monogram(template.displayName) : icon("plus", { size: 18 }),
      ),
      h("span", { class: "tile-text" }, h("span", { class: "tile-name" }, name), h("span", { class: "tile-sub" }, sub)),
    );
    button.searchText = template
      ? `${template.displayName} ${template.id} ${template.baseURL} ${template.type}`.toLowerCase()
      : `${t("providers.templates.blank")} blank custom start`.toLowerCase();
    button.addEventListener("click", () =>
      this.dispatchEvent(new CustomEvent("template-chosen", { bubbles: true, detail: { template } })),
    );
    return h("div", { role: "listitem", class: "template-item" }, button);
  }

  _visibleTiles() {
    return [...this._grid.querySelectorAll(".template-item:not([hidden]) .template-tile")];
  }

  _filter() {
    const query = this._search.value.trim().toLowerCase();
    let shown = 0;
    for (const item of this._grid.children) {
      const tile = item.firstElementChild;
      const match = !query || tile.searchText.includes(query);
      item.hidden = !match;
      if (match) shown += 1;
    }
    this._count.textContent = query
      ? t("providers.templates.matches", { count: shown })
      : t("providers.templates.count", { count: this._templates.length });
  }

  _arrows(event) {
    const keys = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (!(event.key in keys)) return;
    const tiles = this._visibleTiles();
    const index = tiles.indexOf(document.activeElement);
    if (index < 0) return;
    event.preventDefault();
    let step = keys[event.key];
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const top = tiles[index].offsetTop;
      const perRow = tiles.filter((t) => t.offsetTop === top).length || 1;
      step *= perRow;
    }
    const next = tiles[index + step];
    if (next) next.focus();
    else if (step < 0) this._search.focus();
  }
}

function monogram(text) {
  const words = String(text)
    .replace(/\(.*\)/, "")
    .trim()
    .split(/[\s./-]+/)
    .filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[1][0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

customElements.define("template-picker", TemplatePicker);
