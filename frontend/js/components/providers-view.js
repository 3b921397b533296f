// <providers-view>: the provider list with health, and the home of the add/edit, delete,
// import and export flows. The providers and their cached statuses live in the provider store
// (services/provider-store.js), which the chat's picker reads too: this view renders what the
// store holds, and puts there what it learns (a save, a check, a delete). It reads the store
// again every 30 s while it is visible (no request to any provider); an open circuit's
// countdown ticks each second without asking anything; histories load as cards scroll into view.
import { h, replaceChildren } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { adviceFor } from "../lib/advice.js";
import { formatMs, joinParts } from "../lib/format.js";
import { HistoryLoader } from "../lib/history-loader.js";
import { providerService } from "../services/custom-provider-service.js";
import { providerStore } from "../services/provider-store.js";
import { confirmDialog } from "./confirm-dialog.js";
import { toast } from "./toast-region.js";
import { shownState } from "./health-badge.js";
import "./provider-card.js";
import "./provider-form.js";
import "./export-dialog.js";
import "./import-dialog.js";

const REFRESH_MS = 30_000;
const COUNTDOWN_MS = 1000;
const PROGRESS_POLL_MS = 400;
const SPARK_POINTS = 40;
const HISTORY_CONCURRENCY = 4;
const STATES = ["healthy", "degraded", "unhealthy", "unknown"];
// "2 healthy" in the summary and the check result, by the state shown.
const STATE_COUNTS = {
  healthy: "providers.view.count.healthy",
  degraded: "providers.view.count.degraded",
  unhealthy: "providers.view.count.unhealthy",
  unknown: "providers.view.count.unknown",
};

export class ProvidersView extends HTMLElement {
  constructor() {
    super();
    this.service = providerService;
    this.store = providerStore;
    this._cards = new Map();
    this._checked = new Map(); // provider id → the lastChecked its card shows
    this._active = false;
    this._checking = false;
    this._histories = new HistoryLoader((id) => this.service.getHealthHistory(id, { limit: SPARK_POINTS }), {
      concurrency: HISTORY_CONCURRENCY,
    });
    this._desktop = false;
    this._onVisibility = () => this._schedule();
  }

  connectedCallback() {
    if (!this._built) {
      this._built = true;
      this._build();
      this._observer = new IntersectionObserver((entries) => {
        for (const entry of entries) if (entry.isIntersecting) this._histories.want(entry.target);
      });
    }
    this._unsubscribe = this.store.subscribe(() => this._render());
    document.addEventListener("visibilitychange", this._onVisibility);
    if (this.store.loaded) this._render();
    this.load();
  }

  disconnectedCallback() {
    this._unsubscribe?.();
    document.removeEventListener("visibilitychange", this._onVisibility);
    this._active = false;
    this._schedule();
  }

  get _providers() {
    return this.store.providers;
  }

  /** The shell says whether this view is on screen; refreshing runs only then. */
  set active(value) {
    this._active = Boolean(value);
    this._schedule();
    if (this._active && this.store.loaded) this.load();
    if (this._active) this._openFromRoute();
  }

  // Other views link to a form: #/providers?edit=<id> or #/providers?add (e.g. the chat's
  // "Edit provider"). The query is dropped once used, so Back and reloads don't reopen it.
  async _openFromRoute() {
    const query = /^#\/providers\?(.*)$/.exec(window.location.hash);
    if (!query || !this.store.loaded) return;
    window.history.replaceState(window.history.state, "", "#/providers");
    const params = new URLSearchParams(query[1]);
    const id = params.get("edit");
    if (id && !this.store.find(id)) await this.load(); // added elsewhere since
    if (id) this._edit(id);
    else if (params.has("add")) this.openAdd();
  }

  /** Whether exports go through a native save dialog (the desktop window). */
  set desktop(value) {
    this._desktop = Boolean(value);
  }

  // --- layout ---------------------------------------------------------------------------

