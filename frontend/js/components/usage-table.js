// <usage-table>: the period grouped by provider, model, route or key (tabs), one row each with
// requests, errors and error rate, tokens in and out, cost per currency, and time to first
// token (p50, p95); the totals below. Tokens that include estimates carry "~" (its share in the
// tooltip, the meaning under the table); requests without a price say so, with a way to set one.
//
// In: `group`, `rows`, `totals`, `loading`, `failure` (an error). Events (bubbling):
// `group-change` {group}; `set-price` {model} (from a model row without a price);
// `show-unpriced` (from another tab: go to the models).
import { h, replaceChildren, uid } from "../lib/dom.js";
import { formatMs, plural } from "../lib/format.js";
import { exactCount, formatCost, formatCount, share } from "../lib/usage-format.js";

export const GROUPS = [
  { id: "provider", label: "Provider" },
  { id: "model", label: "Model" },
  { id: "route", label: "Route" },
  { id: "key", label: "Key" },
];
// Tables have room for exact figures; only huge ones are shortened ("12.3M").
const COMPACT_FROM = 10_000_000;
const TEXT = {
  tabs: "Group usage by",
  panel: (group) => `Usage by ${group.toLowerCase()}`,
  requests: "Requests",
  errors: "Errors",
  errorRate: "Error rate",
  tokensIn: "Tokens in",
  tokensOut: "Tokens out",
  cost: "Cost",
  p50: "First token p50",
  p95: "First token p95",
  p50Help: "Half of the answers began sooner than this",
  p95Help: "95 of 100 answers began sooner than this",
  all: "All",
  empty: "No requests in this period.",
  loading: "Loading…",
  estimated: (pct) => `${pct} of these tokens were estimated by the app: the provider did not report them`,
  noPriceModel: (model) => `cost unknown: no price for model ${model}`,
  noPrice: (n) => `cost unknown for ${plural(n, "request")}`,
  setPrice: "Set a price",
  whichModels: "See models",
  legend: "~ Includes tokens the app estimated because the provider did not report them (and the cost from them).",
};

