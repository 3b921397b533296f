// <side-nav>: the app's left navigation. Set `.current` to the active route name. Its foot has
// the version and the button that opens the keyboard shortcuts (event `show-shortcuts`).
import { h } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";

export const ROUTES = [
  { name: "providers", labelKey: "shell.nav.providers", icon: "providers" },
  { name: "routes", labelKey: "shell.nav.routes", icon: "route" },
  { name: "usage", labelKey: "shell.nav.usage", icon: "chart" },
  { name: "chat", labelKey: "shell.nav.chat", icon: "chat" },
  { name: "tools", labelKey: "mcp.nav", icon: "tool" },
  { name: "settings", labelKey: "shell.nav.settings", icon: "settings" },
  { name: "about", labelKey: "shell.nav.about", icon: "info" },
];

/** The nav label of a route, in the current language. */
export function routeLabel(name) {
  const route = ROUTES.find((r) => r.name === name);
  return route ? t(route.labelKey) : "";
}

export class SideNav extends HTMLElement {
  connectedCallback() {
    if (this._links) return;
    this.classList.add("side-nav");
    this._links = new Map();
    this._version = h("span", { class: "nav-version" });
    const list = h(
      "ul",
      { class: "nav-list" },
      ROUTES.map((route) => {
        const label = t(route.labelKey);
        const a = h(
          "a",
          { class: "nav-link", href: `#/${route.name}`, title: label, dataset: { route: route.name } },
          icon(route.icon, { size: 20 }),
          h("span", { class: "nav-label" }, label),
        );
        this._links.set(route.name, a);
        return h("li", {}, a);
      }),
    );
    const shortcuts = h(
      "button",
      {
        type: "button",
        class: "icon-btn nav-shortcuts",
        "aria-label": t("shell.nav.shortcuts"),
        title: t("shell.nav.shortcuts"),
        on: { click: () => this.dispatchEvent(new CustomEvent("show-shortcuts", { bubbles: true })) },
      },
      icon("keyboard", { size: 18 }),
    );
    this.append(
      h(
        "div",
        { class: "brand" },
        h("img", { src: "img/logo.svg", alt: "", width: 28, height: 28, class: "brand-logo" }),
        h("span", { class: "brand-name" }, t("common.appName")),
      ),
      h("nav", { "aria-label": t("shell.nav.label") }, list),
      h("div", { class: "nav-foot" }, this._version, shortcuts),
    );
  }

  set current(name) {
    for (const [route, a] of this._links) {
      if (route === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  set version(text) {
    this._version.textContent = text ? `v${text}` : "";
  }
}

customElements.define("side-nav", SideNav);
