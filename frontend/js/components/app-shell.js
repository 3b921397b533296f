// <md-app>: the shell — navigation on the left, one view at a time on the right, routed by the
// URL hash (#/providers, #/routes, #/usage, #/chat, #/tools, #/settings, #/about). Views stay
// alive while hidden so they keep their state. It also starts the budget watch (toasts at 80 %
// and 100 %), applies the theme setting, and owns the app's keyboard shortcuts (lib/shortcuts.js).
//
// The nav's "Chat" (and Ctrl+K from another view) goes back to the conversation open last;
// `#/chat` itself is a new conversation.
//
// A change of language re-creates the nav and every view in the new language, on the same route
// (the chat view reads its conversation from the hash again), with the focus kept on the control
// that had it when that control says who it is (`data-focus-key`), else on the view's heading.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { onLanguageChange, t } from "../lib/i18n.js";
import { shortcutOf } from "../lib/shortcuts.js";
import { applyTheme } from "../lib/theme.js";
import { bridgeEvents, transport } from "../bridge.js";
import { providerService } from "../services/custom-provider-service.js";
import { settingsService } from "../services/settings-service.js";
import { ROUTES, routeLabel } from "./side-nav.js";
import { openConversationSearch } from "./search-dialog.js";
import { openShortcutsSheet } from "./shortcuts-sheet.js";
import { watchBudgets } from "./usage-budget.js";
import "./side-nav.js";
import "./toast-region.js";
import "./providers-view.js";
import "./routes-view.js";
import "./usage-view.js";
import "./chat-view.js";
import "./mcp-view.js";
import "./settings-view.js";
import "./about-view.js";

const DEFAULT_ROUTE = "providers";
const VIEW_TAGS = {
  providers: "providers-view",
  routes: "routes-view",
  usage: "usage-view",
  chat: "chat-view",
  tools: "mcp-view",
  settings: "settings-view",
  about: "about-view",
};
// Inputs where "?" is typed text, not the shortcuts sheet.
const TYPING = "textarea, select, [contenteditable]:not([contenteditable=false]), input";
const NOT_TYPING = ["checkbox", "radio", "button", "submit", "reset", "range", "color", "file"];

export class AppShell extends HTMLElement {
  connectedCallback() {
    if (this._views) return;
    this.classList.add("app");
    this._transport = "pywebview";
    transport().then((kind) => (this._transport = kind));
    if (settingsService.current) applyTheme(settingsService.current.theme);
    this._nav = h("side-nav");
    this._main = h("main", { class: "main", id: "main", tabIndex: -1 });
    this._skip = h("a", { class: "skip-link", href: "#main" }, t("shell.skipLink"));
    this._views = this._createViews();
    this.append(this._skip, this._nav, this._main, h("toast-region"));
    this._skip.addEventListener("click", (event) => {
      event.preventDefault();
      this._main.focus();
    });
    this.addEventListener("click", (event) => this._onNavClick(event));
    this.addEventListener("show-shortcuts", () => openShortcutsSheet(this._transport));
    window.addEventListener("hashchange", () => this._route(true));
    document.addEventListener("keydown", (event) => this._onKey(event));
    bridgeEvents.addEventListener("unauthorized", () => this._locked());
    onLanguageChange(() => this._relabel());
    settingsService.onChange(({ settings }) => applyTheme(settings.theme));
    this._route(false);
    this._loadInfo();
    watchBudgets();
  }

  _createViews() {
    const views = {};
    for (const [name, tag] of Object.entries(VIEW_TAGS)) views[name] = h(tag, { id: `${name}-view`, hidden: true });
    replaceChildren(this._main, Object.values(views));
    return views;
  }

  async _loadInfo() {
    const info = await providerService.getAppInfo();
    if (!info.success) return;
    this._nav.version = info.version;
    this._views.providers.desktop = Boolean(info.desktop);
    this._views.tools.desktop = Boolean(info.desktop);
  }

