// UsageService: the usage, price and budget operations the views use (docs/API.md, Usage and
// cost). Thin over bridge.js: every method resolves to the envelope; it never rejects.
//
// `budgetStore` is the page's one copy of `getBudgets()`: provider cards read their budget from
// it, the shell refreshes it (on start, after chats, now and then) and toasts the alerts it has
// not shown before. Which alerts were shown is kept in localStorage, so each fires once.
import { call } from "../bridge.js";

const SEEN_KEY = "miaoda.usage.seenAlerts";
const SEEN_LIMIT = 200;

export class UsageService {
  /** `caller(method, ...args)` defaults to the real bridge; tests may pass another. */
  constructor(caller = call) {
    this._call = caller;
  }

  /** `{since?, until?, groupBy, timezone?}` → `{rows, totals}`. */
  getSummary(options) {
    return this._call("getUsageSummary", options);
  }

  /** `{prices}`: bundled and the user's, each with its `source`. */
  getPrices() {
    return this._call("getPrices");
  }

  /** `{providerId | null, model, inputPerMillion, outputPerMillion, cachedInputPerMillion?, currency}` → `{price}`. */
  setPrice(price) {
    return this._call("setPrice", price);
  }

  /** Remove the user's price; the bundled one (if any) applies again. */
  removePrice(providerId, model) {
    return this._call("removePrice", providerId ?? null, model);
  }

  /** `{amount, currency}`, or null to remove it → `{budget}`. */
  setBudget(providerId, budget) {
    return this._call("setBudget", providerId, budget ?? null);
  }

  /** `{budgets, alerts}` of the current month. */
  getBudgets() {
    return this._call("getBudgets");
  }

  /** `{removed}`: how many records went. */
  clearUsage() {
    return this._call("clearUsage");
  }

  /** Same options as getSummary → `{csv}` (a browser), or `{path}` once the window saved it. */
  exportCsv(options) {
    return this._call("exportUsageCsv", options);
  }
}

/** The instance the app uses. */
export const usageService = new UsageService();

/**
 * The budgets of the current month, shared by every provider card. Events: "change" (the
 * budgets were read again) and "alert" ({detail: alert}) once per alert never shown before.
 */
export class BudgetStore extends EventTarget {
  constructor(service = usageService, storage = safeStorage()) {
    super();
    this._service = service;
    this._storage = storage;
    this._budgets = new Map();
    this._loading = null;
    this._loaded = false;
  }

  /** The budget of `providerId` ({amount, currency, spent, share, month}), or null. */
  get(providerId) {
    return this._budgets.get(providerId) || null;
  }

  get loaded() {
    return this._loaded;
  }

  /** Read once if never read (cards call this as they appear). */
  want() {
    return this._loaded ? Promise.resolve() : this.refresh();
  }

  /** Read the budgets and alerts again; calls made while one is running share it. */
  refresh() {
    this._loading ??= this._read().finally(() => {
      this._loading = null;
    });
    return this._loading;
  }

  /** After setBudget: take the budget the server answered without waiting for a read. */
  put(providerId, budget) {
    if (budget) this._budgets.set(providerId, { ...this.get(providerId), ...budget });
    else this._budgets.delete(providerId);
    this.dispatchEvent(new CustomEvent("change"));
  }

  async _read() {
    const result = await this._service.getBudgets();
    if (!result.success) return;
    this._budgets = new Map((result.budgets || []).map((b) => [b.providerId, b]));
    this._loaded = true;
    this.dispatchEvent(new CustomEvent("change"));
    this._announce(result.alerts || []);
  }

  // Each alert once: by its seq, provider, threshold and month, so a seq that starts over
  // (usage cleared) still counts as new.
  _announce(alerts) {
    const seen = this._seen();
    const fresh = alerts.filter((a) => !seen.includes(alertId(a))).sort((a, b) => a.seq - b.seq);
    if (!fresh.length) return;
    this._remember([...seen, ...fresh.map(alertId)]);
    for (const alert of fresh) this.dispatchEvent(new CustomEvent("alert", { detail: alert }));
  }

  _seen() {
    try {
      const list = JSON.parse(this._storage.getItem(SEEN_KEY) || "[]");
      return Array.isArray(list) ? list.map(String) : [];
    } catch {
      return [];
    }
  }

  _remember(list) {
    try {
      this._storage.setItem(SEEN_KEY, JSON.stringify(list.slice(-SEEN_LIMIT)));
    } catch {
      /* storage off: an alert may show again after a reload */
    }
  }
}

function alertId(alert) {
  return `${alert.seq}:${alert.providerId}:${alert.threshold}:${alert.month}`;
}

function safeStorage() {
  try {
    return window.localStorage;
  } catch {
    const memory = new Map();
    return { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, String(v)) };
  }
}

/** The store the app uses. */
export const budgetStore = new BudgetStore();
