// <usage-view>: the Usage screen (#/usage) — what the chats of a period cost: the period
// picker, the totals, a chart per day, a table by provider / model / route / key, the prices,
// CSV export and "Clear usage". Owns the data: the day summary (totals and chart), the summary
// of the table's group, the prices and the saved providers (names for the chart and the form).
// Everything is read again each time the screen is shown.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";
import { currenciesOf, periodLabel, timeZone } from "../lib/usage-format.js";
import { providerService } from "../services/custom-provider-service.js";
import { budgetStore, usageService } from "../services/usage-service.js";
import { confirmDialog } from "./confirm-dialog.js";
import { toast } from "./toast-region.js";
import { GROUPS } from "./usage-table.js";
import "./usage-period.js";
import "./usage-totals.js";
import "./usage-chart.js";
import "./usage-prices.js";

const GROUP_KEY = "miaoda.usage.group";

export class UsageView extends HTMLElement {
  constructor() {
    super();
    this.service = usageService;
    this.providerService = providerService;
    this._providers = [];
    this._active = false;
  }

  connectedCallback() {
    if (this._built) return;
    this._built = true;
    this._build();
  }

  /** The shell says whether this view is on screen; it reads everything again on showing. */
  set active(value) {
    const was = this._active;
    this._active = Boolean(value);
    if (this._active && !was) this.load();
  }

  get active() {
    return this._active;
  }

  // --- layout ---------------------------------------------------------------------------

