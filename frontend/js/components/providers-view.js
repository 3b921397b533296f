// <providers-view>: the provider list with health, and the home of the add/edit, delete,
// import and export flows. Owns the data: providers, cached statuses, recent histories.
// Cached statuses and the providers' reads (their keys' states) are refreshed every 30 s while
// the view is visible (they cost no request to any provider); an open circuit's countdown ticks
// each second without asking anything; histories load as cards scroll into view.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { adviceFor } from "../lib/advice.js";
import { formatMs, plural } from "../lib/format.js";
import { HistoryLoader } from "../lib/history-loader.js";
import { providerService } from "../services/custom-provider-service.js";
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

export class ProvidersView extends HTMLElement {
  constructor() {
    super();
    this.service = providerService;
    this._providers = [];
    this._statuses = new Map();
    this._cards = new Map();
    this._loaded = false;
    this._active = false;
    this._checking = false;
    this._histories = new HistoryLoader((id) => this.service.getHealthHistory(id, { limit: SPARK_POINTS }), {
      concurrency: HISTORY_CONCURRENCY,
    });
    this._desktop = false;
  }

  connectedCallback() {
    if (this._built) return;
    this._built = true;
    this._build();
    this._observer = new IntersectionObserver((entries) => {
      for (const entry of entries) if (entry.isIntersecting) this._histories.want(entry.target);
    });
    document.addEventListener("visibilitychange", () => this._schedule());
    this.load();
  }

  /** The shell says whether this view is on screen; refreshing runs only then. */
  set active(value) {
    this._active = Boolean(value);
    this._schedule();
    if (this._active && this._loaded) this._refresh();
    if (this._active) this._openFromRoute();
  }

  // Other views link to a form: #/providers?edit=<id> or #/providers?add (e.g. the chat's
  // "Edit provider"). The query is dropped once used, so Back and reloads don't reopen it.
  async _openFromRoute() {
    const query = /^#\/providers\?(.*)$/.exec(window.location.hash);
    if (!query || !this._loaded) return;
    window.history.replaceState(window.history.state, "", "#/providers");
    const params = new URLSearchParams(query[1]);
    const id = params.get("edit");
    if (id && !this._providers.some((p) => p.id === id)) await this.load(); // added elsewhere since
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
    this._heading = h("h1", { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } }, "Providers");
    this._summary = h("p", { class: "view-subtitle", "aria-live": "polite" }, "Loading…");
    this._filter = h("input", {
      type: "search",
      class: "input search-input",
      placeholder: "Filter",
      "aria-label": "Filter providers",
      autocomplete: "off",
      spellcheck: false,
    });
    this._filter.addEventListener("input", () => this._applyFilter());
    this._checkAllLabel = h("span", {}, "Check all");
    this._checkAllBtn = h(
      "button",
      { type: "button", class: "btn check-all-btn", on: { click: () => this.checkAll() } },
      h("span", { class: "btn-icon" }, icon("pulse", { size: 16 })),
      this._checkAllLabel,
    );
    const importBtn = h(
      "button",
      { type: "button", class: "btn import-btn", on: { click: () => this._importDialog.open() } },
      icon("import", { size: 16 }),
      h("span", { class: "label-collapsible" }, "Import"),
    );
    importBtn.title = "Import providers from a file";
    this._exportBtn = h(
      "button",
      {
        type: "button",
        class: "btn export-btn",
        on: { click: () => this._exportDialog.open({ count: this._providers.length, desktop: this._desktop }) },
      },
      icon("export", { size: 16 }),
      h("span", { class: "label-collapsible" }, "Export"),
    );
    this._exportBtn.title = "Export providers to a file";
    this._addBtn = h(
      "button",
      { type: "button", class: "btn btn-primary add-btn", on: { click: () => this.openAdd() } },
      icon("plus", { size: 16 }),
      h("span", {}, "Add provider"),
    );
    this._progress = h(
      "div",
      {
        class: "progress",
        hidden: true,
        role: "progressbar",
        "aria-label": "Checking providers",
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
    this._list = h("div", { class: "provider-list", role: "list", "aria-label": "Providers" });
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
    this._form.addEventListener("provider-keys-changed", (e) => this._providerChanged(e.detail.provider));
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
      h("h2", {}, "Add your first provider"),
      h(
        "p",
        { class: "muted" },
        "Connect OpenAI, Anthropic, Groq, a local Ollama or any compatible endpoint. Pick a template, paste a key, and MiaoDa Chat tests the connection before saving.",
      ),
      h(
        "div",
        { class: "empty-actions" },
        h(
          "button",
          { type: "button", class: "btn btn-primary btn-lg empty-add", on: { click: () => this.openAdd() } },
          icon("plus", { size: 18 }),
          "Add a provider",
        ),
        h(
          "button",
          { type: "button", class: "btn btn-lg", on: { click: () => this._importDialog.open() } },
          icon("import", { size: 18 }),
          "Import from a file",
        ),
      ),
    );
  }

