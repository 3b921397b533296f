// <request-url>: in the provider form, the URL chat requests will go to as the fields stand
// (resolveRequestURL, the contract's rules), and a note: what the type adds to the base URL,
// or, when editing, the URL saved before.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { resolveRequestURL } from "../lib/provider-rules.js";

export class RequestUrl extends HTMLElement {
  #value = null;
  #note = null;

  connectedCallback() {
    if (this.#value) return;
    this.classList.add("field", "field-wide", "url-preview-field");
    this.#value = h("output", { class: "mono url-value" });
    this.#note = h("p", { class: "field-help url-note" });
    this.append(
      h("span", { class: "field-label" }, t("providers.form.url.label")),
      h("div", { class: "url-preview" }, h("span", { class: "url-method" }, "POST"), this.#value),
      this.#note,
    );
  }

  /** Show the URL for `type`, `baseURL` and the chat path override; `saved`: the URL saved before. */
  show({ type, baseURL, chatPath, saved = null }) {
    const url = resolveRequestURL({ type, baseURL, endpoints: { chat: chatPath } });
    this.#value.textContent = url || t("providers.form.url.empty");
    this.#value.classList.toggle("is-empty", !url);
    if (saved !== null)
      this.#note.textContent =
        saved === url ? t("providers.form.url.asSaved") : t("providers.form.url.saved", { url: saved });
    else if (type === "anthropic-compatible") this.#note.textContent = t("providers.form.url.anthropic");
    else this.#note.textContent = chatPath ? t("providers.form.url.override") : t("providers.form.url.openai");
  }
}

customElements.define("request-url", RequestUrl);
