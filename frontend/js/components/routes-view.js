// <routes-view>: the routes screen (#/routes) — every route with its members in the order tried
// and each member's circuit breaker, live; create and edit in <route-form>, remove after a
// confirmation. Owns the data: the routes (with their `circuits`) and the saved providers (for
// the members' names and the form's choices).
//
// While the view is shown and the page visible, routes are read again every REFRESH_MS
// (getAllRoutes answers from the app's memory and sends no request to any provider), and the
// "reopens in N s" countdowns move every second between reads.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";
import { providerService } from "../services/custom-provider-service.js";
import { routeService } from "../services/route-service.js";
import { confirmDialog } from "./confirm-dialog.js";
import { toast } from "./toast-region.js";
import "./route-card.js";
import "./route-form.js";

const REFRESH_MS = 3000;
const TICK_MS = 1000;

export class RoutesView extends HTMLElement {
  constructor() {
    super();
    this.routes = routeService;
    this.providerService = providerService;
    this._routes = [];
    this._providers = [];
    this._cards = new Map();
    this._shown = new Map(); // route id → the JSON last drawn, so a read that changed nothing draws nothing
    this._loaded = false;
    this._active = false;
    this._onVisibility = () => this._schedule();
  }

  connectedCallback() {
    if (!this._built) {
      this._built = true;
      this._build();
    }
    document.addEventListener("visibilitychange", this._onVisibility);
    this._schedule();
  }

  // Out of the page (the shell makes new views when the language changes): no timers left behind.
  disconnectedCallback() {
    document.removeEventListener("visibilitychange", this._onVisibility);
    this._schedule();
  }

  /** The shell says whether this view is on screen; it reads everything again on showing. */
  set active(value) {
    const was = this._active;
    this._active = Boolean(value);
    this._schedule();
    if (this._active && !was) this.load();
  }

  get active() {
    return this._active;
  }

  // --- layout ---------------------------------------------------------------------------