  _route(moveFocus) {
    const name = window.location.hash.replace(/^#\/?/, "").split(/[?&/]/)[0];
    if (!ROUTES.some((r) => r.name === name)) {
      window.history.replaceState(window.history.state, "", `#/${DEFAULT_ROUTE}`);
      return this._show(DEFAULT_ROUTE, moveFocus);
    }
    this._show(name, moveFocus);
  }

  _show(name, moveFocus) {
    for (const [route, view] of Object.entries(this._views)) {
      const on = route === name;
      view.hidden = !on;
      view.active = on;
    }
    this._nav.current = name;
    document.title = t("shell.title", { view: routeLabel(name) });
    // Only a new view takes the focus: opening another conversation (#/chat/<id>) stays put.
    const changed = this._current !== name;
    this._current = name;
    if (changed) this._refocusing?.disconnect();
    if (moveFocus && changed) this._focusHeading();
  }

  _focusHeading() {
    const heading = this._views[this._current]?.querySelector(".view-title");
    if (heading) heading.focus();
  }

  // The language changed: everything the shell drew, in the new language.
  _relabel() {
    this._skip.textContent = t("shell.skipLink");
    const nav = h("side-nav");
    this._nav.replaceWith(nav);
    this._nav = nav;
    if (this._lockedShown) {
      this._lockedShown = false;
      return this._locked();
    }
    const active = document.activeElement;
    const focusKey = active?.closest?.("[data-focus-key]")?.dataset.focusKey;
    const hadFocus = this._main.contains(active);
    for (const view of Object.values(this._views)) view.active = false;
    this._views = this._createViews();
    this._show(this._current, false);
    this._loadInfo();
    if (!hadFocus) return;
    this._focusHeading();
    if (focusKey) this._refocus(`[data-focus-key="${CSS.escape(focusKey)}"]`);
  }

  // Focus the control `selector` names in the current view — now, or as soon as the view has
  // drawn it (a view that loads before it draws) while the focus is still on its heading.
  _refocus(selector) {
    this._refocusing?.disconnect();
    const view = this._views[this._current];
    const heading = document.activeElement;
    const attempt = () => {
      if (document.activeElement !== heading) return true; // the user has moved on
      const target = view.querySelector(selector);
      if (target) target.focus();
      return Boolean(target);
    };
    if (attempt()) return;
    this._refocusing = new MutationObserver(() => {
      if (attempt()) this._refocusing.disconnect();
    });
    this._refocusing.observe(view, { childList: true, subtree: true });
  }

  _onKey(event) {
    if (this._lockedShown || event.defaultPrevented || event.isComposing) return;
    const id = shortcutOf(event, this._transport);
    if (!id) return;
    const dialog = document.querySelector("dialog[open]");
    if (id === "search") return this._search(event, dialog);
    if (dialog) return; // a dialog is in charge of its keys (Esc closes it)
    const chat = this._views.chat;
    switch (id) {
      case "newConversation":
        event.preventDefault();
        if (typeof chat.newConversation === "function") chat.newConversation();
        else window.location.hash = "#/chat/new";
        break;
      case "settings":
        event.preventDefault();
        window.location.hash = "#/settings";
        break;
      case "copyLastReply":
        if (this._current !== "chat" || typeof chat.copyLastReply !== "function") return;
        event.preventDefault();
        chat.copyLastReply();
        break;
      case "stop":
        // The chat view's own Esc may have stopped it already (defaultPrevented, above).
        if (this._current === "chat" && typeof chat.stop === "function" && chat.stop()) event.preventDefault();
        break;
      case "shortcuts":
        if (isTyping(event.target)) return;
        event.preventDefault();
        openShortcutsSheet(this._transport);
        break;
    }
  }

  // Ctrl+K (⌘K) searches the conversations from anywhere: the chat view comes first.
  _search(event, dialog) {
    if (dialog && !dialog.classList.contains("search-dialog")) return; // another dialog is in charge
    event.preventDefault();
    if (this._current !== "chat") this._views.chat.resume();
    openConversationSearch();
  }

  // A plain click on the nav's "Chat" brings back the conversation the user left, not a new one.
  _onNavClick(event) {
    const link = event.target instanceof Element ? event.target.closest(".side-nav a[data-route=chat]") : null;
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    this._views.chat.resume();
  }

  // The token was missing or wrong: nothing will work until the page is opened from the link.
  _locked() {
    if (this._lockedShown) return;
    this._lockedShown = true;
    const panel = h(
      "div",
      { class: "locked", role: "alert" },
      icon("key", { size: 36 }),
      h("h1", {}, t("shell.locked.title")),
      h("p", {}, t("shell.locked.body")),
      h("pre", { class: "mono" }, "miaoda serve"),
      h("p", { class: "muted" }, t("shell.locked.hint")),
    );
    replaceChildren(this._main, panel);
  }
}

function isTyping(target) {
  if (!(target instanceof Element)) return false;
  const field = target.closest(TYPING);
  return Boolean(field) && !(field instanceof HTMLInputElement && NOT_TYPING.includes(field.type));
}

customElements.define("md-app", AppShell);
