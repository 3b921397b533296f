// A provider's monthly budget, on its card: <usage-budget-bar> (spent of the amount this month,
// shown only when a budget is set; the warning colour from 80 %, the error colour from 100 %)
// and <usage-budget-control> (in the card's details: the budget in words, and "Set monthly
// budget" opening a small inline form with the amount and its currency; "Remove budget").
// Only costs in the budget's currency count (the backend sums them).
//
// Both read `budgetStore` (services/usage-service.js) and follow its "change" events.
// In: `provider` (the card's provider).
//
// `watchBudgets()` (called once by the shell) keeps the store fresh — at start, after each chat
// sent from the page, when the page is shown again and every minute while it is visible — and
// toasts each alert at 80 % and 100 % the first time the page sees it.
import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { formatMoney, percent } from "../lib/usage-format.js";
import { conversationEvents } from "../services/conversation-service.js";
import { budgetStore, usageService } from "../services/usage-service.js";
import { toast } from "./toast-region.js";

const REFRESH_MS = 60_000;

const CURRENCIES = ["USD", "CNY"];

/** The toast for a budget alert from getBudgets(). */
export function alertToast(alert) {
  const over = alert.threshold >= 100;
  const name = alert.providerName || t("usage.budget.someProvider");
  const figures = {
    spent: formatMoney(alert.spent, alert.currency),
    amount: formatMoney(alert.amount, alert.currency),
  };
  return {
    kind: over ? "error" : "warn",
    title: over ? t("usage.budget.alertOver", { name }) : t("usage.budget.alertNear", { name }),
    message: t("usage.budget.alertText", figures),
  };
}

