// <parameters-editor>: the optional generation parameters; an empty field means "not set".
// `read()` gives {value, blocking} (blocking: fields that are not numbers at all);
// `setError(key, message)` shows the server's message next to one field.
import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { PARAMETERS, parameterRange, parseParameter } from "../lib/provider-rules.js";

export class ParametersEditor extends HTMLElement {
  connectedCallback() {
    if (this._inputs) return;
    this.classList.add("params-grid");
    this._inputs = {};
    this._messages = {};
    for (const spec of PARAMETERS) {
      const id = uid(`param-${spec.key}`);
      const msgId = `${id}-msg`;
      const input = h("input", {
        type: "text",
        id,
        class: "input",
        inputMode: spec.integer ? "numeric" : "decimal",
        placeholder: t("providers.params.placeholder"),
        autocomplete: "off",
        spellcheck: false,
        "aria-describedby": msgId,
        dataset: { param: spec.key },
      });
      const message = h("p", { class: "field-msg", id: msgId, "aria-live": "polite" });
      input.addEventListener("input", () => this._hint(spec));
      this._inputs[spec.key] = input;
      this._messages[spec.key] = message;
      this.append(
        h(
          "div",
          { class: "field field-compact" },
          h("label", { for: id }, t(spec.label), h("span", { class: "label-hint" }, parameterRange(spec))),
          input,
          message,
        ),
      );
    }
    if (this._pending) this.value = this._pending;
  }

  set value(parameters) {
    if (!this._inputs) {
      this._pending = parameters;
      return;
    }
    for (const spec of PARAMETERS) {
      const v = parameters ? parameters[spec.key] : undefined;
      this._inputs[spec.key].value = v === undefined || v === null ? "" : String(v);
      this.setError(spec.key, "");
    }
  }

  read() {
    const value = {};
    const blocking = [];
    for (const spec of PARAMETERS) {
      const parsed = parseParameter(spec, this._inputs[spec.key].value);
      if (parsed.error) {
        this.setError(spec.key, parsed.error);
        blocking.push(spec.key);
      } else if (parsed.value !== undefined) {
        value[spec.key] = parsed.value;
      }
    }
    return { value, blocking };
  }

  /** How many parameters are set (for the section's summary). */
  get count() {
    return PARAMETERS.filter((spec) => this._inputs[spec.key].value.trim() !== "").length;
  }

  inputFor(key) {
    return this._inputs[key];
  }

  setError(key, message) {
    const input = this._inputs[key];
    if (!input) return false;
    this._messages[key].textContent = message || "";
    input.setAttribute("aria-invalid", String(Boolean(message)));
    input.closest(".field").classList.toggle("has-error", Boolean(message));
    return true;
  }

  clearErrors() {
    for (const spec of PARAMETERS) this.setError(spec.key, "");
  }

  _hint(spec) {
    const parsed = parseParameter(spec, this._inputs[spec.key].value);
    this.setError(spec.key, parsed.error || parsed.hint || "");
  }
}

customElements.define("parameters-editor", ParametersEditor);
