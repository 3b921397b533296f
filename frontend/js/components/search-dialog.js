// <search-dialog>: search every stored conversation (Ctrl+K / Cmd+K). Typing searches after a
// short pause; results show the conversation's title and a snippet whose matched segments are
// <mark>ed (segments are set as text: a snippet is never HTML). ↑/↓ move, Enter opens the
// conversation at the hit (`#/chat/<id>?m=<messageId>`; a title hit opens the conversation),
// Esc closes. The query goes to the backend as typed: FTS syntax is the backend's to neutralise.
// The dialog lives in <body>, outside the views: when the language changes it is dropped, and
// the next search builds it again in the new language.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { formatDate, formatRelative, onLanguageChange, t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { openModal } from "../lib/modal.js";
import { formatCombo } from "../lib/shortcuts.js";
import { conversationHash, conversationService } from "../services/conversation-service.js";

const DEBOUNCE_MS = 150;
const LIMIT = 50;
/** How the shortcut is written on this machine ("Ctrl+K", "⌘K"). */
export const SHORTCUT_LABEL = formatCombo({ mod: true, key: "k" });

export class SearchDialog extends HTMLElement {
  #dialog;
  #input;
  #results;
  #status;
  #hits = [];
  #active = -1;
  #timer = 0;
  #seq = 0;
  #shownQuery = null; // the query the rows on screen answer