/** Keep the budgets fresh and toast new alerts (once per page). */
export function watchBudgets() {
  budgetStore.addEventListener("alert", (event) => toast(alertToast(event.detail)));
  let timer = null;
  const schedule = () => {
    const visible = document.visibilityState === "visible";
    if (visible && !timer) timer = setInterval(() => budgetStore.refresh(), REFRESH_MS);
    if (!visible && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
  document.addEventListener("visibilitychange", () => {
    schedule();
    if (document.visibilityState === "visible") budgetStore.refresh();
  });
  conversationEvents.addEventListener("changed", () => budgetStore.refresh());
  schedule();
  budgetStore.refresh();
}

/** A share of the budget as a state: "ok", "near" (80 % or more) or "over" (100 % or more). */
export function budgetState(share) {
  if (share >= 1) return "over";
  if (share >= 0.8) return "near";
  return "ok";
}

class BudgetFollower extends HTMLElement {
  constructor() {
    super();
    this._provider = null;
    this._onChange = () => this._render();
  }

  connectedCallback() {
    budgetStore.addEventListener("change", this._onChange);
    this._build();
    this._render();
    budgetStore.want();
  }

  disconnectedCallback() {
    budgetStore.removeEventListener("change", this._onChange);
  }

  set provider(value) {
    this._provider = value;
    if (this.isConnected) this._render();
  }

  get budget() {
    return this._provider ? budgetStore.get(this._provider.id) : null;
  }
}

export class UsageBudgetBar extends BudgetFollower {
  _build() {
    if (this._meter) return;
    this.classList.add("budget-bar");
    this._label = h("span", { class: "budget-text" });
    this._state = h("span", { class: "budget-state" });
    this._fill = h("span", { class: "budget-fill" });
    this._meter = h(
      "span",
      { class: "budget-meter", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100" },
      this._fill,
    );
    this.append(
      h("span", { class: "budget-label" }, t("usage.budget.barTitle")),
      this._meter,
      this._label,
      this._state,
    );
  }

  _render() {
    if (!this._meter) return;
    const b = this.budget;
    this.hidden = !b;
    if (!b) return;
    // From spent and amount, so the bar never depends on how `share` is scaled.
    const share = b.amount > 0 ? (Number(b.spent) || 0) / b.amount : 0;
    const state = budgetState(share);
    const bar = t("usage.budget.bar", {
      spent: formatMoney(b.spent || 0, b.currency),
      amount: formatMoney(b.amount, b.currency),
    });
    const pct = percent(Math.round(share * 100) / 100);
    this.dataset.state = state;
    this._fill.style.setProperty("--share", String(Math.min(1, Math.max(0, share))));
    this._meter.setAttribute("aria-valuenow", String(Math.round(share * 100)));
    this._meter.setAttribute("aria-valuetext", `${pct}: ${bar}`);
    this._meter.setAttribute("aria-label", t("usage.budget.barLabel", { name: this._provider.displayName }));
    this._label.textContent = `${bar} · ${pct}`;
    this._state.textContent =
      state === "over" ? t("usage.budget.over") : state === "near" ? t("usage.budget.near") : "";
    this._state.hidden = state === "ok";
  }
}

export class UsageBudgetControl extends BudgetFollower {
  constructor() {
    super();
    this.service = usageService;
  }

  _build() {
    if (this._line) return;
    this.classList.add("budget-control");
    const amountId = uid("budget-amount");
    const currencyId = uid("budget-currency");
    this._text = h("span", { class: "budget-now" });
    this._openBtn = h("button", {
      type: "button",
      class: "btn btn-sm budget-open",
      "aria-expanded": "false",
      on: { click: () => this._open() },
    });
    this._line = h("div", { class: "budget-line" }, this._text, this._openBtn);
    this._amount = h("input", {
      type: "number",
      id: amountId,
      class: "input",
      min: "0",
      step: "any",
      inputMode: "decimal",
      "aria-describedby": `${amountId}-msg`,
    });
    this._currency = h(
      "select",
      { id: currencyId, class: "input select" },
      CURRENCIES.map((c) => h("option", { value: c }, c)),
    );
    this._msg = h("p", { class: "field-msg", id: `${amountId}-msg`, "aria-live": "polite" });
    this._removeBtn = h(
      "button",
      { type: "button", class: "btn btn-sm budget-remove", on: { click: () => this._save(null) } },
      t("usage.budget.remove"),
    );
    this._form = h(
      "form",
      { class: "budget-form", hidden: true, noValidate: true },
      h("div", { class: "field field-compact" }, h("label", { for: amountId }, t("usage.budget.amount")), this._amount),
      h(
        "div",
        { class: "field field-compact" },
        h("label", { for: currencyId }, t("usage.budget.currency")),
        this._currency,
      ),
      h(
        "div",
        { class: "budget-actions" },
        h("button", { type: "submit", class: "btn btn-sm btn-primary" }, t("usage.budget.save")),
        this._removeBtn,
        h(
          "button",
          { type: "button", class: "btn btn-sm btn-ghost", on: { click: () => this._close() } },
          t("common.cancel"),
        ),
      ),
      this._msg,
    );
    this._form.addEventListener("submit", (event) => {
      event.preventDefault();
      const amount = Number(this._amount.value);
      if (!(amount > 0) || !Number.isFinite(amount)) return this._problem(t("usage.budget.badAmount"));
      this._save({ amount, currency: this._currency.value });
    });
    this._form.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      event.stopPropagation();
      this._close();
    });
    this.append(this._line, this._form);
  }

  _render() {
    if (!this._line) return;
    const b = this.budget;
    this._text.textContent = b
      ? t("usage.budget.current", { amount: formatMoney(b.amount, b.currency), currency: b.currency })
      : t("usage.budget.none");
    this._openBtn.textContent = b ? t("usage.budget.change") : t("usage.budget.set");
    if (this._provider) {
      const name = this._provider.displayName;
      this._openBtn.setAttribute(
        "aria-label",
        b ? t("usage.budget.changeLabel", { name }) : t("usage.budget.setLabel", { name }),
      );
    }
  }

  _open() {
    const b = this.budget;
    this._amount.value = b ? String(b.amount) : "";
    this._currency.value = b && CURRENCIES.includes(b.currency) ? b.currency : "USD";
    if (!b) this._guessCurrency();
    this._removeBtn.hidden = !b;
    this._problem("");
    this._form.hidden = false;
    this._openBtn.setAttribute("aria-expanded", "true");
    this._amount.focus();
  }

  // A new budget starts in the currency the provider's model is priced in, when one is known.
  async _guessCurrency() {
    const provider = this._provider;
    const result = await this.service.getPrices();
    if (!result.success || this._form.hidden || provider !== this._provider) return;
    const currency = pricedIn(result, provider);
    if (currency && document.activeElement !== this._currency) this._currency.value = currency;
  }

  _close() {
    this._form.hidden = true;
    this._openBtn.setAttribute("aria-expanded", "false");
    this._openBtn.focus();
  }

  _problem(message) {
    this._msg.textContent = message;
    this._amount.setAttribute("aria-invalid", String(Boolean(message)));
    if (message) this._amount.focus();
  }

  async _save(budget) {
    const provider = this._provider;
    const result = await this.service.setBudget(provider.id, budget);
    if (!result.success) {
      const fields = result.error.fields || {};
      this._problem([].concat(fields.amount || fields.currency || result.error.message).join(" "));
      if (!fields.amount && !fields.currency)
        toast({ kind: "error", title: t("usage.budget.failed"), message: result.error.message });
      return;
    }
    budgetStore.put(provider.id, budget ? result.budget || budget : null);
    toast({
      kind: "success",
      title: budget
        ? t("usage.budget.saved", { name: provider.displayName })
        : t("usage.budget.removed", { name: provider.displayName }),
      message: budget ? t("usage.budget.savedText") : "",
    });
    this._close();
    budgetStore.refresh(); // spent and share as the backend counts them
  }
}

/** The currency `provider`'s model is priced in: the user's price, else its bundled table's. */
export function pricedIn({ prices = [], tables = [], providerTables = {} }, provider) {
  const mine = (id) => prices.find((p) => p.source === "user" && p.providerId === id && p.model === provider.model);
  const price = mine(provider.id) || mine(null);
  if (price) return CURRENCIES.includes(price.currency) ? price.currency : null;
  const table = tables.find((t) => t.id === providerTables[provider.id]);
  return table && CURRENCIES.includes(table.currency) ? table.currency : null;
}

customElements.define("usage-budget-bar", UsageBudgetBar);
customElements.define("usage-budget-control", UsageBudgetControl);