export class UsageTable extends HTMLElement {
  connectedCallback() {
    if (this._tabs) return;
    this.classList.add("usage-table");
    this._group = "provider";
    this._panelId = uid("usage-table");
    this._tabs = GROUPS.map((g) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          class: "tab",
          id: uid(`usage-tab-${g.id}`),
          "aria-controls": this._panelId,
          dataset: { group: g.id },
          on: { click: () => this._choose(g.id, false) },
        },
        g.label,
      ),
    );
    const list = h("div", { class: "tabs", role: "tablist", "aria-label": TEXT.tabs }, this._tabs);
    list.addEventListener("keydown", (event) => this._onKey(event));
    this._panel = h("div", { class: "table-panel", id: this._panelId, role: "tabpanel" });
    this._legend = h("p", { class: "table-legend muted", hidden: true }, TEXT.legend);
    this.append(list, this._panel, this._legend);
    this._markTabs();
    this._render();
  }

  get group() {
    return this._group;
  }

  set group(value) {
    this._group = value;
    if (this._tabs) this._markTabs();
  }

  /** `{rows, totals}` of the summary grouped by `group`, or a `failure`/`loading` state. */
  show({ rows = [], totals = null, loading = false, failure = null }) {
    this._state = { rows, totals, loading, failure };
    if (this._panel) this._render();
  }

  _choose(group, focus) {
    if (group === this._group) return;
    this._group = group;
    this._markTabs();
    if (focus) this._tabs.find((t) => t.dataset.group === group).focus();
    this.dispatchEvent(new CustomEvent("group-change", { bubbles: true, detail: { group } }));
  }

  _markTabs() {
    for (const tab of this._tabs) {
      const on = tab.dataset.group === this._group;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    // Named in words of its own: a panel named just "Provider" would answer for the chat's
    // provider picker wherever the page is searched by label.
    this._panel.setAttribute("aria-label", TEXT.panel(GROUPS.find((g) => g.id === this._group).label));
  }

  _onKey(event) {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    const at = GROUPS.findIndex((g) => g.id === this._group);
    let next = null;
    if (step) next = GROUPS[(at + step + GROUPS.length) % GROUPS.length].id;
    else if (event.key === "Home") next = GROUPS[0].id;
    else if (event.key === "End") next = GROUPS[GROUPS.length - 1].id;
    if (!next) return;
    event.preventDefault();
    this._choose(next, true);
  }

  _render() {
    const state = this._state || { rows: [], loading: true };
    this.toggleAttribute("aria-busy", Boolean(state.loading));
    if (state.failure) {
      this._legend.hidden = true;
      return replaceChildren(this._panel, h("p", { class: "table-message" }, state.failure.message));
    }
    if (state.loading && !state.rows.length) {
      this._legend.hidden = true;
      return replaceChildren(this._panel, h("p", { class: "table-message muted" }, TEXT.loading));
    }
    if (!state.rows.length) {
      this._legend.hidden = true;
      return replaceChildren(this._panel, h("p", { class: "table-message muted" }, TEXT.empty));
    }
    const head = h(
      "tr",
      {},
      h("th", { scope: "col", class: "col-name" }, GROUPS.find((g) => g.id === this._group).label),
      num("th", TEXT.requests),
      num("th", TEXT.errors),
      num("th", TEXT.errorRate),
      num("th", TEXT.tokensIn),
      num("th", TEXT.tokensOut),
      h("th", { scope: "col", class: "col-cost" }, TEXT.cost),
      num("th", TEXT.p50, TEXT.p50Help),
      num("th", TEXT.p95, TEXT.p95Help),
    );
    const rows = state.rows.map((row) => this._row(row));
    const foot = state.totals ? this._row({ ...state.totals, key: null, label: TEXT.all }, true) : null;
    this._legend.hidden = ![...state.rows, state.totals || {}].some((r) => r.estimatedTokens > 0);
    replaceChildren(
      this._panel,
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "data-table" },
          h("thead", {}, head),
          h("tbody", {}, rows),
          foot ? h("tfoot", {}, foot) : null,
        ),
      ),
    );
  }

  _row(row, total = false) {
    const tokens = (row.inputTokens || 0) + (row.outputTokens || 0);
    const approx = row.estimatedTokens > 0 ? TEXT.estimated(share(row.estimatedTokens, tokens)) : null;
    const nameCell = h(
      "th",
      { scope: "row", class: "col-name" },
      h(
        "span",
        { class: ["row-label", this._group === "model" || this._group === "key" ? "mono" : ""], title: row.label },
        row.label,
      ),
    );
    return h(
      "tr",
      { class: total ? "row-total" : null, dataset: total ? {} : { key: row.key ?? "" } },
      nameCell,
      num("td", formatCount(row.requests, COMPACT_FROM), exactCount(row.requests)),
      num("td", formatCount(row.errors, COMPACT_FROM), exactCount(row.errors), row.errors > 0 ? "has-errors" : null),
      num("td", share(row.errors, row.requests)),
      tokenCell(row.inputTokens, approx),
      tokenCell(row.outputTokens, approx),
      h("td", { class: "col-cost" }, this._cost(row, total)),
      num("td", formatMs(row.ttftP50)),
      num("td", formatMs(row.ttftP95)),
    );
  }

  _cost(row, total) {
    const estimated = Object.values(row.estimatedCost || {}).some((v) => v > 0);
    const known = Object.keys(row.cost || {}).length
      ? h("span", { class: "cost-known" }, (estimated ? "~" : "") + formatCost(row.cost))
      : null;
    if (!(row.unknownCostRequests > 0)) return known || h("span", { class: "muted" }, "—");
    const forModel = this._group === "model" && !total;
    let action = null;
    if (forModel)
      action = h(
        "button",
        { type: "button", class: "link-btn", on: { click: () => this._emit("set-price", { model: row.key }) } },
        TEXT.setPrice,
      );
    else if (!total)
      action = h(
        "button",
        { type: "button", class: "link-btn", on: { click: () => this._emit("show-unpriced", {}) } },
        TEXT.whichModels,
      );
    return [
      known,
      h(
        "span",
        { class: "cost-unknown" },
        forModel ? TEXT.noPriceModel(row.key) : TEXT.noPrice(row.unknownCostRequests),
        " ",
        action,
      ),
    ];
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { bubbles: true, detail }));
  }
}

function num(tag, text, title = null, extra = null) {
  return h(tag, { class: ["num", extra], scope: tag === "th" ? "col" : null, title }, text);
}

function tokenCell(count, approx) {
  const text = formatCount(count, COMPACT_FROM);
  if (!approx) return num("td", text, exactCount(count));
  return h(
    "td",
    { class: "num is-estimated", title: `${exactCount(count)} — ${approx}` },
    h("span", { class: "approx-mark", "aria-hidden": "true" }, "~"),
    h("span", { class: "sr-only" }, "estimated "),
    text,
  );
}

customElements.define("usage-table", UsageTable);