  connectedCallback() {
    if (this.#dialog) return;
    const titleId = uid("search-title");
    this.#input = h("input", {
      type: "search",
      class: "input search-input search-dialog-input",
      placeholder: t("chat.search.placeholder"),
      "aria-label": t("chat.search.title"),
      autocomplete: "off",
      spellcheck: false,
      role: "combobox",
      "aria-expanded": "false",
      "aria-autocomplete": "list",
    });
    this.#results = h("ul", {
      class: "search-results",
      role: "listbox",
      id: uid("search-results"),
      "aria-label": t("chat.search.title"),
    });
    this.#input.setAttribute("aria-controls", this.#results.id);
    this.#status = h("p", { class: "search-status", role: "status", "aria-live": "polite" });
    const close = h(
      "button",
      {
        type: "button",
        class: "icon-btn",
        "aria-label": t("common.close"),
        title: t("chat.search.closeHelp"),
        on: { click: () => this.close() },
      },
      icon("x"),
    );
    this.#dialog = h(
      "dialog",
      { class: "dialog search-dialog", "aria-labelledby": titleId },
      h("h2", { class: "sr-only", id: titleId }, t("chat.search.title")),
      h(
        "div",
        { class: "search-head" },
        h("div", { class: "search-wrap search-dialog-field" }, icon("search", { size: 17 }), this.#input),
        close,
      ),
      h("div", { class: "search-body" }, this.#status, this.#results),
      h("footer", { class: "search-foot muted" }, t("chat.search.keys")),
    );
    this.#input.addEventListener("input", () => this.#schedule());
    this.#input.addEventListener("keydown", (event) => this.#onKey(event));
    this.#dialog.addEventListener("click", (event) => {
      if (event.target === this.#dialog) this.close(); // a click on the backdrop
    });
    this.#dialog.addEventListener("close", () => {
      window.clearTimeout(this.#timer);
      this.#seq += 1;
    });
    this.append(this.#dialog);
  }

  get isOpen() {
    return this.#dialog.open;
  }

  /** Open with the last query selected (or focus the input when already open). */
  open() {
    if (this.#dialog.open) {
      this.#input.focus();
      this.#input.select();
      return;
    }
    openModal(this.#dialog, { focus: this.#input });
    this.#input.select();
    this.#search();
  }

  close() {
    if (this.#dialog.open) this.#dialog.close();
  }

  #schedule() {
    window.clearTimeout(this.#timer);
    this.#timer = window.setTimeout(() => this.#search(), DEBOUNCE_MS);
  }

  async #search() {
    const query = this.#input.value.trim();
    const seq = ++this.#seq;
    window.clearTimeout(this.#timer);
    if (!query) return this.#show([], "hint", query);
    this.#dialog.setAttribute("aria-busy", "true");
    const result = await conversationService.search(query, { limit: LIMIT });
    if (seq !== this.#seq) return;
    this.#dialog.removeAttribute("aria-busy");
    if (!result.success) return this.#show([], "failed", query, result.error.message);
    const hits = result.hits || [];
    this.#show(hits, hits.length ? "results" : "none", query);
  }

  #show(hits, state, query, message = "") {
    this.#hits = hits;
    this.#shownQuery = query;
    this.#dialog.dataset.state = state;
    const status = {
      hint: () => t("chat.search.hint"),
      none: () => t("chat.search.none"),
      failed: () => t("chat.search.failed", { message }),
      results: () => t("chat.search.count", { count: hits.length }),
    }[state]();
    this.#status.textContent = status;
    this.#status.classList.toggle("is-empty", state === "none");
    replaceChildren(
      this.#results,
      hits.map((hit, index) => this.#row(hit, index)),
    );
    if (state === "none")
      this.#results.append(h("li", { class: "search-none muted", role: "presentation" }, t("chat.search.noneHint")));
    this.#input.setAttribute("aria-expanded", String(hits.length > 0));
    this.#move(hits.length ? 0 : -1);
  }

  #row(hit, index) {
    const snippet = (hit.snippet || []).map((part) =>
      part.match ? h("mark", {}, String(part.text)) : String(part.text),
    );
    return h(
      "li",
      {
        class: "search-hit",
        role: "option",
        id: `${this.#results.id}-${index}`,
        "aria-selected": "false",
        dataset: { conversationId: hit.conversationId, messageId: hit.messageId || "" },
        on: { click: () => this.#openHit(index), mousemove: () => this.#move(index, { scroll: false }) },
      },
      h(
        "div",
        { class: "search-hit-head" },
        h("span", { class: "search-hit-title" }, hit.title || t("chat.view.newTitle")),
        hit.messageId ? null : h("span", { class: "tag search-hit-kind" }, t("chat.search.titleHit")),
        h(
          "time",
          {
            class: "search-hit-date muted",
            dateTime: hit.createdAt || "",
            title: formatDate(hit.createdAt, { dateStyle: "medium", timeStyle: "short" }),
          },
          formatRelative(hit.createdAt),
        ),
      ),
      snippet.length ? h("p", { class: "search-snippet" }, snippet) : null,
    );
  }

  #move(index, { scroll = true } = {}) {
    const rows = [...this.#results.querySelectorAll(".search-hit")];
    this.#active = rows.length ? Math.max(0, Math.min(index, rows.length - 1)) : -1;
    rows.forEach((row, i) => row.setAttribute("aria-selected", String(i === this.#active)));
    const row = rows[this.#active];
    if (row) {
      this.#input.setAttribute("aria-activedescendant", row.id);
      if (scroll) row.scrollIntoView({ block: "nearest" });
    } else this.#input.removeAttribute("aria-activedescendant");
  }

  #onKey(event) {
    if (event.key === "Escape") {
      // A search input's own Esc only empties it; here Esc closes, as the footer says.
      event.preventDefault();
      this.close();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      this.#move(this.#active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (this.#input.value.trim() !== this.#shownQuery) this.#searchThenOpen();
      else if (this.#active >= 0) this.#openHit(this.#active);
    }
  }

  // Enter before the rows answer what is typed (the pause not over yet): search, then open.
  async #searchThenOpen() {
    const seq = this.#seq + 1;
    await this.#search();
    if (seq === this.#seq && this.#active >= 0) this.#openHit(this.#active);
  }

  #openHit(index) {
    const hit = this.#hits[index];
    if (!hit) return;
    this.close();
    window.location.hash = conversationHash(hit.conversationId, hit.messageId || null);
  }
}

customElements.define("search-dialog", SearchDialog);

onLanguageChange(() => {
  const dialog = document.querySelector("search-dialog");
  if (!dialog) return;
  dialog.close();
  dialog.remove();
});

/** Open the app's search dialog (created on first use). */
export function openConversationSearch() {
  let dialog = document.querySelector("search-dialog");
  if (!dialog) {
    dialog = h("search-dialog");
    document.body.append(dialog);
  }
  dialog.open();
}
