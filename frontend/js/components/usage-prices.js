// <usage-prices>: the Prices panel of the Usage screen — the bundled table and the user's own
// prices, per million tokens in the currency each is priced in. A user price (for one provider
// or any) wins over the bundled one; editing a bundled row makes a user price; removing a user
// price lets the bundled one (if any) apply again. A filter narrows the list, which shows
// PAGE rows at a time.
//
// In: `prices`, `tables` (the bundled tables, for their names), `providers` (for names and the
// form). `editPrice({model, providerId})` opens
// the form. Events (bubbling): `prices-changed` after a save or a removal.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { formatDate, t } from "../lib/i18n.js";
import { dayLabel, formatMoney } from "../lib/usage-format.js";
import { usageService } from "../services/usage-service.js";
import { toast } from "./toast-region.js";
import "./usage-price-form.js";

const PAGE = 40;

export class UsagePrices extends HTMLElement {
  constructor() {
    super();
    this.service = usageService;
    this._prices = null;
    this._providers = [];
    this._tables = new Map();
    this._limit = PAGE;
  }

  connectedCallback() {
    if (this._body) return;
    this.classList.add("usage-prices");
    this._filter = h("input", {
      type: "search",
      class: "input search-input",
      placeholder: t("usage.prices.filterPlaceholder"),
      "aria-label": t("usage.prices.filter"),
      autocomplete: "off",
      spellcheck: false,
    });
    this._filter.addEventListener("input", () => {
      this._limit = PAGE;
      this._render();
    });
    this._form = h("usage-price-form");
    this._form.addEventListener("price-saved", (event) => this._onSaved(event.detail.price));
    this._addBtn = h(
      "button",
      { type: "button", class: "btn add-price-btn", on: { click: () => this.editPrice({}) } },
      icon("plus", { size: 16 }),
      t("usage.prices.add"),
    );
    this._body = h("div", { class: "prices-body" }, h("p", { class: "table-message muted" }, t("common.loading")));
    this.append(
      h(
        "div",
        { class: "panel-head" },
        h(
          "div",
          {},
          h("h2", { class: "panel-title" }, t("usage.prices.heading")),
          h("p", { class: "panel-subtitle" }, t("usage.prices.subtitle")),
        ),
        h(
          "div",
          { class: "toolbar" },
          h("div", { class: "search-wrap filter-wrap" }, icon("search", { size: 16 }), this._filter),
          this._addBtn,
        ),
      ),
      this._body,
      this._form,
    );
  }

  set prices(value) {
    this._prices = value;
    if (this._body) this._render();
  }

  set tables(value) {
    this._tables = new Map((value || []).map((table) => [table.id, table.name]));
  }

  set providers(value) {
    this._providers = value || [];
    if (this._body && this._prices) this._render();
  }

  /** Open the form: on the user's price for that model and provider when there is one. */
  editPrice({ model = "", providerId = null } = {}) {
    const prices = this._prices || [];
    const own = prices.find((p) => p.source === "user" && p.model === model && (p.providerId ?? null) === providerId);
    const bundled = prices.find((p) => p.source === "bundled" && p.model === model);
    const models = [...prices.map((p) => p.model), ...this._providers.map((p) => p.model)];
    this._form.open({
      price: own || (bundled ? { ...bundled, providerId } : null),
      model,
      providerId,
      providers: this._providers,
      models,
    });
  }

  _providerName(price) {
    if (price.providerId == null)
      return price.source === "user"
        ? t("usage.prices.anyProvider")
        : this._tables.get(price.table) || price.table || t("usage.prices.providerTemplates");
    const provider = this._providers.find((p) => p.id === price.providerId);
    return provider ? provider.displayName : price.providerName || t("usage.removedProvider");
  }

