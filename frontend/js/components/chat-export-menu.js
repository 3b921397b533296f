// <chat-export-menu>: "Export" with its two formats, Markdown and JSON. A disclosure button and
// a small menu (ARIA menu button pattern): Enter/Space/ArrowDown open it on the first item, arrow
// keys move, Esc or a click elsewhere closes it and gives the focus back to the button.
//
// Event (bubbling): `export-conversation` {format: "markdown" | "json"}.
import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";

export class ChatExportMenu extends HTMLElement {
  connectedCallback() {
    if (this._button) return;
    this.classList.add("export-menu");
    const menuId = uid("export-menu");
    this._button = h(
      "button",
      {
        type: "button",
        class: "btn export-btn",
        title: t("chat.export.help"),
        "aria-haspopup": "menu",
        "aria-expanded": "false",
        "aria-controls": menuId,
      },
      icon("export", { size: 16 }),
      h("span", { class: "label-collapsible" }, t("chat.export.button")),
    );
    this._menu = h(
      "div",
      { id: menuId, class: "menu", role: "menu", hidden: true },
      item("markdown", t("chat.export.asMarkdown")),
      item("json", t("chat.export.asJson")),
    );
    this._button.addEventListener("click", () => (this._menu.hidden ? this._open(0) : this._close(true)));
    this._button.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        this._open(0);
      }
    });
    this._menu.addEventListener("click", (event) => {
      const choice = event.target instanceof Element ? event.target.closest("[data-format]") : null;
      if (!choice) return;
      this._close(true);
      this.dispatchEvent(
        new CustomEvent("export-conversation", { bubbles: true, detail: { format: choice.dataset.format } }),
      );
    });
    this._menu.addEventListener("keydown", (event) => this._onKey(event));
    this._outside = (event) => {
      if (!this.contains(event.target)) this._close(false);
    };
    this.append(this._button, this._menu);
  }

  set disabled(value) {
    this._button.disabled = Boolean(value);
  }

  _items() {
    return [...this._menu.querySelectorAll("[role=menuitem]")];
  }

  _open(index) {
    this._menu.hidden = false;
    this._button.setAttribute("aria-expanded", "true");
    document.addEventListener("pointerdown", this._outside, true);
    this._items()[index].focus();
  }

  _close(refocus) {
    this._menu.hidden = true;
    this._button.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", this._outside, true);
    if (refocus) this._button.focus();
  }

  _onKey(event) {
    const items = this._items();
    const at = items.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      items[(at + (event.key === "ArrowDown" ? 1 : -1) + items.length) % items.length].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this._close(true);
    } else if (event.key === "Tab") {
      this._close(false);
    }
  }
}

function item(format, label) {
  return h(
    "button",
    { type: "button", class: "menu-item", role: "menuitem", tabIndex: -1, dataset: { format } },
    label,
  );
}

customElements.define("chat-export-menu", ChatExportMenu);
