// <md-app>: the shell — navigation on the left, one view at a time on the right, routed by the
// URL hash (#/providers, #/routes, #/usage, #/chat, #/about). Views stay alive while hidden so
// they keep their state. It also starts the budget watch (toasts at 80 % and 100 %).
// The nav's "Chat" (and Ctrl+K from another view) goes back to the conversation open last;
// `#/chat` itself is a new conversation.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { bridgeEvents } from "../bridge.js";
import { providerService } from "../services/custom-provider-service.js";
import { ROUTES } from "./side-nav.js";
import { openConversationSearch } from "./search-dialog.js";
import { watchBudgets } from "./usage-budget.js";
import "./side-nav.js";
import "./toast-region.js";
import "./providers-view.js";
import "./routes-view.js";
import "./usage-view.js";
import "./chat-view.js";
import "./about-view.js";

const DEFAULT_ROUTE = "providers";
const ALIASES = { settings: "about" };

export class AppShell extends HTMLElement {
  connectedCallback() {
    if (this._views) return;
    this.classList.add("app");
    this._nav = h("side-nav");
    this._views = {
      providers: h("providers-view", { id: "providers-view" }),
      routes: h("routes-view", { id: "routes-view" }),
      usage: h("usage-view", { id: "usage-view" }),
      chat: h("chat-view", { id: "chat-view" }),
      about: h("about-view", { id: "about-view" }),
    };
    this._main = h("main", { class: "main", id: "main" }, Object.values(this._views));
    for (const view of Object.values(this._views)) view.hidden = true;
    this.append(
      h("a", { class: "skip-link", href: "#main" }, "Skip to content"),
      this._nav,
      this._main,
      h("toast-region"),
    );
    this._main.tabIndex = -1;
    this.querySelector(".skip-link").addEventListener("click", (event) => {
      event.preventDefault();
      this._main.focus();
    });
    this._nav.addEventListener("click", (event) => this._onNavClick(event));
    window.addEventListener("hashchange", () => this._route(true));
    document.addEventListener("keydown", (event) => this._onKey(event));
    bridgeEvents.addEventListener("unauthorized", () => this._locked());
    this._route(false);
    this._loadInfo();
    watchBudgets();
  }

  async _loadInfo() {
    const info = await providerService.getAppInfo();
    if (!info.success) return;
    this._nav.version = info.version;
    this._views.providers.desktop = Boolean(info.desktop);
  }

  _route(moveFocus) {
    const raw = window.location.hash.replace(/^#\/?/, "").split(/[?&/]/)[0];
    const name = ALIASES[raw] || raw;
    if (!ROUTES.some((r) => r.name === name)) {
      window.history.replaceState(window.history.state, "", `#/${DEFAULT_ROUTE}`);
      return this._show(DEFAULT_ROUTE, moveFocus);
    }
    this._show(name, moveFocus);
  }

  // Ctrl+K (Cmd+K on a Mac) searches the conversations from anywhere: the chat view comes first.
  _onKey(event) {
    const mod = event.metaKey || event.ctrlKey;
    if (!mod || event.altKey || event.shiftKey || event.key.toLowerCase() !== "k" || this._lockedShown) return;
    const modal = document.querySelector("dialog[open]:modal");
    if (modal && !modal.classList.contains("search-dialog")) return; // another dialog is in charge
    event.preventDefault();
    if (this._current !== "chat") this._views.chat.resume();
    openConversationSearch();
  }

  // A plain click on the nav's "Chat" brings back the conversation the user left, not a new one.
  _onNavClick(event) {
    const link = event.target instanceof Element ? event.target.closest("a[data-route=chat]") : null;
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    this._views.chat.resume();
  }

  _show(name, moveFocus) {
    for (const [route, view] of Object.entries(this._views)) {
      const on = route === name;
      view.hidden = !on;
      view.active = on;
    }
    this._nav.current = name;
    const label = ROUTES.find((r) => r.name === name).label;
    document.title = `${label} — MiaoDa Chat`;
    // Only a new view takes the focus: opening another conversation (#/chat/<id>) stays put.
    const changed = this._current !== name;
    this._current = name;
    if (moveFocus && changed) {
      const heading = this._views[name].querySelector(".view-title");
      if (heading) heading.focus();
    }
  }

  // The token was missing or wrong: nothing will work until the page is opened from the link.
  _locked() {
    if (this._lockedShown) return;
    this._lockedShown = true;
    const panel = h(
      "div",
      { class: "locked", role: "alert" },
      icon("key", { size: 36 }),
      h("h1", {}, "Open MiaoDa Chat from its link"),
      h(
        "p",
        {},
        "This page needs the address MiaoDa Chat printed when it started — it ends with #token=…. The token keeps other websites from using your providers.",
      ),
      h("pre", { class: "mono" }, "miaoda serve"),
      h("p", { class: "muted" }, "Run it in a terminal and open the link it prints."),
    );
    replaceChildren(this._main, panel);
  }
}

customElements.define("md-app", AppShell);
