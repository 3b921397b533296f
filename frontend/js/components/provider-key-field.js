// The provider form's "API key" field and what hangs on it: the button that shows the key as
// typed, "Remove key" (applied on save), the help that says what becomes of a saved key, and the
// key pool (<provider-keys>): more key fields under the field while no key is saved, the saved
// keys after it once there are some. The form owns the field (<provider-field>, from the field
// table); this drives it.
import { h, replaceChildren } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import "./provider-keys.js";

export class KeyField {
  #field = null;
  #reveal;
  #remove;
  #removing = false;
  #onChange;

  /** `onChange()` runs when "Remove key" is toggled (the form recomputes what depends on it). */
  constructor(onChange) {
    this.#onChange = onChange;
    const reveal = t("providers.form.apiKey.reveal");
    this.#reveal = h("button", {
      type: "button",
      class: "icon-btn reveal-btn",
      "aria-label": reveal,
      title: reveal,
      on: { click: () => this.#show(this.#field.input.type === "password") },
    });
    this.#remove = h("button", {
      type: "button",
      class: "btn btn-sm btn-ghost remove-key-btn",
      hidden: true,
      on: {
        click: () => {
          this.#removing = !this.#removing;
          this.#onChange();
        },
      },
    });
    /** The <provider-keys> of the form. */
    this.pool = h("provider-keys");
    /** The buttons that sit beside the control. */
    this.tools = h("span", { class: "key-tools" }, this.#reveal, this.#remove);
  }

  /** The field to drive (built from the table with `tools` beside its control). */
  attach(field) {
    this.#field = field;
  }

  /** Whether "Remove key" is on: the saved key goes on save. */
  get removing() {
    return this.#removing;
  }

  /** The key inputs with text, in order: this field's, then the pool's extra fields. */
  get typedInputs() {
    return [this.#field.input, ...this.pool.typedInputs].filter((input) => input.value);
  }

  /** Start over for `provider` (null when adding): masked, nothing removed, its pool. */
  reset(provider) {
    this.#removing = false;
    this.#field.hidden = false;
    this.#remove.hidden = true;
    this.#show(false);
    this.pool.reset(provider);
    if (provider) this.changed(provider);
    else this.#place();
  }

  /**
   * The provider's keys as they now are (opened, or changed from the pool's list, already
   * saved). The field writes the pool's one key (typed: replace it; "Remove key": drop it);
   * with several keys saved the list is the way to change them, so the field hides.
   */
  changed(provider) {
    this.#place();
    const several = (provider.keys || []).length > 1;
    this.#field.hidden = several;
    if (several) {
      this.#field.input.value = "";
      this.#removing = false;
    }
    this.#remove.hidden = !provider.hasApiKey;
  }

  /** The help and placeholder for the provider being edited (`saved`) or the `template` chosen. */
  render(saved, template) {
    const input = this.#field.input;
    input.disabled = this.#removing;
    this.#remove.textContent = t(this.#removing ? "providers.form.apiKey.keep" : "providers.form.apiKey.remove");
    let help = saved ? "providers.form.apiKey.help.noneSaved" : "providers.form.apiKey.help.new";
    let placeholder = "providers.form.apiKey.placeholder.paste";
    if (saved && this.#removing) {
      input.value = "";
      [help, placeholder] = ["providers.form.apiKey.help.removing", "providers.form.apiKey.placeholder.removing"];
    } else if (saved && saved.hasApiKey) {
      [help, placeholder] = ["providers.form.apiKey.help.saved", "providers.form.apiKey.placeholder.keep"];
    } else if (template && template.needsApiKey === false) {
      [help, placeholder] = ["providers.form.apiKey.help.notNeeded", "providers.form.apiKey.placeholder.notNeeded"];
    }
    this.#field.help = t(help, { hint: (saved && saved.apiKeyHint) || t("providers.keys.hidden") });
    input.placeholder = t(placeholder);
  }

  /** The dialog closed: no typed key may stay in a field. */
  stop() {
    this.#field.input.value = "";
    this.pool.stop();
  }

  #show(shown) {
    this.#field.input.type = shown ? "text" : "password";
    this.#reveal.setAttribute("aria-pressed", String(shown));
    replaceChildren(this.#reveal, icon(shown ? "eye-off" : "eye"));
  }

  // More key fields belong under the field; the saved pool takes the form's width after it.
  #place() {
    const saved = this.pool.showsSaved;
    this.pool.classList.toggle("field-wide", saved);
    if (saved) this.#field.after(this.pool);
    else this.#field.append(this.pool);
  }
}