  _build() {
    this.classList.add("view", "routes-view");
    this._heading = h(
      "h1",
      { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } },
      t("routes.view.heading"),
    );
    this._summary = h("p", { class: "view-subtitle", "aria-live": "polite" }, t("common.loading"));
    this._addBtn = h(
      "button",
      { type: "button", class: "btn btn-primary add-route-btn", on: { click: () => this.openAdd() } },
      icon("plus", { size: 16 }),
      h("span", {}, t("routes.view.add")),
    );
    const header = h(
      "header",
      { class: "view-header" },
      h("div", { class: "view-heading" }, this._heading, this._summary),
      h("div", { class: "toolbar" }, this._addBtn),
    );
    this._list = h("div", { class: "route-list", role: "list", "aria-label": t("routes.view.heading"), hidden: true });
    this._empty = h("div", { class: "empty-state routes-empty", hidden: true });
    this._failure = h("div", { class: "load-failure", hidden: true });
    this._form = h("route-form");
    this._form.addEventListener("route-saved", (event) => this._onSaved(event.detail));
    this._form.addEventListener("route-missing", () => this.load());
    this.addEventListener("edit-route", (event) => this._edit(event.detail.id));
    this.addEventListener("delete-route", (event) => this._remove(event.detail.id));
    this.append(header, h("div", { class: "view-body" }, this._failure, this._empty, this._list), this._form);
  }

  _renderEmpty() {
    const haveProviders = this._providers.length > 0;
    replaceChildren(
      this._empty,
      h("span", { class: "placeholder-icon" }, icon("route", { size: 36 })),
      h("h2", {}, t("routes.view.emptyTitle")),
      h("p", { class: "muted" }, t("routes.view.emptyText")),
      haveProviders ? null : h("p", { class: "muted" }, t("routes.view.emptyNoProviders")),
      h(
        "div",
        { class: "empty-actions" },
        haveProviders
          ? h(
              "button",
              { type: "button", class: "btn btn-primary btn-lg empty-add-route", on: { click: () => this.openAdd() } },
              icon("plus", { size: 18 }),
              t("routes.view.addFirst"),
            )
          : h(
              "a",
              { class: "btn btn-primary btn-lg", href: "#/providers?add" },
              icon("plus", { size: 18 }),
              t("routes.view.addProviders"),
            ),
      ),
    );
  }

  // --- data -----------------------------------------------------------------------------

  /** Read the providers and the routes, and draw them. */
  async load() {
    const seq = (this._seq = (this._seq || 0) + 1);
    const [providers, routes] = await Promise.all([this.providerService.getProviders(), this.routes.getRoutes()]);
    if (seq !== this._seq) return;
    if (!routes.success || !providers.success) {
      this._showFailure((routes.success ? providers : routes).error);
      return;
    }
    this._failure.hidden = true;
    this._providers = providers.providers;
    this._routes = routes.routes;
    this._loaded = true;
    this._render();
    this.setAttribute("data-ready", ""); // loaded: what tests may wait for
  }

  // The routes again (their circuits move); the providers only when a member is unknown.
  async _refresh() {
    if (!this._loaded || this._refreshing) return;
    this._refreshing = true;
    try {
      const routes = await this.routes.getRoutes();
      if (!routes.success) return;
      const known = new Set(this._providers.map((p) => p.id));
      if (routes.routes.some((r) => r.members.some((id) => !known.has(id)))) {
        const providers = await this.providerService.getProviders();
        if (providers.success) this._providers = providers.providers;
      }
      this._routes = routes.routes;
      this._render();
    } finally {
      this._refreshing = false;
    }
  }

  _showFailure(error) {
    if (this._loaded) {
      toast({ kind: "error", title: t("routes.view.refreshFailed"), message: error.message });
      return;
    }
    this._summary.textContent = t("routes.view.loadFailed");
    this._failure.hidden = false;
    replaceChildren(
      this._failure,
      icon("alert", { size: 28 }),
      h("h2", {}, t("routes.view.loadFailed")),
      h("p", { class: "muted" }, error.message),
      h("button", { type: "button", class: "btn", on: { click: () => this.load() } }, t("common.retry")),
    );
  }

  _schedule() {
    const want = this._active && this.isConnected && document.visibilityState === "visible";
    if (want && !this._timer) {
      this._timer = setInterval(() => this._refresh(), REFRESH_MS);
      this._ticker = setInterval(() => this._tick(), TICK_MS);
    }
    if (!want && this._timer) {
      clearInterval(this._timer);
      clearInterval(this._ticker);
      this._timer = null;
      this._ticker = null;
    }
  }

  _tick() {
    for (const card of this._cards.values()) card.tick();
  }

  // --- rendering ------------------------------------------------------------------------

  _render() {
    const byId = new Map(this._providers.map((p) => [p.id, p]));
    const providersKey = this._providers.map((p) => `${p.id}:${p.displayName}:${p.model}`).join("|");
    const ids = new Set(this._routes.map((r) => r.id));
    for (const [id, card] of this._cards) {
      if (ids.has(id)) continue;
      card.remove();
      this._cards.delete(id);
      this._shown.delete(id);
    }
    let previous = null;
    for (const route of this._routes) {
      let card = this._cards.get(route.id);
      if (!card) {
        card = h("route-card");
        this._cards.set(route.id, card);
      }
      const key = `${JSON.stringify(route)}#${providersKey}`;
      if (this._shown.get(route.id) !== key) {
        this._shown.set(route.id, key);
        card.providers = byId;
        card.route = route;
      }
      // Move only what is out of place, so the focus inside a card survives a refresh.
      const expected = previous ? previous.nextElementSibling : this._list.firstElementChild;
      if (expected !== card) {
        if (previous) previous.after(card);
        else this._list.prepend(card);
      }
      previous = card;
    }
    const none = this._routes.length === 0;
    this._list.hidden = none;
    this._empty.hidden = !none;
    if (none) this._renderEmpty();
    this._addBtn.hidden = none;
    this._renderSummary();
  }

  _renderSummary() {
    if (this._routes.length === 0) {
      this._summary.textContent = t("routes.view.none");
      return;
    }
    const paused = new Set();
    for (const route of this._routes) {
      for (const [id, circuit] of Object.entries(route.circuits || {}))
        if (circuit && circuit.state === "open") paused.add(id);
    }
    const parts = [t("routes.view.summaryRoutes", { count: this._routes.length })];
    if (paused.size) parts.push(t("routes.view.summaryPaused", { count: paused.size }));
    this._summary.textContent = parts.join(" · ");
  }

  // --- actions --------------------------------------------------------------------------

  _takenNames(exceptId = null) {
    return [...this._providers.map((p) => p.name), ...this._routes.filter((r) => r.id !== exceptId).map((r) => r.name)];
  }

  /** Open the form for a new route. */
  openAdd() {
    this._form.openAdd({ providers: this._providers, takenNames: this._takenNames() });
  }

  _edit(id) {
    const route = this._routes.find((r) => r.id === id);
    if (route) this._form.openEdit(route, { providers: this._providers, takenNames: this._takenNames(id) });
  }

  async _onSaved({ route, created }) {
    const names = route.members
      .map((id) => (this._providers.find((p) => p.id === id) || {}).displayName)
      .filter(Boolean);
    const name = route.displayName;
    toast({
      kind: "success",
      title: created ? t("routes.view.created", { name }) : t("routes.view.saved", { name }),
      message: names.length
        ? t("routes.view.order", { names: names.join(t("routes.listSeparator")) })
        : t("routes.view.orderNone"),
    });
    await this.load();
    const card = this._cards.get(route.id);
    if (card && created) card.scrollIntoView({ block: "nearest" });
  }

  async _remove(id) {
    const route = this._routes.find((r) => r.id === id);
    if (!route) return;
    const ok = await confirmDialog({
      title: t("routes.view.removeTitle", { name: route.displayName }),
      message: t("routes.view.removeText"),
      confirmLabel: t("routes.view.removeLabel"),
      danger: true,
    });
    if (!ok) return;
    const result = await this.routes.removeRoute(id);
    if (!result.success && result.error.code !== "NOT_FOUND") {
      toast({
        kind: "error",
        title: t("routes.view.removeFailed", { name: route.displayName }),
        message: result.error.message,
      });
      return;
    }
    toast({ kind: "success", title: t("routes.view.removed", { name: route.displayName }) });
    this._routes = this._routes.filter((r) => r.id !== id);
    this._render();
    this._heading.focus();
  }
}

customElements.define("routes-view", RoutesView);