  // --- data -----------------------------------------------------------------------------

  /** Load providers and their cached statuses, and render. */
  async load() {
    const result = await this.service.getProviders();
    this._skeleton.hidden = true;
    if (!result.success) {
      this._showFailure(result.error);
      return;
    }
    this._failure.hidden = true;
    this._providers = result.providers;
    this._loaded = true;
    this._render();
    if (this._active) this._openFromRoute();
    await this._refreshStatuses();
  }

  _showFailure(error) {
    if (this._loaded) {
      toast({ kind: "error", title: "Couldn't refresh the providers", message: error.message });
      return;
    }
    this._failure.hidden = false;
    this._empty.hidden = true;
    this._summary.textContent = "Not loaded";
    replaceChildren(
      this._failure,
      icon("alert", { size: 28 }),
      h("h2", {}, "The providers could not be loaded"),
      h("p", { class: "muted" }, error.message),
      h("button", { type: "button", class: "btn", on: { click: () => this.load() } }, "Try again"),
    );
  }

  async _refreshStatuses() {
    const result = await this.service.getHealthStatuses();
    if (!result.success) return;
    let unknownProvider = false;
    for (const status of result.statuses) {
      const before = this._statuses.get(status.providerId);
      this._statuses.set(status.providerId, status);
      const card = this._cards.get(status.providerId);
      if (!card) {
        unknownProvider = true;
        continue;
      }
      if (!card.busy) card.status = status;
      if (before && before.lastChecked !== status.lastChecked) this._reloadHistory(card);
    }
    if (unknownProvider || result.statuses.length !== this._providers.length) {
      // Something changed elsewhere (another window, an import from a script): reload the list.
      const fresh = await this.service.getProviders();
      if (fresh.success) {
        this._providers = fresh.providers;
        this._render();
      }
    }
    for (const card of this._cards.values()) card.tick();
    this._renderSummary();
    this._scheduleCountdown();
  }

  /** The timed refresh: statuses, and the providers' reads, whose keys change state with use. */
  async _refresh() {
    const fresh = await this.service.getProviders();
    if (fresh.success) {
      const known = new Map(this._providers.map((p) => [p.id, JSON.stringify(p)]));
      const changed =
        fresh.providers.length !== this._providers.length ||
        fresh.providers.some((p) => known.get(p.id) !== JSON.stringify(p));
      if (changed) {
        this._providers = fresh.providers;
        this._render();
      }
    }
    await this._refreshStatuses();
  }

  _schedule() {
    const want = this._active && document.visibilityState === "visible";
    if (want && !this._timer) this._timer = setInterval(() => this._refresh(), REFRESH_MS);
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
    if (ended) this._refreshStatuses();
    else this._scheduleCountdown();
  }

  /** A provider read that changed outside a save (its keys, from the form's key list). */
  _providerChanged(provider) {
    const index = this._providers.findIndex((p) => p.id === provider.id);
    if (index < 0) return;
    this._providers[index] = provider;
    const card = this._cards.get(provider.id);
    if (card) card.provider = provider;
  }

  // --- rendering ------------------------------------------------------------------------

