// <route-card>: one route in the routes screen — its names, strategy, and its members in the
// order tried, each with its circuit breaker's state ("Available", "Paused, reopens in 12 s"
// with why, "Probing"). A route whose providers were all removed says so.
// Data flows down (`route`, `providers`: a Map of the saved providers by id); `tick()` redraws
// the countdowns. User intent goes up as bubbling events: edit-route, delete-route ({detail: {id}}).
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";
import { describeCircuit, strategyHelp, strategyLabel } from "../lib/route-rules.js";

const CIRCUIT_ICONS = { closed: "check", open: "clock", "half-open": "pulse" };

export class RouteCard extends HTMLElement {
  constructor() {
    super();
    this._route = null;
    this._providers = new Map();
  }

  get routeId() {
    return this._route ? this._route.id : null;
  }

  get route() {
    return this._route;
  }

  set route(value) {
    this._route = value;
    this._render();
  }

  /** The saved providers by id, for the members' names (drawn with the next `route`). */
  set providers(map) {
    this._providers = map;
  }

  /** Redraw the circuits (their countdowns move with the clock). */
  tick() {
    if (!this._built) return;
    for (const row of this._members.children) this._renderCircuit(row, row.circuit);
  }

  _build() {
    this._built = true;
    this.classList.add("card", "route-card");
    this.setAttribute("role", "listitem");
    this._title = h("h2", { class: "route-title" });
    this._name = h("code", { class: "card-name" });
    this._strategy = h("span", { class: "route-strategy" });
    this._count = h("span", { class: "route-count" });
    this._editBtn = h(
      "button",
      { type: "button", class: "icon-btn edit-btn", on: { click: () => this._emit("edit-route") } },
      icon("edit"),
    );
    this._deleteBtn = h(
      "button",
      { type: "button", class: "icon-btn danger delete-btn", on: { click: () => this._emit("delete-route") } },
      icon("trash"),
    );
    this._warning = h(
      "p",
      { class: "route-warning", role: "note", hidden: true },
      icon("alert", { size: 16 }),
      h("span", {}, t("routes.card.empty")),
    );
    this._members = h("ol", { class: "route-members" });
    this.append(
      h(
        "div",
        { class: "route-head" },
        h("span", { class: "route-icon", "aria-hidden": "true" }, icon("route", { size: 20 })),
        h(
          "div",
          { class: "route-ident" },
          this._title,
          h("div", { class: "card-meta" }, this._name, this._strategy, this._count),
        ),
        h("div", { class: "card-actions" }, this._editBtn, this._deleteBtn),
      ),
      this._warning,
      this._members,
    );
  }

  _render() {
    if (!this._built) this._build();
    const route = this._route;
    this.dataset.routeId = route.id;
    this._title.textContent = route.displayName;
    this._name.textContent = route.name;
    this._strategy.textContent = strategyLabel(route.strategy);
    this._strategy.title = strategyHelp(route.strategy);
    this._count.textContent = t("routes.card.members", { count: route.members.length });
    for (const [button, label] of [
      [this._editBtn, t("routes.card.edit", { name: route.displayName })],
      [this._deleteBtn, t("routes.card.remove", { name: route.displayName })],
    ]) {
      button.title = label;
      button.setAttribute("aria-label", label);
    }
    this._warning.hidden = route.members.length > 0;
    this.classList.toggle("is-empty", route.members.length === 0);
    const circuits = route.circuits || {};
    const rows = route.members.map((id, index) => {
      const row = this._memberRow(id, index);
      row.circuit = circuits[id] || null;
      this._renderCircuit(row, row.circuit);
      return row;
    });
    replaceChildren(this._members, rows);
    this._members.hidden = rows.length === 0;
  }

  _memberRow(id, index) {
    const provider = this._providers.get(id);
    const chip = h("span", { class: "circuit-chip" });
    const why = h("p", { class: "circuit-why" });
    const row = h(
      "li",
      { class: "route-member", dataset: { providerId: id } },
      h("span", { class: "member-pos", "aria-hidden": "true" }, String(index + 1)),
      h(
        "div",
        { class: "member-ident" },
        h("span", { class: "member-name" }, provider ? provider.displayName : t("routes.card.gone")),
        provider ? h("span", { class: "member-model mono" }, provider.model) : null,
      ),
      chip,
      why,
    );
    row.chip = chip;
    row.why = why;
    return row;
  }

  _renderCircuit(row, circuit) {
    const info = describeCircuit(circuit);
    row.dataset.circuit = info.state;
    const key = `${info.state}|${info.label}`;
    if (row.chip.dataset.key !== key) {
      row.chip.dataset.key = key;
      row.chip.className = `circuit-chip circuit-${info.state}`;
      row.chip.title = info.detail;
      replaceChildren(row.chip, icon(CIRCUIT_ICONS[info.state], { size: 14 }), info.label);
    }
    const reason = info.state === "closed" ? null : info.reason;
    row.why.hidden = !reason;
    if (reason && row.why.dataset.key !== `${reason.code}|${reason.message}`) {
      row.why.dataset.key = `${reason.code}|${reason.message}`;
      replaceChildren(
        row.why,
        h("span", { class: "sr-only" }, t("routes.card.why"), " "),
        h("span", { class: "error-code" }, reason.code),
        " ",
        reason.message,
      );
    }
  }

  _emit(type) {
    this.dispatchEvent(new CustomEvent(type, { bubbles: true, detail: { id: this._route.id } }));
  }
}

customElements.define("route-card", RouteCard);