  _build() {
    this.classList.add("view", "usage-view");
    this._heading = h(
      "h1",
      { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } },
      t("usage.view.heading"),
    );
    this._summary = h("p", { class: "view-subtitle", "aria-live": "polite" }, t("common.loading"));
    this._exportBtn = h(
      "button",
      {
        type: "button",
        class: "btn export-btn usage-export",
        title: t("usage.view.exportHelp"),
        on: { click: () => this._export() },
      },
      icon("export", { size: 16 }),
      h("span", { class: "label-collapsible" }, t("usage.view.export")),
    );
    this._clearBtn = h(
      "button",
      {
        type: "button",
        class: "btn usage-clear",
        title: t("usage.view.clearHelp"),
        on: { click: () => this._clear() },
      },
      icon("trash", { size: 16 }),
      h("span", { class: "label-collapsible" }, t("usage.view.clear")),
    );
    const header = h(
      "header",
      { class: "view-header" },
      h("div", { class: "view-heading" }, this._heading, this._summary),
      h("div", { class: "toolbar" }, this._exportBtn, this._clearBtn),
    );
    this._period = h("usage-period");
    this._totals = h("usage-totals");
    this._chart = h("usage-chart");
    this._table = h("usage-table");
    this._prices = h("usage-prices");
    this._failure = h("div", { class: "load-failure", hidden: true });
    this._content = h(
      "div",
      { class: "usage-content" },
      this._totals,
      h(
        "section",
        { class: "usage-panel", "aria-labelledby": "usage-per-day" },
        h("h2", { class: "panel-title", id: "usage-per-day" }, t("usage.view.perDay")),
        this._chart,
      ),
      h(
        "section",
        { class: "usage-panel usage-breakdown", "aria-labelledby": "usage-breakdown" },
        h("h2", { class: "panel-title", id: "usage-breakdown" }, t("usage.view.breakdown")),
        this._table,
      ),
      h("section", { class: "usage-panel" }, this._prices),
    );
    this.append(header, this._period, h("div", { class: "view-body" }, this._failure, this._content));
    this._table.group = readGroup();
    this._range = null;
    this.addEventListener("period-change", () => this.load());
    this.addEventListener("group-change", (event) => this._loadGroup(event.detail.group));
    this.addEventListener("show-unpriced", () => this._showUnpriced());
    this.addEventListener("set-price", (event) =>
      this._prices.editPrice({ model: event.detail.model, providerId: null }),
    );
    this.addEventListener("prices-changed", () => this._loadPrices());
  }

  // --- data -----------------------------------------------------------------------------

  _options(groupBy) {
    const range = this._range;
    return { since: range.since, until: range.until, groupBy, timezone: timeZone() };
  }

  /** Read the period's summaries, the prices and the providers, and draw them. */
  async load() {
    const range = this._period.range;
    if (!range) return;
    this._range = range;
    const seq = (this._seq = (this._seq || 0) + 1);
    const group = this._table.group;
    this.toggleAttribute("aria-busy", true);
    this._table.show({ loading: true });
    const [days, grouped, providers] = await Promise.all([
      this.service.getSummary(this._options("day")),
      this.service.getSummary(this._options(group)),
      this.providerService.getProviders(),
    ]);
    if (seq !== this._seq) return;
    this.toggleAttribute("aria-busy", false);
    if (!days.success) return this._showFailure(days.error);
    this._failure.hidden = true;
    this._content.hidden = false;
    if (providers.success) this._providers = providers.providers;
    this._days = days;
    this._renderSummary();
    this._showGroup(group, grouped);
    this._prices.providers = this._providers;
    await this._loadPrices();
    if (seq !== this._seq) return;
    this.dataset.period = `${range.from}..${range.to}`;
    this.setAttribute("data-ready", ""); // loaded: what tests may wait for
  }

  async _loadGroup(group) {
    keepGroup(group);
    if (!this._range) return;
    const seq = (this._groupSeq = (this._groupSeq || 0) + 1);
    this._table.show({ loading: true });
    const result = await this.service.getSummary(this._options(group));
    if (seq !== this._groupSeq || this._table.group !== group) return;
    this._showGroup(group, result);
  }

  _showGroup(group, result) {
    this._table.dataset.group = group;
    if (!result.success) return this._table.show({ failure: result.error });
    this._table.show({ rows: result.rows, totals: result.totals });
  }

  async _loadPrices() {
    const result = await this.service.getPrices();
    if (!result.success)
      return toast({ kind: "error", title: t("usage.view.pricesFailed"), message: result.error.message });
    this._prices.tables = result.tables;
    this._prices.prices = result.prices;
  }

  _renderSummary() {
    const { rows, totals } = this._days;
    this._summary.textContent = t("usage.view.summary", { period: periodLabel(this._range), count: totals.requests });
    this._totals.totals = totals;
    const labels = new Map(this._providers.map((p) => [p.id, p.displayName]));
    this._chart.data = { days: this._range.days, rows, labels, currencies: currenciesOf(totals.cost) };
  }

  _showFailure(error) {
    this._summary.textContent = t("usage.view.loadFailed");
    this._content.hidden = true;
    this._failure.hidden = false;
    replaceChildren(
      this._failure,
      icon("alert", { size: 28 }),
      h("h2", {}, t("usage.view.loadFailed")),
      h("p", { class: "muted" }, error.message),
      h("button", { type: "button", class: "btn", on: { click: () => this.load() } }, t("common.retry")),
    );
  }

  // --- actions --------------------------------------------------------------------------

  _showUnpriced() {
    if (this._table.group !== "model") {
      this._table.group = "model";
      this._loadGroup("model");
    }
    this._table.scrollIntoView({ block: "start", behavior: "smooth" });
    const tab = this._table.querySelector('[role="tab"][aria-selected="true"]');
    if (tab) tab.focus({ preventScroll: true });
  }

  async _export() {
    if (!this._range) return;
    const group = this._table.group;
    this._exportBtn.disabled = true;
    const result = await this.service.exportCsv(this._options(group));
    this._exportBtn.disabled = false;
    if (!result.success) {
      if (result.error.code !== "CANCELLED")
        toast({ kind: "error", title: t("usage.view.exportFailed"), message: result.error.message });
      return;
    }
    // The window saved it through a native dialog; a browser gets the file to download.
    if (result.path)
      return toast({
        kind: "success",
        title: t("usage.view.exported"),
        message: t("usage.view.exportedTo", { path: result.path }),
      });
    const text = result.csv ?? result.content ?? "";
    download(result.filename || `miaoda-usage-by-${group}-${this._range.from}-to-${this._range.to}.csv`, text);
  }

  async _clear() {
    const ok = await confirmDialog({
      title: t("usage.view.clearTitle"),
      message: t("usage.view.clearText"),
      confirmLabel: t("usage.view.clear"),
      danger: true,
    });
    if (!ok) return;
    const result = await this.service.clearUsage();
    if (!result.success) {
      toast({ kind: "error", title: t("usage.view.clearFailed"), message: result.error.message });
      return;
    }
    toast({ kind: "success", title: t("usage.view.cleared", { count: result.removed || 0 }) });
    budgetStore.refresh();
    await this.load();
  }
}

/** Save text as a CSV file through a temporary Blob link (the browser's download). */
function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function readGroup() {
  try {
    const value = localStorage.getItem(GROUP_KEY);
    return GROUPS.some((g) => g.id === value) ? value : "provider";
  } catch {
    return "provider";
  }
}

function keepGroup(group) {
  try {
    localStorage.setItem(GROUP_KEY, group);
  } catch {
    /* this page only */
  }
}

customElements.define("usage-view", UsageView);