  _render() {
    const ids = new Set(this._providers.map((p) => p.id));
    for (const [id, card] of this._cards) {
      if (!ids.has(id)) {
        this._observer.unobserve(card);
        card.remove();
        this._cards.delete(id);
      }
    }
    let previous = null;
    for (const provider of this._providers) {
      let card = this._cards.get(provider.id);
      if (!card) {
        card = h("provider-card");
        this._cards.set(provider.id, card);
      }
      card.provider = provider;
      card.status = this._statuses.get(provider.id) || null;
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

  _renderSummary() {
    if (!this._loaded) return;
    const n = this._providers.length;
    if (n === 0) {
      this._summary.textContent = "No providers yet";
      return;
    }
    const counts = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
    for (const p of this._providers) {
      const state = shownState(this._statuses.get(p.id));
      counts[state] = (counts[state] || 0) + 1;
    }
    const parts = [plural(n, "provider")];
    for (const state of ["healthy", "degraded", "unhealthy"])
      if (counts[state]) parts.push(`${counts[state]} ${state}`);
    if (counts.unknown && counts.unknown !== n) parts.push(`${counts.unknown} not checked`);
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
    if (query && shown === 0) this._noMatch.textContent = `No provider matches “${this._filter.value.trim()}”.`;
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
    else card.historyError = `The history could not be loaded: ${result.error.message}`;
  }

  // --- actions --------------------------------------------------------------------------

  openAdd() {
    this._form.openAdd({ existingNames: this._providers.map((p) => p.name) });
  }

  _edit(id) {
    const provider = this._providers.find((p) => p.id === id);
    if (provider) this._form.openEdit(provider, { existingNames: this._providers.map((p) => p.name) });
  }

  async _onSaved({ provider, check, created }) {
    const idx = this._providers.findIndex((p) => p.id === provider.id);
    if (idx >= 0) this._providers[idx] = provider;
    const when =
      check && check.responseTime != null ? ` Connected, first token in ${formatMs(check.responseTime)}.` : "";
    toast({
      kind: "success",
      title: created ? `Added ${provider.displayName}` : `Saved ${provider.displayName}`,
      message: `Requests go to ${provider.requestURL}.${when}`,
    });
    await this.load();
    const card = this._cards.get(provider.id);
    if (card && created) card.scrollIntoView({ block: "nearest" });
    // The save's own test is not a health check: run one so the badge means something now.
    this.checkOne(provider.id, { quiet: true });
  }

  async _delete(id) {
    const provider = this._providers.find((p) => p.id === id);
    if (!provider) return;
    const ok = await confirmDialog({
      title: `Delete “${provider.displayName}”?`,
      message: "Its settings, stored API key and health history are removed. This cannot be undone.",
      confirmLabel: "Delete provider",
      danger: true,
    });
    if (!ok) return;
    const result = await this.service.removeProvider(id);
    if (!result.success && result.error.code !== "NOT_FOUND") {
      toast({ kind: "error", title: `Couldn't delete ${provider.displayName}`, message: result.error.message });
      return;
    }
    toast({ kind: "success", title: `Deleted ${provider.displayName}` });
    this._providers = this._providers.filter((p) => p.id !== id);
    this._statuses.delete(id);
    this._render();
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
      if (!quiet) toast({ kind: "error", title: "The check could not run", message: result.error.message });
      if (result.error.code === "NOT_FOUND") this.load();
      return;
    }
    const status = result.status;
    this._statuses.set(id, status);
    card.status = status;
    this._reloadHistory(card);
    this._renderSummary();
    this._scheduleCountdown();
    if (quiet) return;
    const name = card.provider.displayName;
    const state = shownState(status);
    if (state === "healthy")
      toast({ kind: "success", title: `${name} is healthy`, message: `Answered in ${formatMs(status.responseTime)}.` });
    else if (state === "degraded") toast({ kind: "info", title: `${name} is degraded`, message: status.error || "" });
    else
      toast({
        kind: "error",
        title: `${name} is unhealthy`,
        message: `${status.error || "The check failed."} ${adviceFor({ code: status.errorCode }).advice}`.trim(),
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
        for (const status of changed.reset ? [] : changed.statuses) {
          if (!ids.has(status.providerId)) continue;
          done.add(status.providerId);
          const card = this._cards.get(status.providerId);
          if (card && card.busy) {
            card.busy = false;
            card.status = status;
          }
        }
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
    this._checkAllLabel.textContent = "Check all";
    if (!result.success) {
      toast({ kind: "error", title: "Check all failed", message: result.error.message });
      return;
    }
    for (const status of result.statuses) {
      this._statuses.set(status.providerId, status);
      const card = this._cards.get(status.providerId);
      if (card) {
        card.status = status;
        this._reloadHistory(card);
      }
    }
    this._renderSummary();
    this._scheduleCountdown();
    const counts = {};
    for (const s of result.statuses) counts[shownState(s)] = (counts[shownState(s)] || 0) + 1;
    const parts = ["healthy", "degraded", "unhealthy", "unknown"]
      .filter((k) => counts[k])
      .map((k) => `${counts[k]} ${k}`);
    const summary = `Checked ${plural(result.statuses.length, "provider")}: ${parts.join(", ") || "none"}.`;
    this._checkResult.textContent = summary;
    toast({
      kind: counts.unhealthy ? "error" : counts.degraded ? "info" : "success",
      title: "Check complete",
      message: summary,
    });
  }

  _setProgress(done, total) {
    this._checkAllLabel.textContent = `Checking ${done}/${total}…`;
    this._progress.setAttribute("aria-valuenow", String(done));
    this._progress.setAttribute("aria-valuetext", `${done} of ${total} checked`);
    this._progress.firstElementChild.style.setProperty("--progress", String(total ? done / total : 0));
  }

  _onExported({ count, path, filename, withKeys }) {
    const where = path || filename;
    toast({
      kind: "success",
      title: `Exported ${plural(count, "provider")}`,
      message: `${withKeys ? "With encrypted keys" : "Without keys"} → ${where}`,
    });
  }

  async _onImported(report) {
    const parts = [];
    if (report.added.length) parts.push(`${report.added.length} added`);
    if (report.updated.length) parts.push(`${report.updated.length} replaced`);
    if (report.skipped.length) parts.push(`${report.skipped.length} skipped`);
    if (report.errors.length) parts.push(`${report.errors.length} with errors`);
    toast({
      kind: report.errors.length ? "info" : "success",
      title: "Import complete",
      message: parts.join(", ") || "Nothing changed.",
    });
    await this.load();
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

customElements.define("providers-view", ProvidersView);
