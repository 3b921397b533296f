// <usage-totals>: the period in figures — requests, errors, tokens in and out, cost per
// currency. Costs are never converted on their own: with costs in both USD and CNY, the user
// may give an exchange rate (kept in localStorage) and a combined figure appears, labelled as
// converted at that rate. Estimated tokens and requests without a price are said in a line each.
//
// In: `totals` (the summary's totals). Event (bubbling): `show-unpriced` when the user asks
// which models have no price.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { plural } from "../lib/format.js";
import { currenciesOf, exactCount, formatCount, formatMoney, share } from "../lib/usage-format.js";

const RATE_KEY = "miaoda.usage.exchangeRate";
const TEXT = {
  requests: "Requests",
  errors: "Errors",
  errorShare: (pct) => `${pct} of requests`,
  tokensIn: "Tokens in",
  tokensOut: "Tokens out",
  cost: "Cost",
  noCost: "No cost recorded",
  estimatedPart: (money) => `~${money} of it estimated`,
  combined: (money) => `≈ ${money} in all`,
  convertedAt: (rate) => `Converted at your rate, 1 USD = ${rate} CNY`,
  setRate: "Set exchange rate",
  editRate: "Change rate",
  rateLegend: "Exchange rate for a combined total",
  rateLabel: "CNY for 1 USD",
  rateHelp: "Only for the combined figure; each cost stays in the currency it was priced in.",
  showIn: "Show the total in",
  save: "Save rate",
  remove: "Remove rate",
  cancel: "Cancel",
  badRate: "Enter a rate above 0, for example 7.2.",
  estimated: (pct) =>
    `~ ${pct} of these tokens were estimated by the app: the provider did not report them. Figures marked ~ include estimates.`,
  unpriced: (n) => `${plural(n, "request")} without a price: their cost is unknown and not in the totals.`,
  whichModels: "See which models",
};

/** The user's rate: {cnyPerUsd, showIn: "USD" | "CNY"} or null. */
export function readRate() {
  try {
    const rate = JSON.parse(localStorage.getItem(RATE_KEY) || "null");
    if (rate && Number(rate.cnyPerUsd) > 0)
      return { cnyPerUsd: Number(rate.cnyPerUsd), showIn: rate.showIn === "CNY" ? "CNY" : "USD" };
  } catch {
    /* no rate */
  }
  return null;
}

function writeRate(rate) {
  try {
    if (rate) localStorage.setItem(RATE_KEY, JSON.stringify(rate));
    else localStorage.removeItem(RATE_KEY);
  } catch {
    /* kept for this page only */
  }
}

/** USD and CNY added up at `rate` in `rate.showIn`; null unless the cost has both and nothing else. */
export function combinedCost(cost, rate) {
  const currencies = currenciesOf(cost);
  if (!rate || currencies.length !== 2 || !currencies.includes("USD") || !currencies.includes("CNY")) return null;
  const usd = Number(cost.USD) || 0;
  const cny = Number(cost.CNY) || 0;
  return rate.showIn === "CNY"
    ? { amount: cny + usd * rate.cnyPerUsd, currency: "CNY" }
    : { amount: usd + cny / rate.cnyPerUsd, currency: "USD" };
}

export class UsageTotals extends HTMLElement {
  connectedCallback() {
    if (this._tiles) return;
    this.classList.add("usage-totals");
    this._rate = readRate();
    this._tiles = h("dl", { class: "usage-tiles" });
    this._notes = h("div", { class: "usage-notes" });
    this._rateForm = this._buildRateForm();
    this.append(this._tiles, this._rateForm, this._notes);
    if (this._totals) this._render();
  }

  set totals(value) {
    this._totals = value;
    if (this._tiles) this._render();
  }

  _render() {
    const t = this._totals;
    const tokens = (t.inputTokens || 0) + (t.outputTokens || 0);
    const approx = t.estimatedTokens > 0 ? "~" : "";
    replaceChildren(
      this._tiles,
      tile("requests", TEXT.requests, formatCount(t.requests), exactCount(t.requests)),
      tile(
        "errors",
        TEXT.errors,
        formatCount(t.errors),
        exactCount(t.errors),
        t.requests ? TEXT.errorShare(share(t.errors, t.requests)) : null,
        t.errors > 0,
      ),
      tile("tokens-in", TEXT.tokensIn, approx + formatCount(t.inputTokens), exactCount(t.inputTokens)),
      tile("tokens-out", TEXT.tokensOut, approx + formatCount(t.outputTokens), exactCount(t.outputTokens)),
      this._costTile(t),
    );
    const notes = [];
    if (t.estimatedTokens > 0)
      notes.push(
        h(
          "p",
          { class: "usage-note usage-note-estimated" },
          h("span", { class: "approx-mark", "aria-hidden": "true" }, "~"),
          h("span", {}, TEXT.estimated(share(t.estimatedTokens, tokens))),
        ),
      );
    if (t.unknownCostRequests > 0) {
      notes.push(
        h(
          "p",
          { class: "usage-note usage-note-unpriced" },
          icon("alert", { size: 16 }),
          h(
            "span",
            {},
            TEXT.unpriced(t.unknownCostRequests),
            " ",
            h(
              "button",
              {
                type: "button",
                class: "link-btn",
                on: { click: () => this.dispatchEvent(new CustomEvent("show-unpriced", { bubbles: true })) },
              },
              TEXT.whichModels,
            ),
          ),
        ),
      );
    }
    replaceChildren(this._notes, notes);
  }

