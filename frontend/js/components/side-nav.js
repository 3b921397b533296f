// <side-nav>: the app's left navigation. Set `.current` to the active route name.
import { h } from "../lib/dom.js";
import { icon } from "../lib/icons.js";

export const ROUTES = [
  { name: "providers", label: "Providers", icon: "providers" },
  { name: "routes", label: "Routes", icon: "route" },
  { name: "usage", label: "Usage", icon: "chart" },
  { name: "chat", label: "Chat", icon: "chat" },
  { name: "about", label: "About", icon: "info" },
];

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
        const a = h(
          "a",
          { class: "nav-link", href: `#/${route.name}`, title: route.label, dataset: { route: route.name } },
          icon(route.icon, { size: 20 }),
          h("span", { class: "nav-label" }, route.label),
        );
        this._links.set(route.name, a);
        return h("li", {}, a);
      }),
    );
    this.append(
      h(
        "div",
        { class: "brand" },
        h("img", { src: "img/logo.svg", alt: "", width: 28, height: 28, class: "brand-logo" }),
        h("span", { class: "brand-name" }, "MiaoDa Chat"),
      ),
      h("nav", { "aria-label": "Main" }, list),
      h("div", { class: "nav-foot" }, this._version),
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