  _render() {
    if (!this._prices) return;
    const query = this._filter.value.trim().toLowerCase();
    const sorted = [...this._prices].sort(
      (a, b) => (a.source === b.source ? 0 : a.source === "user" ? -1 : 1) || a.model.localeCompare(b.model),
    );
    const matching = sorted.filter(
      (p) => !query || p.model.toLowerCase().includes(query) || this._providerName(p).toLowerCase().includes(query),
    );
    if (!matching.length)
      return replaceChildren(
        this._body,
        h(
          "p",
          { class: "table-message muted" },
          this._prices.length ? t("usage.prices.noMatch") : t("usage.prices.none"),
        ),
      );
    const shown = matching.slice(0, this._limit);
    const rest = matching.length - shown.length;
    const head = h(
      "tr",
      {},
      h("th", { scope: "col" }, t("usage.prices.model")),
      h("th", { scope: "col" }, t("usage.prices.provider")),
      h("th", { scope: "col", class: "num" }, t("usage.prices.input")),
      h("th", { scope: "col", class: "num" }, t("usage.prices.output")),
      h("th", { scope: "col", class: "num" }, t("usage.prices.cached")),
      h("th", { scope: "col" }, t("usage.prices.source")),
      h("th", { scope: "col", class: "col-actions" }, h("span", { class: "sr-only" }, t("usage.prices.actions"))),
    );
    replaceChildren(
      this._body,
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "data-table prices-table" },
          h("thead", {}, head),
          h(
            "tbody",
            {},
            shown.map((p) => this._row(p)),
          ),
        ),
      ),
      rest > 0
        ? h(
            "button",
            { type: "button", class: "btn btn-ghost btn-sm more-prices", on: { click: () => this._more() } },
            t("usage.prices.more", { count: rest }),
          )
        : null,
    );
  }

  _more() {
    this._limit += PAGE * 5;
    this._render();
  }

  _row(price) {
    const user = price.source === "user";
    const money = (value) => (value == null ? h("span", { class: "muted" }, "—") : formatMoney(value, price.currency));
    const source = user
      ? h("span", { class: "pill pill-updated" }, t("usage.prices.yours"))
      : h(
          "span",
          { class: "price-source", title: price.sourceNote || "" },
          price.asOf
            ? t("usage.prices.bundledAsOf", { date: dayLabel(price.asOf.slice(0, 10), true) })
            : t("usage.prices.bundled"),
        );
    if (user && price.updatedAt)
      source.title = formatDate(price.updatedAt, { dateStyle: "medium", timeStyle: "short" });
    const editLabel = user
      ? t("usage.prices.edit", { model: price.model })
      : t("usage.prices.override", { model: price.model });
    const removeLabel = t("usage.prices.remove", { model: price.model });
    const actions =
      price.model === "*"
        ? []
        : [
            h(
              "button",
              {
                type: "button",
                class: "icon-btn edit-price",
                "aria-label": editLabel,
                title: editLabel,
                on: { click: () => this.editPrice({ model: price.model, providerId: price.providerId ?? null }) },
              },
              icon("edit", { size: 16 }),
            ),
            user
              ? h(
                  "button",
                  {
                    type: "button",
                    class: "icon-btn danger remove-price",
                    "aria-label": removeLabel,
                    title: removeLabel,
                    on: { click: () => this._remove(price) },
                  },
                  icon("trash", { size: 16 }),
                )
              : null,
          ];
    return h(
      "tr",
      { dataset: { model: price.model, source: price.source, providerId: price.providerId ?? "" } },
      h(
        "th",
        { scope: "row", class: "mono price-model" },
        price.model === "*" ? t("usage.prices.everyModel") : price.model,
      ),
      h("td", { title: price.source === "bundled" ? t("usage.prices.tableHelp") : null }, this._providerName(price)),
      h("td", { class: "num" }, money(price.inputPerMillion)),
      h("td", { class: "num" }, money(price.outputPerMillion)),
      h("td", { class: "num" }, money(price.cachedInputPerMillion)),
      h("td", {}, source),
      h("td", { class: "col-actions" }, h("div", { class: "row-actions" }, actions)),
    );
  }

  _onSaved(price) {
    toast({
      kind: "success",
      title: t("usage.prices.saved", { model: price.model }),
      message: t("usage.prices.savedText"),
    });
    this.dispatchEvent(new CustomEvent("prices-changed", { bubbles: true }));
  }

  async _remove(price) {
    const result = await this.service.removePrice(price.providerId ?? null, price.model);
    if (!result.success && result.error.code !== "NOT_FOUND") {
      toast({ kind: "error", title: t("usage.prices.removeFailed"), message: result.error.message });
      return;
    }
    const bundled = (this._prices || []).some((p) => p.source === "bundled" && p.model === price.model);
    toast({
      kind: "success",
      title: t("usage.prices.removedTitle", { model: price.model }),
      message: bundled ? t("usage.prices.fallsBack") : t("usage.prices.noneLeft"),
    });
    this._addBtn.focus(); // the row (and its button) goes
    this.dispatchEvent(new CustomEvent("prices-changed", { bubbles: true }));
  }
}

customElements.define("usage-prices", UsagePrices);
