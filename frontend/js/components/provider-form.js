// <provider-form>: the add/edit dialog. Adding starts with a template picker; both modes show
// the fields, the request URL as it resolves, a connection test, and the server's messages next
// to the fields they concern. The fields are one table (provider-fields.js): rendering, filling
// from a provider or template, reading (FormData) and hints walk it. Emits "provider-saved"
// ({detail: {provider, check, created}}) and "provider-missing" ({detail: {id}}) when the
// provider being edited is gone.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { formErrorBox, showFormError } from "../lib/form-error.js";
import { dialogHeader, openModal } from "../lib/modal.js";
import { adviceFor, isUpstreamError } from "../lib/advice.js";
import { addPayload, updatePayload } from "../lib/provider-payload.js";
import { describeAuth, resolveRequestURL, suggestName, uniqueName } from "../lib/provider-rules.js";
import { providerService } from "../services/custom-provider-service.js";
import { FIELDS, authOf, configOf, hintOf, providerField, readValues, valuesOf } from "./provider-fields.js";
import { showServerErrors } from "./provider-form-errors.js";
import { KeyField } from "./provider-key-field.js";
import { toast } from "./toast-region.js";
import { chatPathOf } from "./provider-paste.js";
import "./template-picker.js";
import "./headers-editor.js";
import "./parameters-editor.js";
import "./test-result.js";
import "./template-note.js";
import "./request-url.js";

const HINT_DELAY_MS = 900;
const HOLE_RE = /\{[^}]*\}/;
const FIELD_ERRORS = new Set(["INVALID_CONFIG", "DUPLICATE_NAME"]);

export class ProviderForm extends HTMLElement {
  #fields = {}; // name → <provider-field>
  #sections = {};
  #mode = "add";
  #original = null;
  #template = null;
  #taken = new Set();
  #modelsState = null;
  #nameAuto = true;
  #touched = new Set();
  #submitted = false;
  #sentKeys = [];
  #key = new KeyField(() => this.#refresh());
  #hintTimer = null;
  #generation = 0;
  // elements
  #dialog;
  #form;
  #title;
  #subtitle;
  #picker;
  #paste;
  #pickerStep;
  #pickerFooter;
  #formStep;
  #footer;
  #formError;
  #templateNote;
  #url;
  #datalist;
  #modelsBtn;
  #params;
  #headers;
  #testPanel;
  #testBtn;
  #saveBtn;

  constructor() {
    super();
    this.service = providerService;
  }

  connectedCallback() {
    if (this.#dialog) return;
    this.#build();
  }

  /** Open for a new provider; `existingNames` keeps suggested names unique. */
  async openAdd({ existingNames = [] } = {}) {
    this.#mode = "add";
    this.#original = null;
    this.#taken = new Set(existingNames);
    this.#reset();
    this.#title.textContent = t("providers.form.title.add");
    this.#subtitle.textContent = t("providers.form.subtitle.add");
    this.#showStep("picker");
    openModal(this.#dialog, { focus: this.#picker });
    const result = await this.service.getTemplates();
    if (result.success) this.#picker.templates = this.#paste.templates = result.templates;
    else
      toast({
        kind: "error",
        title: t("providers.form.templatesFailed.title"),
        message: t("providers.form.templatesFailed.message", { message: result.error.message }),
      });
  }

  /** Open with a saved provider's values. */
  openEdit(provider, { existingNames = [] } = {}) {
    this.#mode = "edit";
    this.#original = provider;
    this.#taken = new Set(existingNames.filter((n) => n.toLowerCase() !== provider.name.toLowerCase()));
    this.#reset();
    this.#title.textContent = t("providers.form.title.edit", { name: provider.displayName });
    this.#subtitle.textContent = t("providers.form.subtitle.edit");
    this.#fillProvider(provider);
    this.#showStep("form");
    openModal(this.#dialog, { focus: this.#input("displayName") });
    this.#requestModels(provider.id, false);
  }

  get isOpen() {
    return this.#dialog.open;
  }

  // --- building -------------------------------------------------------------------------

  #build() {
    const close = () => this.#dialog.close();
    const header = dialogHeader({
      titleId: uid("form-title"),
      subtitle: "",
      closeTitle: t("providers.dialog.closeTitle"),
      onClose: close,
    });
    this.#title = header.title;
    this.#subtitle = header.subtitle;

    this.#picker = h("template-picker");
    this.#picker.addEventListener("template-chosen", (event) => this.#chooseTemplate(event.detail.template));
    // Adding starts with "Paste a URL" above the templates; "Use this" fills the form from it.
    this.#paste = h("provider-paste");
    this.#paste.addEventListener("candidate-chosen", (event) => this.#useCandidate(event.detail));
    this.#pickerStep = h("div", { class: "step step-picker" }, this.#paste, this.#picker);

    this.#formError = formErrorBox();
    this.#templateNote = h("template-note", { hidden: true });
    this.#templateNote.addEventListener("change-template", () => {
      this.#showStep("picker");
      this.#picker.focus();
    });
    this.#formStep = h(
      "div",
      { class: "step step-form" },
      this.#formError,
      this.#templateNote,
      this.#buildBasics(),
      this.#buildSections(),
    );

