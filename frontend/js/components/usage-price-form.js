// <usage-price-form>: the dialog that sets the user's price for a model, for one provider or for
// any provider: per million input, output and (optional) cached input tokens, in USD or CNY.
// The server judges the values; its field errors go under their fields. A price applies to
// requests from then on; recorded costs stay as they were.
//
// `open({price?, model?, providerId?, providers, models})`. Event (bubbling): `price-saved` {price}.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { dialogHeader, openModal } from "../lib/modal.js";
import { usageService } from "../services/usage-service.js";

const CURRENCIES = ["USD", "CNY"];
const NUMBER_FIELDS = ["inputPerMillion", "outputPerMillion", "cachedInputPerMillion"];

export class UsagePriceForm extends HTMLElement {
  constructor() {
    super();
    this.service = usageService;
  }

  connectedCallback() {
    if (this._dialog) return;
    const titleId = uid("price-title");
    this._fields = {};
    this._msgs = {};
    const field = (name, label, control, { hint, help, wide } = {}) => {
      const id = uid(`price-${name}`);
      control.id = id;
      const msg = h("p", { class: "field-msg", id: `${id}-msg`, "aria-live": "polite" });
      const helpEl = help ? h("p", { class: "field-help", id: `${id}-help` }, help) : null;
      control.setAttribute("aria-describedby", [`${id}-msg`, helpEl ? `${id}-help` : null].filter(Boolean).join(" "));
      control.addEventListener("input", () => this._fieldError(name, ""));
      this._fields[name] = control;
      this._msgs[name] = msg;
      return h(
        "div",
        { class: ["field", wide ? "field-wide" : ""], dataset: { field: name } },
        h("label", { for: id }, label, hint ? [" ", h("span", { class: "label-hint" }, hint)] : null),
        control,
        msg,
        helpEl,
      );
    };
    const money = () => h("input", { type: "number", class: "input", min: "0", step: "any", inputMode: "decimal" });
    this._providerSelect = h("select", { class: "input select" });
    this._modelList = h("datalist", { id: uid("price-models") });
    const model = h("input", {
      type: "text",
      class: "input mono",
      autocomplete: "off",
      spellcheck: false,
      list: this._modelList.id,
      maxLength: 200,
    });
    const currency = h(
      "select",
      { class: "input select" },
      CURRENCIES.map((c) => h("option", { value: c }, c)),
    );
    const header = dialogHeader({
      titleId,
      subtitle: t("usage.priceForm.subtitle"),
      closeTitle: t("usage.priceForm.closeHint"),
      onClose: () => this._dialog.close(),
    });
    this._title = header.title;
    this._error = h("div", { class: "form-error", role: "alert", hidden: true });
    this._submit = h("button", { type: "submit", class: "btn btn-primary" }, t("usage.priceForm.save"));
    const form = h(
      "form",
      { class: "dialog-form", noValidate: true },
      header.element,
      h(
        "div",
        { class: "dialog-body" },
        this._error,
        h(
          "div",
          { class: "form-grid" },
          field("model", t("usage.priceForm.model"), model, { wide: true }),
          field("providerId", t("usage.priceForm.provider"), this._providerSelect),
          field("currency", t("usage.priceForm.currency"), currency),
          field("inputPerMillion", t("usage.priceForm.input"), money(), { hint: t("usage.priceForm.perMillion") }),
          field("outputPerMillion", t("usage.priceForm.output"), money(), { hint: t("usage.priceForm.perMillion") }),
          field("cachedInputPerMillion", t("usage.priceForm.cached"), money(), {
            hint: t("usage.priceForm.optional"),
            help: t("usage.priceForm.cachedHelp"),
            wide: true,
          }),
        ),
        this._modelList,
      ),
      h(
        "footer",
        { class: "dialog-footer" },
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", on: { click: () => this._dialog.close() } }, t("common.cancel")),
        this._submit,
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._save();
    });
    this._dialog = h("dialog", { class: "dialog price-dialog", "aria-labelledby": titleId }, form);
    this.append(this._dialog);
  }

  /** Open on a user price to edit, or a new one (for `model` and `providerId` when given). */
  open({ price = null, model = "", providerId = null, providers = [], models = [] } = {}) {
    const editing = Boolean(price && price.source === "user");
    this._title.textContent = editing ? t("usage.priceForm.titleEdit") : t("usage.priceForm.titleNew");
    replaceChildren(
      this._providerSelect,
      h("option", { value: "" }, t("usage.prices.anyProvider")),
      providers.map((p) => h("option", { value: p.id }, p.displayName)),
    );
    replaceChildren(
      this._modelList,
      [...new Set(models)].sort().map((m) => h("option", { value: m })),
    );
    const start = price || { providerId, model, currency: "USD" };
    this._fields.providerId.value =
      start.providerId && providers.some((p) => p.id === start.providerId) ? start.providerId : "";
    this._fields.model.value = start.model || "";
    this._fields.currency.value = CURRENCIES.includes(start.currency) ? start.currency : "USD";
    for (const name of NUMBER_FIELDS)
      this._fields[name].value = price && price[name] != null ? String(price[name]) : "";
    for (const name of Object.keys(this._fields)) this._fieldError(name, "");
    this._showError("");
    this._busy(false);
    const first = start.model ? this._fields.inputPerMillion : this._fields.model;
    openModal(this._dialog, { focus: first });
  }

  _read() {
    const f = this._fields;
    const price = { providerId: f.providerId.value || null, model: f.model.value.trim(), currency: f.currency.value };
    const problems = [];
    if (!price.model) problems.push(this._fieldError("model", t("usage.priceForm.modelNeeded")));
    for (const name of NUMBER_FIELDS) {
      const text = f[name].value.trim();
      if (name === "cachedInputPerMillion" && text === "") {
        price[name] = null;
        continue;
      }
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) problems.push(this._fieldError(name, t("usage.priceForm.needed")));
      else price[name] = value;
    }
    if (!problems.length) return price;
    problems[0].focus();
    return null;
  }

  async _save() {
    this._showError("");
    const price = this._read();
    if (!price) return;
    this._busy(true);
    const result = await this.service.setPrice(price);
    this._busy(false);
    if (!result.success) {
      const marked = Object.entries(result.error.fields || {})
        .filter(([name]) => this._fields[name])
        .map(([name, messages]) => this._fieldError(name, [].concat(messages).join(" ")));
      const first = marked[0];
      this._showError(result.error.message);
      if (first) first.focus();
      return;
    }
    this._dialog.close();
    this.dispatchEvent(new CustomEvent("price-saved", { bubbles: true, detail: { price: result.price || price } }));
  }

  // Returns the field when there is a message, so callers can focus the first.
  _fieldError(name, message) {
    const control = this._fields[name];
    this._msgs[name].textContent = message;
    control.setAttribute("aria-invalid", String(Boolean(message)));
    control.closest(".field").classList.toggle("has-error", Boolean(message));
    return message ? control : null;
  }

  _showError(message) {
    this._error.hidden = !message;
    replaceChildren(
      this._error,
      message
        ? [icon("alert", { size: 16 }), h("div", {}, h("strong", {}, t("usage.priceForm.failed")), h("p", {}, message))]
        : [],
    );
  }

  _busy(busy) {
    this._submit.disabled = busy;
    this._submit.classList.toggle("is-busy", busy);
  }
}

customElements.define("usage-price-form", UsagePriceForm);