  _build() {
    this.classList.add("view", "providers-view");
    this._heading = h(
      "h1",
      { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } },
      t("providers.view.title"),
    );
    this._summary = h("p", { class: "view-subtitle", "aria-live": "polite" }, t("common.loading"));
    this._filter = h("input", {
      type: "search",
      class: "input search-input",
      placeholder: t("providers.view.filter"),
      "aria-label": t("providers.view.filterLabel"),
      autocomplete: "off",
      spellcheck: false,
      dataset: { focusKey: "providers-filter" },
    });
    this._filter.addEventListener("input", () => this._applyFilter());
    this._checkAllLabel = h("span", {}, t("providers.view.checkAll"));
    this._checkAllBtn = h(
      "button",
      {
        type: "button",
        class: "btn check-all-btn",
        dataset: { focusKey: "providers-check-all" },
        on: { click: () => this.checkAll() },
      },
      h("span", { class: "btn-icon" }, icon("pulse", { size: 16 })),
      this._checkAllLabel,
    );
    const importBtn = h(
      "button",
      {
        type: "button",
        class: "btn import-btn",
        title: t("providers.view.importTitle"),
        dataset: { focusKey: "providers-import" },
        on: { click: () => this._importDialog.open() },
      },
      icon("import", { size: 16 }),
      h("span", { class: "label-collapsible" }, t("providers.view.import")),
    );
    this._exportBtn = h(
      "button",
      {
        type: "button",
        class: "btn export-btn",
        title: t("providers.view.exportTitle"),
        dataset: { focusKey: "providers-export" },
        on: { click: () => this._exportDialog.open({ count: this._providers.length, desktop: this._desktop }) },
      },
      icon("export", { size: 16 }),
      h("span", { class: "label-collapsible" }, t("providers.view.export")),
    );
    this._addBtn = h(
      "button",
      {
        type: "button",
        class: "btn btn-primary add-btn",
        dataset: { focusKey: "providers-add" },
        on: { click: () => this.openAdd() },
      },
      icon("plus", { size: 16 }),
      h("span", {}, t("providers.view.add")),
    );
    this._progress = h(
      "div",
      {
        class: "progress",
        hidden: true,
        role: "progressbar",
        "aria-label": t("providers.view.progress"),
        "aria-valuemin": "0",
      },
      h("div", { class: "progress-bar" }),
    );
    this._checkResult = h("p", { class: "check-result muted", "aria-live": "polite" });

    const header = h(
      "header",
      { class: "view-header" },
      h("div", { class: "view-heading" }, this._heading, this._summary),
      h(
        "div",
        { class: "toolbar" },
        h("div", { class: "search-wrap filter-wrap" }, icon("search", { size: 16 }), this._filter),
        this._checkAllBtn,
        importBtn,
        this._exportBtn,
        this._addBtn,
      ),
    );
    this._list = h("div", { class: "provider-list", role: "list", "aria-label": t("providers.view.title") });
    this._noMatch = h("p", { class: "muted no-match", hidden: true });
    this._empty = this._buildEmpty();
    this._failure = h("div", { class: "load-failure", hidden: true });
    this._skeleton = h(
      "div",
      { class: "provider-list skeleton", "aria-hidden": "true" },
      [1, 2, 3].map(() => h("div", { class: "card skeleton-card" }, h("span"), h("span"), h("span"))),
    );

    this._form = h("provider-form");
    this._form.addEventListener("provider-saved", (e) => this._onSaved(e.detail));
    this._form.addEventListener("provider-missing", () => this.load());
    this._form.addEventListener("provider-keys-changed", (e) => this.store.putProvider(e.detail.provider));
    this._exportDialog = h("export-dialog");
    this._exportDialog.addEventListener("providers-exported", (e) => this._onExported(e.detail));
    this._importDialog = h("import-dialog");
    this._importDialog.addEventListener("providers-imported", (e) => this._onImported(e.detail));

    this.addEventListener("edit-provider", (e) => this._edit(e.detail.id));
    this.addEventListener("delete-provider", (e) => this._delete(e.detail.id));
    this.addEventListener("check-provider", (e) => this.checkOne(e.detail.id));
    this.addEventListener("expand-provider", (e) => this._loadFullHistory(e.detail.id));

