// <usage-table>: the period grouped by provider, model, route or key (tabs), one row each with
// requests, errors and error rate, tokens in and out, cost per currency, and time to first
// token (p50, p95); the totals below. Tokens that include estimates carry "~" (its share in the
// tooltip, the meaning under the table); requests without a price say so, with a way to set one.
//
// In: `group`, `rows`, `totals`, `loading`, `failure` (an error). Events (bubbling):
// `group-change` {group}; `set-price` {model} (from a model row without a price);
// `show-unpriced` (from another tab: go to the models).
import { h, replaceChildren, uid } from "../lib/dom.js";
import { formatMs } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { exactCount, formatCost, formatCount, share } from "../lib/usage-format.js";

/** The groupings, each with the keys of its tab's name and of its panel's name. */
export const GROUPS = [
  { id: "provider", label: "usage.table.group.provider", panel: "usage.table.panel.provider" },
  { id: "model", label: "usage.table.group.model", panel: "usage.table.panel.model" },
  { id: "route", label: "usage.table.group.route", panel: "usage.table.panel.route" },
  { id: "key", label: "usage.table.group.key", panel: "usage.table.panel.key" },
];
// Tables have room for exact figures; only huge ones are shortened ("12.3M").
const COMPACT_FROM = 10_000_000;

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
        t(g.label),
      ),
    );
    const list = h("div", { class: "tabs", role: "tablist", "aria-label": t("usage.table.tabs") }, this._tabs);
    list.addEventListener("keydown", (event) => this._onKey(event));
    this._panel = h("div", { class: "table-panel", id: this._panelId, role: "tabpanel" });
    this._legend = h("p", { class: "table-legend muted", hidden: true }, t("usage.table.legend"));
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
    this._panel.setAttribute("aria-label", t(this._groupInfo().panel));
  }

  _groupInfo() {
    return GROUPS.find((g) => g.id === this._group) || GROUPS[0];
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
      return replaceChildren(this._panel, h("p", { class: "table-message muted" }, t("common.loading")));
    }
    if (!state.rows.length) {
      this._legend.hidden = true;
      return replaceChildren(this._panel, h("p", { class: "table-message muted" }, t("usage.empty")));
    }
    const head = h(
      "tr",
      {},
      h("th", { scope: "col", class: "col-name" }, t(this._groupInfo().label)),
      num("th", t("usage.table.requests")),
      num("th", t("usage.table.errors")),
      num("th", t("usage.table.errorRate")),
      num("th", t("usage.table.tokensIn")),
      num("th", t("usage.table.tokensOut")),
      h("th", { scope: "col", class: "col-cost" }, t("usage.table.cost")),
      num("th", t("usage.table.p50"), t("usage.table.p50Help")),
      num("th", t("usage.table.p95"), t("usage.table.p95Help")),
    );
    const rows = state.rows.map((row) => this._row(row));
    const foot = state.totals ? this._row({ ...state.totals, key: null, label: t("usage.table.all") }, true) : null;
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
    const approx =
      row.estimatedTokens > 0 ? t("usage.table.estimated", { share: share(row.estimatedTokens, tokens) }) : null;
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
        t("usage.prices.add"),
      );
    else if (!total)
      action = h(
        "button",
        { type: "button", class: "link-btn", on: { click: () => this._emit("show-unpriced", {}) } },
        t("usage.table.whichModels"),
      );
    return [
      known,
      h(
        "span",
        { class: "cost-unknown" },
        forModel
          ? t("usage.table.noPriceModel", { model: row.key })
          : t("usage.table.noPrice", { count: row.unknownCostRequests }),
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
    h("span", { class: "sr-only" }, t("usage.table.estimatedMark"), " "),
    text,
  );
}

customElements.define("usage-table", UsageTable);