  _costTile(t) {
    const cost = t.cost || {};
    const estimated = t.estimatedCost || {};
    const currencies = currenciesOf(cost);
    const lines = currencies.map((cur) =>
      h(
        "div",
        { class: "cost-line", dataset: { currency: cur } },
        h("span", { class: "cost-amount" }, (estimated[cur] > 0 ? "~" : "") + formatMoney(cost[cur], cur)),
        estimated[cur] > 0
          ? h("span", { class: "cost-estimated" }, TEXT.estimatedPart(formatMoney(estimated[cur], cur)))
          : null,
      ),
    );
    const both = currencies.includes("USD") && currencies.includes("CNY");
    const combined = combinedCost(cost, this._rate);
    const rateBtn = both
      ? h(
          "button",
          {
            type: "button",
            class: "link-btn rate-btn",
            "aria-expanded": String(!this._rateForm.hidden),
            on: { click: () => this._openRate() },
          },
          this._rate ? TEXT.editRate : TEXT.setRate,
        )
      : null;
    this._rateBtn = rateBtn;
    return h(
      "div",
      { class: "usage-tile tile-cost", dataset: { tile: "cost" } },
      h("dt", {}, TEXT.cost),
      h(
        "dd",
        {},
        lines.length ? lines : h("span", { class: "muted" }, TEXT.noCost),
        combined
          ? h(
              "div",
              { class: "cost-combined" },
              h(
                "span",
                { class: "cost-combined-amount" },
                TEXT.combined(formatMoney(combined.amount, combined.currency)),
              ),
              h("span", { class: "cost-converted" }, TEXT.convertedAt(this._rate.cnyPerUsd)),
            )
          : null,
        rateBtn,
      ),
    );
  }

  _buildRateForm() {
    const rateId = uid("usage-rate");
    const showId = uid("usage-show-in");
    this._rateInput = h("input", {
      type: "number",
      id: rateId,
      class: "input",
      min: "0",
      step: "any",
      inputMode: "decimal",
      "aria-describedby": `${rateId}-help ${rateId}-msg`,
    });
    this._showIn = h(
      "select",
      { id: showId, class: "input select" },
      h("option", { value: "USD" }, "USD"),
      h("option", { value: "CNY" }, "CNY"),
    );
    this._rateMsg = h("p", { class: "field-msg", id: `${rateId}-msg`, "aria-live": "polite" });
    this._removeRate = h(
      "button",
      { type: "button", class: "btn btn-sm", on: { click: () => this._saveRate(null) } },
      TEXT.remove,
    );
    const form = h(
      "form",
      { class: "rate-form", hidden: true, noValidate: true, "aria-label": TEXT.rateLegend },
      h(
        "div",
        { class: "field field-compact" },
        h("label", { for: rateId }, TEXT.rateLabel),
        this._rateInput,
        this._rateMsg,
      ),
      h("div", { class: "field field-compact" }, h("label", { for: showId }, TEXT.showIn), this._showIn),
      h(
        "div",
        { class: "rate-actions" },
        h("button", { type: "submit", class: "btn btn-sm btn-primary" }, TEXT.save),
        this._removeRate,
        h(
          "button",
          { type: "button", class: "btn btn-sm btn-ghost", on: { click: () => this._closeRate() } },
          TEXT.cancel,
        ),
      ),
      h("p", { class: "field-help", id: `${rateId}-help` }, TEXT.rateHelp),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = Number(this._rateInput.value);
      if (!(value > 0) || !Number.isFinite(value)) {
        this._rateMsg.textContent = TEXT.badRate;
        this._rateInput.setAttribute("aria-invalid", "true");
        this._rateInput.focus();
        return;
      }
      this._saveRate({ cnyPerUsd: value, showIn: this._showIn.value });
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this._closeRate();
      }
    });
    return form;
  }

  _openRate() {
    this._rateInput.value = this._rate ? String(this._rate.cnyPerUsd) : "";
    this._showIn.value = this._rate ? this._rate.showIn : "USD";
    this._rateMsg.textContent = "";
    this._rateInput.removeAttribute("aria-invalid");
    this._removeRate.hidden = !this._rate;
    this._rateForm.hidden = false;
    if (this._rateBtn) this._rateBtn.setAttribute("aria-expanded", "true");
    this._rateInput.focus();
  }

  _closeRate() {
    this._rateForm.hidden = true;
    if (this._rateBtn) {
      this._rateBtn.setAttribute("aria-expanded", "false");
      this._rateBtn.focus();
    }
  }

  _saveRate(rate) {
    this._rate = rate;
    writeRate(rate);
    this._rateForm.hidden = true;
    this._render();
    if (this._rateBtn) this._rateBtn.focus();
  }
}

function tile(name, label, value, exact, sub = null, alarm = false) {
  return h(
    "div",
    { class: ["usage-tile", alarm ? "is-alarm" : ""], dataset: { tile: name } },
    h("dt", {}, label),
    h(
      "dd",
      {},
      h("span", { class: "tile-value", title: exact }, value),
      sub ? h("span", { class: "tile-sub" }, sub) : null,
    ),
  );
}

customElements.define("usage-totals", UsageTotals);