    this.#testPanel = h("test-result", { class: "test-panel", hidden: true });
    this.#testPanel.addEventListener("save-anyway", () => this.#save({ validate: false }));
    this.#testBtn = h(
      "button",
      { type: "button", class: "btn test-btn", on: { click: () => this.#test() } },
      icon("bolt", { size: 16 }),
      h("span", {}, t("providers.form.test")),
    );
    this.#saveBtn = h("button", { type: "submit", class: "btn btn-primary save-btn" }, h("span"));
    this.#footer = h(
      "footer",
      { class: "dialog-footer" },
      this.#testBtn,
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn", on: { click: close } }, t("common.cancel")),
      this.#saveBtn,
    );
    this.#pickerFooter = h(
      "footer",
      { class: "dialog-footer" },
      h("span", { class: "muted footer-note" }, t("providers.form.pickerNote")),
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn", on: { click: close } }, t("common.cancel")),
    );

    this.#form = h(
      "form",
      { class: "dialog-form", noValidate: true, autocomplete: "off" },
      header.element,
      h("div", { class: "dialog-body" }, this.#pickerStep, this.#formStep),
      this.#testPanel,
      this.#footer,
      this.#pickerFooter,
    );
    // Save is the form's only submit button, so Enter in any field saves.
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#save({ validate: true });
    });
    this.#form.addEventListener("input", (event) => this.#onInput(event));
    this.#form.addEventListener("change", (event) => this.#onInput(event));

    this.#dialog = h(
      "dialog",
      { class: "dialog dialog-wide provider-dialog", "aria-labelledby": this.#title.id },
      this.#form,
    );
    this.#dialog.addEventListener("close", () => {
      this.#generation += 1;
      // A typed key must not outlive the form: saved or not, it stayed in the hidden field's
      // value until the form was next opened.
      this.#key.stop();
      this.#paste.stop();
    });
    this.append(this.#dialog);
  }

  // The fields outside the collapsed sections, in the table's order, with what goes beside
  // them (Fetch models; show and remove the key) and after them (the URL, the key pool).
  #buildBasics() {
    this.#url = h("request-url");
    this.#datalist = h("datalist", { id: `${this.#title.id}-models` });
    this.#modelsBtn = h(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-ghost models-btn",
        title: t("providers.form.model.fetchTitle"),
        on: { click: () => this.#fetchModels() },
      },
      t("providers.form.model.fetch"),
    );
    this.#key.pool.addEventListener("provider-keys-changed", (event) => this.#keysChanged(event.detail.provider));
    const beside = { model: this.#modelsBtn, apiKey: this.#key.tools };
    const after = { baseURL: this.#url, apiKey: this.#key.pool };
    const grid = h("div", { class: "form-grid" });
    for (const spec of FIELDS.filter((s) => !s.section))
      grid.append(...[this.#field(spec, beside[spec.name]), after[spec.name]].filter(Boolean));
    this.#input("model").setAttribute("list", this.#datalist.id);
    this.#key.attach(this.#fields.apiKey);
    grid.append(this.#datalist);
    return grid;
  }

  #buildSections() {
    this.#params = h("parameters-editor");
    this.#headers = h("headers-editor");
    const advanced = h(
      "div",
      { class: "form-grid" },
      FIELDS.filter((s) => s.section === "advanced").map((spec) => this.#field(spec)),
    );
    this.#sections = {
      params: section("providers.form.section.params.title", "providers.form.section.params.help", this.#params),
      headers: section("providers.form.section.headers.title", "providers.form.section.headers.help", this.#headers),
      advanced: section("providers.form.section.advanced.title", "providers.form.section.advanced.help", advanced),
    };
    return h(
      "div",
      { class: "sections" },
      Object.values(this.#sections).map((s) => s.el),
    );
  }

  #field(spec, extra) {
    const field = providerField(spec, { extra });
    this.#fields[spec.name] = field;
    return field;
  }

  #input(name) {
    return this.#fields[name].input;
  }

  // --- filling ----------------------------------------------------------------------------

  #reset() {
    clearTimeout(this.#hintTimer);
    this.#template = null;
    this.#modelsState = null;
    this.#nameAuto = true;
    this.#touched = new Set();
    this.#submitted = false;
    this.#setValues(valuesOf({}));
    for (const field of Object.values(this.#fields)) {
      field.input.disabled = false;
      field.setMessage("");
    }
    this.#key.reset(null);
    this.#params.value = {};
    this.#headers.secretHeaders = null;
    this.#headers.value = {};
    replaceChildren(this.#datalist);
    this.#picker.reset?.();
    this.#paste.reset();
    for (const s of Object.values(this.#sections)) s.el.open = false;
    this.#setFormError("");
    this.#testPanel.clear();
    this.#templateNote.hidden = true;
    this.#modelsBtn.disabled = false;
    this.#modelsBtn.classList.remove("is-busy");
    this.#setBusy(false);
    this.#refresh();
  }

  #setValues(values) {
    for (const spec of FIELDS) this.#fields[spec.name].fill(values[spec.name], values);
  }

  #showStep(step) {
    const picking = step === "picker";
    this.#pickerStep.hidden = !picking;
    this.#pickerFooter.hidden = !picking;
    this.#formStep.hidden = picking;
    this.#footer.hidden = picking;
    this.#dialog.classList.toggle("is-picking", picking);
    if (picking) this.#testPanel.clear();
  }

  #chooseTemplate(template) {
    this.#template = template;
    const source = template || {};
    const values = valuesOf(source);
    values.name = source.name ? uniqueName(source.name, this.#taken) : "";
    this.#setValues(values);
    this.#nameAuto = !template;
    this.#headers.secretHeaders = null;
    this.#headers.value = source.headers || {};
    this.#params.value = {};
    this.#templateNote.template = template;
    this.#templateNote.hidden = false;
    this.#showStep("form");
    // Placeholders ({resource}) must be replaced: say so at once rather than after a failed save.
    for (const name of ["baseURL", "model"]) if (HOLE_RE.test(values[name])) this.#touched.add(name);
    this.#refresh();
    const holes = HOLE_RE.test(values.baseURL);
    const focus = !template ? "displayName" : holes ? "baseURL" : source.needsApiKey === false ? "model" : "apiKey";
    const input = this.#input(focus);
    input.focus();
    if (holes) {
      const at = input.value.indexOf("{");
      input.setSelectionRange(at, input.value.indexOf("}", at) + 1);
    }
  }

  /**
   * "Use this" in the paste box: the candidate's template chosen as a tile would be (its name,
   * notes, headers), then what was detected over it — type, base URL, a listed model (the one
   * set if listed), the models as suggestions — and the key pasted with the URL.
   */
  #useCandidate({ candidate, apiKey }) {
    this.#chooseTemplate(this.#paste.templateFor(candidate));
    this.#fields.type.fill(candidate.type, readValues(this.#form));
    this.#fields["auth.scheme"].setOptions(readValues(this.#form));
    this.#input("baseURL").value = candidate.baseURL;
    this.#input("endpoints.chat").value = chatPathOf(candidate);
    const models = candidate.models || [];
    const model = this.#input("model");
    if (models.length && !models.includes(model.value)) model.value = models[0];
    replaceChildren(
      this.#datalist,
      models.map((m) => h("option", { value: m })),
    );
    if (models.length) {
      this.#modelsState = "done";
      this.#fields.model.help = t("providers.form.model.offered", { count: models.length });
    }
    if (apiKey) this.#input("apiKey").value = apiKey;
    this.#refresh();
    const name = this.#input("displayName");
    (name.value ? this.#saveBtn : name).focus();
  }

  #fillProvider(provider) {
    this.#setValues(valuesOf(provider));
    this.#nameAuto = false;
    this.#headers.secretHeaders = provider.secretHeaders || {};
    this.#headers.value = provider.headers || {};
    this.#params.value = provider.parameters || {};
    this.#key.reset(provider);
    this.#templateNote.hidden = true;
    this.#refresh();
  }

  /** A key was added, removed or re-enabled from the saved list (already saved). */
  #keysChanged(provider) {
    // The server's read is the base for "what changed" from now on; typed edits stay.
    this.#original = provider;
    this.#key.changed(provider);
    this.#refresh();
  }

  // --- live feedback --------------------------------------------------------------------

  #onInput(event) {
    const name = event.target.dataset && event.target.dataset.field;
    if (name === "displayName" && this.#nameAuto) {
      const display = this.#input("displayName").value;
      this.#input("name").value = display.trim() ? suggestName(display, this.#taken) : "";
    }
    if (name === "name" && event.type === "input") this.#nameAuto = false;
    if (name === "type") this.#fields["auth.scheme"].setOptions(readValues(this.#form));
    if (name) this.#fields[name].setMessage("");
    this.#refresh();
    // Hints appear once typing pauses, not on blur: a message appearing on blur moves the
    // layout under the pointer and can swallow the click that caused the blur.
    if (name && event.type === "input") {
      clearTimeout(this.#hintTimer);
      this.#hintTimer = setTimeout(() => {
        this.#touched.add(name);
        this.#showHints(readValues(this.#form));
      }, HINT_DELAY_MS);
    }
  }

  /** Recompute what depends on the fields: URL preview, help texts, hints, section notes. */
  #refresh() {
    const values = readValues(this.#form);
    const { type } = values;
    this.#url.show({
      type,
      baseURL: values.baseURL,
      chatPath: values["endpoints.chat"],
      saved: this.#original ? this.#original.requestURL : null,
    });
    this.#input("endpoints.chat").placeholder =
      resolveRequestURL({ type, baseURL: "x" }).slice(1) || "/chat/completions";
    this.#input("endpoints.models").placeholder = type === "anthropic-compatible" ? "/v1/models" : "/models";
    const scheme = values["auth.scheme"];
    const authName = this.#input("auth.name");
    authName.disabled = scheme !== "header" && scheme !== "query";
    if (authName.disabled) authName.value = "";
    authName.placeholder = scheme === "query" ? "key" : scheme === "header" ? "x-api-key" : "—";
    this.#key.render(this.#original, this.#template);
    this.#renderModelHelp();
    this.#sectionNotes(values);
    this.#showHints(readValues(this.#form));
  }

  #renderModelHelp() {
    if (this.#modelsState) return;
    this.#fields.model.help = t(
      this.#mode === "edit" ? "providers.form.model.help.edit" : "providers.form.model.help.add",
    );
  }

  #sectionNotes(values) {
    const count = this.#params.count;
    this.#sections.params.note.textContent = count
      ? t("providers.form.section.params.set", { count })
      : t("providers.form.section.params.defaults");
    const headers = Object.keys(this.#headers.value).length;
    this.#sections.headers.note.textContent = headers
      ? t("providers.form.section.headers.count", { count: headers })
      : t("providers.form.section.headers.none");
    const scheme = values["auth.scheme"];
    const paths = [values["endpoints.chat"], values["endpoints.models"]].filter(Boolean).length;
    const bits = [
      scheme === "default"
        ? t("providers.form.section.advanced.defaultAuth")
        : describeAuth(authOf(scheme, values["auth.name"])),
    ];
    if (paths) bits.push(t("providers.form.section.advanced.paths", { count: paths }));
    this.#sections.advanced.note.textContent = bits.join(" · ");
  }

  #showHints(values) {
    for (const spec of FIELDS) {
      const field = this.#fields[spec.name];
      if (!spec.hint || (!this.#submitted && !this.#touched.has(spec.name)) || field.hasServerError) continue;
      field.setMessage(hintOf(spec, values) || "", "hint");
    }
    if (this.#submitted) this.#headers.check();
  }

  #setFormError(message, extra = []) {
    showFormError(this.#formError, message, extra);
  }

  // --- models ---------------------------------------------------------------------------

  /**
   * "Fetch models": the list for the values typed so far, saved or not. Like a connection test
   * it sends the form's config (with the id when editing, so an empty key field means the
   * stored key); the typed key goes only into this call.
   */
  #fetchModels() {
    const { payload, blocking } = this.#collect({ whole: true });
    if (blocking) return blocking.focus();
    this.#requestModels(this.#mode === "edit" ? { id: this.#original.id, ...payload } : payload, true);
  }

  /** The list for `target`; on opening an edit, the saved provider's (`userAsked` false). */
  async #requestModels(target, userAsked) {
    const generation = this.#generation;
    const field = this.#fields.model;
    this.#modelsState = "loading";
    this.#modelsBtn.disabled = true;
    this.#modelsBtn.classList.add("is-busy");
    field.help = t("providers.form.model.loading");
    const result = await this.service.listModels(target);
    if (generation !== this.#generation) return;
    this.#modelsBtn.disabled = false;
    this.#modelsBtn.classList.remove("is-busy");
    this.#modelsState = "done";
    if (result.success) {
      const models = result.models || [];
      replaceChildren(
        this.#datalist,
        models.map((m) => h("option", { value: m })),
      );
      field.help = models.length
        ? t("providers.form.model.offered", { count: models.length })
        : t("providers.form.model.none");
      if (userAsked) {
        this.#testPanel.clear();
        this.#input("model").focus();
      }
      return;
    }
    field.help = t("providers.form.model.failed", { message: result.error.message });
    if (userAsked) this.#showFailure(result.error);
  }

  // --- payloads -------------------------------------------------------------------------

  /**
   * What to send: {payload}, or {blocking: input} when a field cannot be read at all. `whole`:
   * every field even when editing (a model list is asked for with the whole config).
   */
  #collect({ whole = false } = {}) {
    const params = this.#params.read();
    if (params.blocking.length) return { blocking: this.#params.inputFor(params.blocking[0]) };
    const { auth, ...config } = configOf(readValues(this.#form));
    const fields = { ...config, headers: this.#headers.value, parameters: params.value };
    // The keys typed on this form, in order; apiKeys.<n> errors point back at them.
    this.#sentKeys = this.#key.typedInputs;
    const keys = this.#sentKeys.map((input) => input.value);
    const extras = { auth, keys, removeKey: this.#key.removing };
    if (this.#mode === "add") return { payload: addPayload(fields, extras) };
    if (!whole) return { payload: updatePayload(this.#original, fields, extras) };
    // Removing the key: an empty one says "not the stored key" to the model list too.
    return { payload: { ...addPayload(fields, extras), ...(this.#key.removing ? { apiKey: "" } : {}) } };
  }

  // --- actions --------------------------------------------------------------------------

  async #test() {
    const { payload, blocking } = this.#collect();
    if (blocking) return blocking.focus();
    const generation = this.#generation;
    const target = this.#mode === "edit" ? { id: this.#original.id, ...payload } : payload;
    this.#setBusy(true, "test");
    this.#renderTestRunning();
    const result = await this.service.testConnection(target);
    if (generation !== this.#generation) return;
    this.#setBusy(false);
    if (result.success) this.#testPanel.success(result.status);
    else this.#showFailure(result.error);
  }

  // A refused test or model list: field errors by their fields, the rest below the form.
  #showFailure(error) {
    if (FIELD_ERRORS.has(error.code)) {
      this.#testPanel.clear();
      this.#showServerErrors(error);
    } else this.#testPanel.failure(error);
  }

  async #save({ validate }) {
    this.#submitted = true;
    this.#refresh();
    const { payload, blocking } = this.#collect();
    if (blocking) {
      this.#sections.params.el.open = true;
      return blocking.focus();
    }
    const generation = this.#generation;
    this.#setBusy(true, "save", validate);
    if (validate) this.#renderTestRunning();
    const result =
      this.#mode === "add"
        ? await this.service.addProvider(payload, { validate })
        : await this.service.updateProvider(this.#original.id, payload, { validate });
    if (generation !== this.#generation) return;
    this.#setBusy(false);
    if (result.success) {
      const created = this.#mode === "add";
      this.#dialog.close();
      this.dispatchEvent(
        new CustomEvent("provider-saved", {
          bubbles: true,
          detail: { provider: result.provider, check: result.check || null, created },
        }),
      );
      return;
    }
    const error = result.error;
    if (FIELD_ERRORS.has(error.code)) {
      this.#testPanel.clear();
      this.#showServerErrors(error);
    } else if (validate && (isUpstreamError(error) || error.code === "INTERNAL")) {
      this.#testPanel.failure(error, { refusedSave: true });
    } else {
      this.#testPanel.clear();
      const { advice } = adviceFor(error);
      this.#setFormError(error.message, advice ? [advice] : []);
      this.#formError.scrollIntoView({ block: "nearest" });
      if (error.code === "NOT_FOUND")
        this.dispatchEvent(
          new CustomEvent("provider-missing", { bubbles: true, detail: { id: this.#original && this.#original.id } }),
        );
    }
  }

  #showServerErrors(error) {
    showServerErrors(error, {
      field: (name) => this.#fields[name] || null,
      sentKeys: this.#sentKeys,
      keys: this.#key.pool,
      params: this.#params,
      headers: this.#headers,
      openSection: (name) => (this.#sections[name].el.open = true),
      summary: (message, extra) => {
        this.#setFormError(message, extra);
        // Show the summary and the first field together when they fit; the field wins when not.
        this.#formError.scrollIntoView({ block: "nearest" });
      },
    });
  }

  #setBusy(busy, what, validate) {
    this.#form.toggleAttribute("aria-busy", busy);
    this.#saveBtn.disabled = busy;
    this.#testBtn.disabled = busy;
    this.#saveBtn.classList.toggle("is-busy", busy && what === "save");
    this.#testBtn.classList.toggle("is-busy", busy && what === "test");
    const label = this.#saveBtn.firstElementChild;
    if (busy && what === "save") label.textContent = t(validate ? "providers.form.testing" : "providers.form.saving");
    else label.textContent = t(this.#mode === "edit" ? "providers.form.save.edit" : "providers.form.save.add");
  }

  #renderTestRunning() {
    const values = readValues(this.#form);
    const url = resolveRequestURL({
      type: values.type,
      baseURL: values.baseURL,
      endpoints: { chat: values["endpoints.chat"], models: values["endpoints.models"] },
    });
    let host = t("providers.test.theProvider");
    try {
      host = new URL(url).host;
    } catch {
      /* not a URL yet: the server will say so */
    }
    this.#testPanel.running(host);
  }
}

/** A collapsed section of the form: a title, a note beside it (what is set), help and content. */
function section(title, help, content) {
  const note = h("span", { class: "section-note" });
  const el = h(
    "details",
    { class: "section" },
    h(
      "summary",
      {},
      icon("chevron", { size: 16, className: "section-chevron" }),
      h("span", { class: "section-title" }, t(title)),
      note,
    ),
    h("div", { class: "section-body" }, h("p", { class: "field-help" }, t(help)), content),
  );
  return { el, note };
}

customElements.define("provider-form", ProviderForm);
