// <usage-totals>: the period in figures — requests, errors, tokens in and out, cost per
// currency. Costs are never converted on their own: with costs in both USD and CNY, the user
// may give an exchange rate (kept in localStorage) and a combined figure appears, labelled as
// converted at that rate. Estimated tokens and requests without a price are said in a line each.
//
// In: `totals` (the summary's totals). Event (bubbling): `show-unpriced` when the user asks
// which models have no price.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";
import { currenciesOf, exactCount, formatCount, formatMoney, share } from "../lib/usage-format.js";

const RATE_KEY = "miaoda.usage.exchangeRate";

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
    const totals = this._totals;
    const tokens = (totals.inputTokens || 0) + (totals.outputTokens || 0);
    const approx = totals.estimatedTokens > 0 ? "~" : "";
    replaceChildren(
      this._tiles,
      tile("requests", t("usage.totals.requests"), formatCount(totals.requests), exactCount(totals.requests)),
      tile(
        "errors",
        t("usage.totals.errors"),
        formatCount(totals.errors),
        exactCount(totals.errors),
        totals.requests ? t("usage.totals.errorShare", { share: share(totals.errors, totals.requests) }) : null,
        totals.errors > 0,
      ),
      tile(
        "tokens-in",
        t("usage.totals.tokensIn"),
        approx + formatCount(totals.inputTokens),
        exactCount(totals.inputTokens),
      ),
      tile(
        "tokens-out",
        t("usage.totals.tokensOut"),
        approx + formatCount(totals.outputTokens),
        exactCount(totals.outputTokens),
      ),
      this._costTile(totals),
    );
    const notes = [];
    if (totals.estimatedTokens > 0)
      notes.push(
        h(
          "p",
          { class: "usage-note usage-note-estimated" },
          h("span", { class: "approx-mark", "aria-hidden": "true" }, "~"),
          h("span", {}, t("usage.totals.estimated", { share: share(totals.estimatedTokens, tokens) })),
        ),
      );
    if (totals.unknownCostRequests > 0) {
      notes.push(
        h(
          "p",
          { class: "usage-note usage-note-unpriced" },
          icon("alert", { size: 16 }),
          h(
            "span",
            {},
            t("usage.totals.unpriced", { count: totals.unknownCostRequests }),
            " ",
            h(
              "button",
              {
                type: "button",
                class: "link-btn",
                on: { click: () => this.dispatchEvent(new CustomEvent("show-unpriced", { bubbles: true })) },
              },
              t("usage.totals.whichModels"),
            ),
          ),
        ),
      );
    }
    replaceChildren(this._notes, notes);
  }

  _costTile(totals) {
    const cost = totals.cost || {};
    const estimated = totals.estimatedCost || {};
    const currencies = currenciesOf(cost);
    const lines = currencies.map((cur) =>
      h(
        "div",
        { class: "cost-line", dataset: { currency: cur } },
        h("span", { class: "cost-amount" }, (estimated[cur] > 0 ? "~" : "") + formatMoney(cost[cur], cur)),
        estimated[cur] > 0
          ? h(
              "span",
              { class: "cost-estimated" },
              t("usage.totals.estimatedPart", { amount: formatMoney(estimated[cur], cur) }),
            )
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
          this._rate ? t("usage.totals.editRate") : t("usage.totals.setRate"),
        )
      : null;
    this._rateBtn = rateBtn;
    return h(
      "div",
      { class: "usage-tile tile-cost", dataset: { tile: "cost" } },
      h("dt", {}, t("usage.totals.cost")),
      h(
        "dd",
        {},
        lines.length ? lines : h("span", { class: "muted" }, t("usage.totals.noCost")),
        combined
          ? h(
              "div",
              { class: "cost-combined" },
              h(
                "span",
                { class: "cost-combined-amount" },
                t("usage.totals.combined", { amount: formatMoney(combined.amount, combined.currency) }),
              ),
              h("span", { class: "cost-converted" }, t("usage.totals.convertedAt", { rate: this._rate.cnyPerUsd })),
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
      t("usage.totals.removeRate"),
    );
    const form = h(
      "form",
      { class: "rate-form", hidden: true, noValidate: true, "aria-label": t("usage.totals.rateLegend") },
      h(
        "div",
        { class: "field field-compact" },
        h("label", { for: rateId }, t("usage.totals.rateLabel")),
        this._rateInput,
        this._rateMsg,
      ),
      h("div", { class: "field field-compact" }, h("label", { for: showId }, t("usage.totals.showIn")), this._showIn),
      h(
        "div",
        { class: "rate-actions" },
        h("button", { type: "submit", class: "btn btn-sm btn-primary" }, t("usage.totals.saveRate")),
        this._removeRate,
        h(
          "button",
          { type: "button", class: "btn btn-sm btn-ghost", on: { click: () => this._closeRate() } },
          t("common.cancel"),
        ),
      ),
      h("p", { class: "field-help", id: `${rateId}-help` }, t("usage.totals.rateHelp")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = Number(this._rateInput.value);
      if (!(value > 0) || !Number.isFinite(value)) {
        this._rateMsg.textContent = t("usage.totals.badRate");
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