    this.append(
      header,
      this._progress,
      this._checkResult,
      h("div", { class: "view-body" }, this._skeleton, this._failure, this._empty, this._list, this._noMatch),
      this._form,
      this._exportDialog,
      this._importDialog,
    );
  }

  _buildEmpty() {
    return h(
      "div",
      { class: "empty-state", hidden: true },
      h("img", { src: "img/logo.svg", alt: "", class: "empty-art", width: 72, height: 72 }),
      h("h2", {}, t("providers.empty.title")),
      h("p", { class: "muted" }, t("providers.empty.text")),
      h(
        "div",
        { class: "empty-actions" },
        h(
          "button",
          { type: "button", class: "btn btn-primary btn-lg empty-add", on: { click: () => this.openAdd() } },
          icon("plus", { size: 18 }),
          t("providers.empty.add"),
        ),
        h(
          "button",
          { type: "button", class: "btn btn-lg", on: { click: () => this._importDialog.open() } },
          icon("import", { size: 18 }),
          t("providers.empty.import"),
        ),
      ),
    );
  }

  // --- data -----------------------------------------------------------------------------

  /** Read the providers and their cached statuses into the store (which renders them). */
  async load() {
    const result = await this.store.load();
    this._skeleton.hidden = true;
    if (!result.success) return this._showFailure(result.error);
    this._failure.hidden = true;
    if (this._active) this._openFromRoute();
  }

  _showFailure(error) {
    if (this.store.loaded) {
      toast({ kind: "error", title: t("providers.view.refreshFailed"), message: error.message });
      return;
    }
    this._failure.hidden = false;
    this._empty.hidden = true;
    this._summary.textContent = t("providers.view.notLoaded");
    replaceChildren(
      this._failure,
      icon("alert", { size: 28 }),
      h("h2", {}, t("providers.view.loadFailed")),
      h("p", { class: "muted" }, error.message),
      h("button", { type: "button", class: "btn", on: { click: () => this.load() } }, t("common.retry")),
    );
  }

  _schedule() {
    const want = this._active && document.visibilityState === "visible";
    if (want && !this._timer) this._timer = setInterval(() => this.load(), REFRESH_MS);
    if (!want && this._timer) {
      clearInterval(this._timer);
      this._timer = null;
    }
    this._scheduleCountdown();
  }

  // Open circuits count down to their probe each second, from the time they opened: no request.
  // When one reaches zero it reads as half-open, and the cached statuses are read once more.
  _scheduleCountdown() {
    const want =
      this._active && document.visibilityState === "visible" && [...this._cards.values()].some((card) => card.counting);
    if (want && !this._countdown) this._countdown = setInterval(() => this._tickCountdown(), COUNTDOWN_MS);
    if (!want && this._countdown) {
      clearInterval(this._countdown);
      this._countdown = null;
    }
  }

  _tickCountdown() {
    let ended = false;
    for (const card of this._cards.values()) {
      if (!card.counting) continue;
      card.tick();
      if (!card.counting) ended = true;
    }
    if (ended) this.store.refreshStatuses();
    else this._scheduleCountdown();
  }

  // --- rendering ------------------------------------------------------------------------

  /** Show what the store holds: cards added, moved, updated or removed; statuses; summary. */
  _render() {
    if (!this._built || !this.store.loaded) return;
    this._skeleton.hidden = true;
    const ids = new Set(this._providers.map((p) => p.id));
    for (const [id, card] of this._cards) {
      if (!ids.has(id)) {
        this._observer.unobserve(card);
        card.remove();
        this._cards.delete(id);
        this._checked.delete(id);
      }
    }
    let previous = null;
    for (const provider of this._providers) {
      let card = this._cards.get(provider.id);
      if (!card) {
        card = h("provider-card");
        this._cards.set(provider.id, card);
      }
      if (card.provider !== provider) card.provider = provider;
      this._showStatus(card);
      // Move only what is out of place, so focus inside a card survives a refresh.
      const expected = previous ? previous.nextElementSibling : this._list.firstElementChild;
      if (expected !== card) {
        if (previous) previous.after(card);
        else this._list.prepend(card);
        this._observer.observe(card);
      }
      previous = card;
    }
    const none = this._providers.length === 0;
    this._empty.hidden = !none;
    this._list.hidden = none;
    this._filter.closest(".filter-wrap").hidden = none;
    this._checkAllBtn.disabled = none || this._checking;
    this._exportBtn.disabled = none;
    this._applyFilter();
    this._renderSummary();
    this._scheduleCountdown();
  }

  // A card busy with a check keeps "Checking…" until its result; a status whose check is newer
  // than the one the card showed reloads the card's sparkline (and its chart, when open).
  _showStatus(card) {
    if (card.busy) return;
    const id = card.providerId;
    const status = this.store.status(id);
    card.status = status;
    card.tick();
    const checked = status ? status.lastChecked || null : null;
    if (this._checked.has(id) && this._checked.get(id) !== checked && checked) this._reloadHistory(card);
    this._checked.set(id, checked);
  }

  _renderSummary() {
    if (!this.store.loaded) return;
    const n = this._providers.length;
    if (n === 0) {
      this._summary.textContent = t("providers.view.none");
      return;
    }
    const counts = countStates(this._providers.map((p) => this.store.status(p.id)));
    const parts = [t("providers.view.count.providers", { count: n })];
    for (const state of ["healthy", "degraded", "unhealthy"])
      if (counts[state]) parts.push(t(STATE_COUNTS[state], { count: counts[state] }));
    if (counts.unknown && counts.unknown !== n)
      parts.push(t("providers.view.count.notChecked", { count: counts.unknown }));
    this._summary.textContent = parts.join(" · ");
  }

  _applyFilter() {
    const query = this._filter.value.trim().toLowerCase();
    let shown = 0;
    for (const card of this._cards.values()) {
      const p = card.provider;
      const match =
        !query || [p.displayName, p.name, p.model, p.requestURL].some((v) => String(v).toLowerCase().includes(query));
      card.hidden = !match;
      if (match) shown += 1;
    }
    this._noMatch.hidden = !query || shown > 0;
    if (query && shown === 0)
      this._noMatch.textContent = t("providers.view.noMatch", { query: this._filter.value.trim() });
  }

  // --- history ---------------------------------------------------------------------------

  _reloadHistory(card) {
    this._histories.want(card, true);
    if (card.expanded) this._loadFullHistory(card.providerId);
  }

  async _loadFullHistory(id) {
    const card = this._cards.get(id);
    if (!card) return;
    const result = await this.service.getHealthHistory(id);
    if (!card.isConnected) return;
    if (result.success) card.fullHistory = result.history;
    else card.historyError = t("providers.view.historyFailed", { message: result.error.message });
  }

  // --- actions --------------------------------------------------------------------------

  openAdd() {
    this._form.openAdd({ existingNames: this._providers.map((p) => p.name) });
  }

  _edit(id) {
    const provider = this.store.find(id);
    if (provider) this._form.openEdit(provider, { existingNames: this._providers.map((p) => p.name) });
  }

  async _onSaved({ provider, check, created }) {
    this.store.putProvider(provider);
    const time = check && check.responseTime != null ? formatMs(check.responseTime) : null;
    toast({
      kind: "success",
      title: t(created ? "providers.view.added" : "providers.view.saved", { name: provider.displayName }),
      message: time
        ? t("providers.view.savedConnected", { url: provider.requestURL, time })
        : t("providers.view.savedMessage", { url: provider.requestURL }),
    });
    await this.load();
    const card = this._cards.get(provider.id);
    if (card && created) card.scrollIntoView({ block: "nearest" });
    // The save's own test is not a health check: run one so the badge means something now.
    this.checkOne(provider.id, { quiet: true });
  }

  async _delete(id) {
    const provider = this.store.find(id);
    if (!provider) return;
    const ok = await confirmDialog({
      title: t("providers.delete.title", { name: provider.displayName }),
      message: t("providers.delete.message"),
      confirmLabel: t("providers.delete.button"),
      danger: true,
    });
    if (!ok) return;
    const result = await this.service.removeProvider(id);
    if (!result.success && result.error.code !== "NOT_FOUND") {
      toast({
        kind: "error",
        title: t("providers.delete.failed", { name: provider.displayName }),
        message: result.error.message,
      });
      return;
    }
    toast({ kind: "success", title: t("providers.delete.done", { name: provider.displayName }) });
    this.store.removeProvider(id);
    this._heading.focus();
  }

  /** Check one provider now. */
  async checkOne(id, { quiet = false } = {}) {
    const card = this._cards.get(id);
    if (!card || card.busy) return;
    card.busy = true;
    const result = await this.service.checkHealth(id);
    card.busy = false;
    if (!result.success) {
      if (!quiet) toast({ kind: "error", title: t("providers.check.failed"), message: result.error.message });
      if (result.error.code === "NOT_FOUND") this.load();
      return;
    }
    const status = result.status;
    this.store.setStatuses([status]);
    if (quiet) return;
    const name = card.provider.displayName;
    const state = shownState(status);
    if (state === "healthy")
      toast({
        kind: "success",
        title: t("providers.check.healthy", { name }),
        message: t("providers.check.answered", { time: formatMs(status.responseTime) }),
      });
    else if (state === "degraded")
      toast({ kind: "info", title: t("providers.check.degraded", { name }), message: status.error || "" });
    else
      toast({
        kind: "error",
        title: t("providers.check.unhealthy", { name }),
        message:
          `${status.error || t("providers.check.checkFailed")} ${adviceFor({ code: status.errorCode }).advice}`.trim(),
      });
  }

  /** Check every provider, showing n/N as results arrive in the cache. */
  async checkAll() {
    if (this._checking || this._providers.length === 0) return;
    this._checking = true;
    const total = this._providers.length;
    const ids = new Set(this._providers.map((p) => p.id));
    this._checkAllBtn.disabled = true;
    this._checkAllBtn.classList.add("is-busy");
    this._progress.hidden = false;
    this._progress.setAttribute("aria-valuemax", String(total));
    this._checkResult.textContent = "";
    this._setProgress(0, total);
    for (const card of this._cards.values()) card.busy = true;

    // Progress: the statuses that changed since this cursor (a cheap read of the backend's
    // cache that sends no request to any provider).
    const start = await this.service.getHealthUpdates();
    let cursor = start.success ? start.cursor : null;
    const done = new Set();
    let polling = true;
    const poll = async () => {
      while (polling) {
        await sleep(PROGRESS_POLL_MS);
        if (!polling) break;
        const changed = await this.service.getHealthUpdates(cursor);
        if (!polling || !changed.success) continue;
        cursor = changed.cursor;
        const finished = (changed.reset ? [] : changed.statuses).filter((s) => ids.has(s.providerId));
        for (const status of finished) {
          done.add(status.providerId);
          const card = this._cards.get(status.providerId);
          if (card) card.busy = false;
        }
        this.store.setStatuses(finished);
        this._setProgress(done.size, total);
      }
    };
    poll();
    const result = await this.service.checkAllHealth();
    polling = false;
    this._checking = false;
    this._checkAllBtn.classList.remove("is-busy");
    this._progress.hidden = true;
    for (const card of this._cards.values()) card.busy = false;
    this._checkAllBtn.disabled = this._providers.length === 0;
    this._checkAllLabel.textContent = t("providers.view.checkAll");
    if (!result.success) {
      toast({ kind: "error", title: t("providers.check.allFailed"), message: result.error.message });
      return;
    }
    this.store.setStatuses(result.statuses);
    const counts = countStates(result.statuses);
    const parts = STATES.filter((k) => counts[k]).map((k) => t(STATE_COUNTS[k], { count: counts[k] }));
    const summary = t("providers.check.result", {
      count: result.statuses.length,
      states: parts.length ? joinParts(parts) : t("providers.check.none"),
    });
    this._checkResult.textContent = summary;
    toast({
      kind: counts.unhealthy ? "error" : counts.degraded ? "info" : "success",
      title: t("providers.check.complete"),
      message: summary,
    });
  }

  _setProgress(done, total) {
    this._checkAllLabel.textContent = t("providers.view.checking", { done, total });
    this._progress.setAttribute("aria-valuenow", String(done));
    this._progress.setAttribute("aria-valuetext", t("providers.view.progressValue", { done, total }));
    this._progress.firstElementChild.style.setProperty("--progress", String(total ? done / total : 0));
  }

  _onExported({ count, path, filename, withKeys }) {
    toast({
      kind: "success",
      title: t("providers.export.done", { count }),
      message: t(withKeys ? "providers.export.doneWithKeys" : "providers.export.doneWithoutKeys", {
        where: path || filename,
      }),
    });
  }

  async _onImported(report) {
    const parts = [];
    if (report.added.length) parts.push(t("providers.import.done.added", { count: report.added.length }));
    if (report.updated.length) parts.push(t("providers.import.done.replaced", { count: report.updated.length }));
    if (report.skipped.length) parts.push(t("providers.import.done.skipped", { count: report.skipped.length }));
    if (report.errors.length) parts.push(t("providers.import.done.errors", { count: report.errors.length }));
    const servers = report.mcpServers ? report.mcpServers.added.length + report.mcpServers.updated.length : 0;
    if (servers) parts.push(t("providers.import.done.mcpServers", { count: servers }));
    toast({
      kind: report.errors.length ? "info" : "success",
      title: t("providers.import.done.title"),
      message: parts.length ? joinParts(parts) : t("providers.import.done.nothing"),
    });
    await this.load();
  }
}

/** How many statuses are shown as each state. */
function countStates(statuses) {
  const counts = {};
  for (const status of statuses) {
    const state = shownState(status);
    counts[state] = (counts[state] || 0) + 1;
  }
  return counts;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

customElements.define("providers-view", ProvidersView);
