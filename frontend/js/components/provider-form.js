// <provider-form>: the add/edit dialog. Adding starts with a template picker; both modes show
// the fields, the request URL as it resolves, a connection test, and the server's messages next
// to the fields they concern. Emits "provider-saved" ({detail: {provider, check, created}}) and
// "provider-missing" ({detail: {id}}) when the provider being edited is gone.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { openModal } from "../lib/modal.js";
import { adviceFor, isUpstreamError } from "../lib/advice.js";
import { addPayload, updatePayload } from "../lib/provider-payload.js";
import {
  PROVIDER_TYPES,
  defaultAuth,
  describeAuth,
  hints,
  resolveRequestURL,
  sameAuth,
  suggestName,
  uniqueName,
} from "../lib/provider-rules.js";
import { providerService } from "../services/custom-provider-service.js";
import { toast } from "./toast-region.js";
import "./template-picker.js";
import "./headers-editor.js";
import "./parameters-editor.js";
import "./test-result.js";
import "./template-note.js";
import "./provider-keys.js";

const HINT_DELAY_MS = 900;
// How the health checks probe the provider (API.md, Health status: checkKind).
const CHECK_KINDS = [
  { value: "models", label: "Model list (free)" },
  { value: "chat", label: "One-token chat (for gateways)" },
];
// Server field keys that live in a collapsed section, and which section.
const SECTION_OF = { parameters: "params", headers: "headers", auth: "advanced", endpoints: "advanced" };

export class ProviderForm extends HTMLElement {
  constructor() {
    super();
    this.service = providerService;
    this._f = {};
  }

  connectedCallback() {
    if (this._dialog) return;
    this._build();
  }

  /** Open for a new provider; `existingNames` keeps suggested names unique. */
  async openAdd({ existingNames = [] } = {}) {
    this._mode = "add";
    this._original = null;
    this._taken = new Set(existingNames);
    this._reset();
    this._titleEl.textContent = "Add a provider";
    this._subtitle.textContent = "Start from a template, or from scratch for any compatible endpoint.";
    this._showStep("picker");
    openModal(this._dialog, { focus: this._picker });
    const result = await this.service.getTemplates();
    if (result.success) this._picker.templates = result.templates;
    else
      toast({
        kind: "error",
        title: "Templates could not be loaded",
        message: `${result.error.message} You can still start blank.`,
      });
  }

  /** Open with a saved provider's values. */
  openEdit(provider, { existingNames = [] } = {}) {
    this._mode = "edit";
    this._original = provider;
    this._taken = new Set(existingNames.filter((n) => n.toLowerCase() !== provider.name.toLowerCase()));
    this._reset();
    this._titleEl.textContent = `Edit ${provider.displayName}`;
    this._subtitle.textContent = "Changes are tested against the provider before they are saved.";
    this._fill(provider);
    this._showStep("form");
    openModal(this._dialog, { focus: this._f.displayName.input });
    this._loadModels();
  }

  get isOpen() {
    return this._dialog.open;
  }

  // --- building -------------------------------------------------------------------------

  _build() {
    const titleId = uid("form-title");
    this._titleEl = h("h2", { class: "dialog-title", id: titleId });
    this._subtitle = h("p", { class: "dialog-subtitle" });
    const closeBtn = h(
      "button",
      {
        type: "button",
        class: "icon-btn",
        "aria-label": "Close",
        title: "Close (Esc)",
        on: { click: () => this._dialog.close() },
      },
      icon("x"),
    );

    this._picker = h("template-picker");
    this._picker.addEventListener("template-chosen", (event) => this._chooseTemplate(event.detail.template));
    this._pickerStep = h("div", { class: "step step-picker" }, this._picker);

    this._formError = h("div", { class: "form-error", role: "alert", hidden: true });
    this._templateNote = h("template-note", { hidden: true });
    this._templateNote.addEventListener("change-template", () => {
      this._showStep("picker");
      this._picker.focus();
    });
    this._formStep = h(
      "div",
      { class: "step step-form" },
      this._formError,
      this._templateNote,
      this._buildBasics(),
      this._buildSections(),
    );

    this._testPanel = h("test-result", { class: "test-panel", hidden: true });
    this._testPanel.addEventListener("save-anyway", () => this._save({ validate: false }));
    this._testBtn = h(
      "button",
      { type: "button", class: "btn test-btn", on: { click: () => this._test() } },
      icon("bolt", { size: 16 }),
      h("span", {}, "Test connection"),
    );
    this._saveBtn = h("button", { type: "submit", class: "btn btn-primary save-btn" }, h("span", {}, "Save"));
    const cancel = h("button", { type: "button", class: "btn", on: { click: () => this._dialog.close() } }, "Cancel");
    this._footer = h(
      "footer",
      { class: "dialog-footer" },
      this._testBtn,
      h("span", { class: "spacer" }),
      cancel,
      this._saveBtn,
    );
    this._pickerFooter = h(
      "footer",
      { class: "dialog-footer" },
      h("span", { class: "muted footer-note" }, "Enter picks the first match · Esc closes"),
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn", on: { click: () => this._dialog.close() } }, "Cancel"),
    );

    this._form = h(
      "form",
      { class: "dialog-form", noValidate: true, autocomplete: "off" },
      h("header", { class: "dialog-header" }, h("div", {}, this._titleEl, this._subtitle), closeBtn),
      h("div", { class: "dialog-body" }, this._pickerStep, this._formStep),
      this._testPanel,
      this._footer,
      this._pickerFooter,
    );
    // Save is the form's only submit button, so Enter in any field saves.
    this._form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._save({ validate: true });
    });
    this._form.addEventListener("input", (event) => this._onInput(event));
    this._form.addEventListener("change", (event) => this._onInput(event));

    this._dialog = h("dialog", { class: "dialog dialog-wide provider-dialog", "aria-labelledby": titleId }, this._form);
    this._dialog.addEventListener("close", () => {
      this._generation += 1;
      // A typed key must not outlive the form: saved or not, it stayed in the hidden field's
      // value until the form was next opened.
      this._f.apiKey.input.value = "";
      this._keys.stop();
    });
    this._generation = 0;
    this.append(this._dialog);
  }

  _buildBasics() {
    const f = (tag, props) => h(tag, { class: "input", autocomplete: "off", spellcheck: false, ...props });
    const typeSelect = h(
      "select",
      { class: "input select" },
      PROVIDER_TYPES.map((t) => h("option", { value: t.value }, t.label)),
    );

    this._urlOut = h("output", { class: "mono url-value" });
    this._urlNote = h("p", { class: "field-help url-note" });
    const preview = h(
      "div",
      { class: "field field-wide url-preview-field" },
      h("span", { class: "field-label" }, "Request URL"),
      h("div", { class: "url-preview" }, h("span", { class: "url-method" }, "POST"), this._urlOut),
      this._urlNote,
    );

    this._datalist = h("datalist", { id: uid("models") });
    const modelInput = f("input", { type: "text", placeholder: "e.g. llama-3.3-70b-versatile" });
    modelInput.setAttribute("list", this._datalist.id);
    this._modelsBtn = h(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-ghost models-btn",
        title: "Ask the provider for its model list, with the values typed so far",
        on: { click: () => this._fetchModels() },
      },
      "Fetch models",
    );

    const keyInput = f("input", { type: "password", placeholder: "Paste the API key", autocomplete: "new-password" });
    this._revealBtn = h(
      "button",
      {
        type: "button",
        class: "icon-btn reveal-btn",
        "aria-label": "Show the key you typed",
        "aria-pressed": "false",
        title: "Show the key you typed",
        on: { click: () => this._toggleReveal() },
      },
      icon("eye"),
    );
    this._removeKeyBtn = h(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-ghost remove-key-btn",
        hidden: true,
        on: { click: () => this._toggleRemoveKey() },
      },
      "Remove key",
    );
    this._keys = h("provider-keys");
    this._keys.addEventListener("provider-keys-changed", (event) => this._keysChanged(event.detail.provider));
    const checkSelect = h(
      "select",
      { class: "input select" },
      CHECK_KINDS.map((k) => h("option", { value: k.value }, k.label)),
    );

    return h(
      "div",
      { class: "form-grid" },
      this._field("displayName", "Display name", f("input", { type: "text", placeholder: "e.g. Groq (work)" })),
      this._field("name", "Name", f("input", { type: "text", placeholder: "e.g. groq-work" }), {
        help: "Unique id in exports and scripts: letters, digits, - _ .",
      }),
      this._field("type", "Type", typeSelect),
      this._field(
        "baseURL",
        "Base URL",
        f("input", { type: "text", inputMode: "url", placeholder: "https://api.example.com/v1" }),
        { help: "With its version path, e.g. https://api.groq.com/openai/v1" },
      ),
      preview,
      this._field("model", "Model", modelInput, { extra: this._modelsBtn, help: " " }),
      this._field("apiKey", "API key", keyInput, {
        extra: h("span", { class: "key-tools" }, this._revealBtn, this._removeKeyBtn),
        help: " ",
      }),
      this._keys,
      this._field("checkKind", "Health check", checkSelect, {
        help: "Gateways answer the model list from their own settings even when chats fail; a one-token chat shows the truth for a token per check.",
      }),
      this._datalist,
    );
  }

  _buildSections() {
    this._params = h("parameters-editor");
    this._headers = h("headers-editor");
    const schemeSelect = h("select", { class: "input select" });
    const authName = h("input", {
      type: "text",
      class: "input mono",
      autocomplete: "off",
      spellcheck: false,
      placeholder: "x-api-key",
    });
    const chatPath = h("input", { type: "text", class: "input mono", autocomplete: "off", spellcheck: false });
    const modelsPath = h("input", { type: "text", class: "input mono", autocomplete: "off", spellcheck: false });

    this._sections = {
      params: this._section("Generation parameters", "Empty fields use the provider's defaults.", this._params),
      headers: this._section("Custom headers", "Sent with every request to this provider.", this._headers),
      advanced: this._section(
        "Authentication and endpoints",
        "Only for providers that differ from their type's defaults.",
        h(
          "div",
          { class: "form-grid" },
          this._field("auth.scheme", "Send the key as", schemeSelect),
          this._field("auth.name", "Header or parameter name", authName),
          this._field("endpoints.chat", "Chat path", chatPath, {
            help: "Replaces the default path after the base URL.",
          }),
          this._field("endpoints.models", "Models path", modelsPath, {
            help: "Used by health checks and the model list.",
          }),
        ),
      ),
    };
    return h(
      "div",
      { class: "sections" },
      Object.values(this._sections).map((s) => s.el),
    );
  }

  _section(title, help, content) {
    const summaryNote = h("span", { class: "section-note" });
    const el = h(
      "details",
      { class: "section" },
      h(
        "summary",
        {},
        icon("chevron", { size: 16, className: "section-chevron" }),
        h("span", { class: "section-title" }, title),
        summaryNote,
      ),
      h("div", { class: "section-body" }, h("p", { class: "field-help" }, help), content),
    );
    return { el, summaryNote };
  }

  _field(key, label, control, { help, extra } = {}) {
    const id = uid(`f-${key.replace(".", "-")}`);
    control.id = id;
    control.dataset.field = key;
    const msg = h("p", { class: "field-msg", id: `${id}-msg`, "aria-live": "polite" });
    const helpEl = help ? h("p", { class: "field-help", id: `${id}-help` }, help.trim()) : null;
    control.setAttribute("aria-describedby", [helpEl && helpEl.id, msg.id].filter(Boolean).join(" "));
    const wrap = h(
      "div",
      { class: "field", dataset: { field: key } },
      h("label", { for: id }, label),
      extra ? h("div", { class: "control-row" }, control, extra) : control,
      helpEl,
      msg,
    );
    this._f[key] = { input: control, msg, help: helpEl, wrap };
    return wrap;
  }

  // --- state ----------------------------------------------------------------------------

  _reset() {
    clearTimeout(this._hintTimer);
    this._template = null;
    this._removeKey = false;
    this._modelsState = null;
    this._nameAuto = true;
    this._touched = new Set();
    this._submitted = false;
    for (const key of Object.keys(this._f)) {
      const { input } = this._f[key];
      if (input.tagName !== "SELECT") input.value = "";
      input.disabled = false;
      this._setMessage(key, "");
    }
    this._f.type.input.value = "openai-compatible";
    this._f.checkKind.input.value = "models";
    this._f.apiKey.wrap.hidden = false;
    this._keys.reset(null);
    this._placeKeys();
    this._f.apiKey.input.type = "password";
    this._revealBtn.setAttribute("aria-pressed", "false");
    this._params.value = {};
    this._headers.secretHeaders = null;
    this._headers.value = {};
    this._fillSchemes();
    this._f["auth.scheme"].input.value = "default";
    replaceChildren(this._datalist);
    this._picker.reset?.();
    for (const s of Object.values(this._sections)) s.el.open = false;
    this._setFormError("");
    this._clearTest();
    this._templateNote.hidden = true;
    this._removeKeyBtn.hidden = true;
    this._modelsBtn.disabled = false;
    this._modelsBtn.classList.remove("is-busy");
    this._saveBtn.firstElementChild.textContent = this._mode === "edit" ? "Save changes" : "Add provider";
    this._setBusy(false);
    this._refresh();
  }

  _showStep(step) {
    const picking = step === "picker";
    this._pickerStep.hidden = !picking;
    this._pickerFooter.hidden = !picking;
    this._formStep.hidden = picking;
    this._footer.hidden = picking;
    this._dialog.classList.toggle("is-picking", picking);
    if (picking) this._clearTest();
  }

  _chooseTemplate(template) {
    this._template = template;
    const t = template || {};
    this._f.displayName.input.value = t.displayName || "";
    this._f.name.input.value = t.name ? uniqueName(t.name, this._taken) : "";
    this._nameAuto = !template;
    this._f.type.input.value = t.type || "openai-compatible";
    this._f.baseURL.input.value = t.baseURL || "";
    this._f.model.input.value = t.model || "";
    this._f.checkKind.input.value = t.checkKind === "chat" ? "chat" : "models";
    this._f.apiKey.input.value = "";
    this._headers.secretHeaders = null;
    this._headers.value = t.headers || {};
    this._params.value = {};
    this._fillSchemes();
    this._f["auth.scheme"].input.value = t.auth ? t.auth.scheme : "default";
    this._f["auth.name"].input.value = (t.auth && t.auth.name) || "";
    this._f["endpoints.chat"].input.value = (t.endpoints && t.endpoints.chat) || "";
    this._f["endpoints.models"].input.value = (t.endpoints && t.endpoints.models) || "";
    this._templateNote.template = template;
    this._templateNote.hidden = false;
    this._showStep("form");
    const holes = /\{[^}]*\}/.test(t.baseURL || "");
    // Placeholders ({resource}) must be replaced: say so at once rather than after a failed save.
    for (const key of ["baseURL", "model"]) if (/\{[^}]*\}/.test(t[key] || "")) this._touched.add(key);
    this._refresh();
    const focusKey = !template ? "displayName" : holes ? "baseURL" : t.needsApiKey === false ? "model" : "apiKey";
    const input = this._f[focusKey].input;
    input.focus();
    if (holes) {
      const at = input.value.indexOf("{");
      input.setSelectionRange(at, input.value.indexOf("}", at) + 1);
    }
  }

  _fill(p) {
    this._f.displayName.input.value = p.displayName;
    this._f.name.input.value = p.name;
    this._nameAuto = false;
    this._f.type.input.value = p.type;
    this._f.baseURL.input.value = p.baseURL;
    this._f.model.input.value = p.model;
    this._headers.secretHeaders = p.secretHeaders || {};
    this._headers.value = p.headers || {};
    this._params.value = p.parameters || {};
    this._fillSchemes();
    const isDefault = sameAuth(p.auth, defaultAuth(p.type));
    this._f["auth.scheme"].input.value = isDefault ? "default" : p.auth.scheme;
    this._f["auth.name"].input.value = isDefault ? "" : p.auth.name || "";
    this._f["endpoints.chat"].input.value = (p.endpoints && p.endpoints.chat) || "";
    this._f["endpoints.models"].input.value = (p.endpoints && p.endpoints.models) || "";
    this._f.checkKind.input.value = p.checkKind === "chat" ? "chat" : "models";
    this._keys.reset(p);
    this._placeKeys();
    this._showKeyField(p);
    this._templateNote.hidden = true;
    this._refresh();
  }

  /**
   * The "API key" field writes the pool's one key (typed: replace it; "Remove key": drop it).
   * With several keys saved, the saved list below is the way to change them, so it hides.
   */
  _showKeyField(p) {
    const several = (p.keys || []).length > 1;
    this._f.apiKey.wrap.hidden = several;
    if (several) {
      this._f.apiKey.input.value = "";
      this._removeKey = false;
    }
    this._removeKeyBtn.hidden = !p.hasApiKey;
  }

  /** A key was added, removed or re-enabled from the saved list (already saved). */
  _keysChanged(provider) {
    // The server's read is the base for "what changed" from now on; typed edits stay.
    this._original = provider;
    this._placeKeys();
    this._showKeyField(provider);
    this._refresh();
  }

  // More key fields belong under the "API key" field; the saved pool takes the form's width.
  _placeKeys() {
    const saved = this._keys.showsSaved;
    this._keys.classList.toggle("field-wide", saved);
    if (saved) this._f.apiKey.wrap.after(this._keys);
    else this._f.apiKey.wrap.append(this._keys);
  }

  _fillSchemes() {
    const select = this._f["auth.scheme"].input;
    const current = select.value;
    const type = this._f.type.input.value;
    replaceChildren(
      select,
      h("option", { value: "default" }, `Default for the type (${describeAuth(defaultAuth(type))})`),
      h("option", { value: "bearer" }, "Bearer token (Authorization header)"),
      h("option", { value: "header" }, "A named header"),
      h("option", { value: "query" }, "A query parameter"),
      h("option", { value: "none" }, "Don't send a key"),
    );
    select.value = current || "default";
  }

  // --- live feedback --------------------------------------------------------------------

  _onInput(event) {
    const key = event.target.dataset && event.target.dataset.field;
    if (key === "displayName" && this._nameAuto) {
      this._f.name.input.value = this._f.displayName.input.value.trim()
        ? suggestName(this._f.displayName.input.value, this._taken)
        : "";
    }
    if (key === "name" && event.type === "input") this._nameAuto = false;
    if (key === "type") this._fillSchemes();
    if (key) this._setMessage(key, "");
    this._refresh();
    // Hints appear once typing pauses, not on blur: a message appearing on blur moves the
    // layout under the pointer and can swallow the click that caused the blur.
    if (key && event.type === "input") {
      clearTimeout(this._hintTimer);
      this._hintTimer = setTimeout(() => {
        this._touched.add(key);
        this._showHints();
      }, HINT_DELAY_MS);
    }
  }

  /** Recompute what depends on the fields: URL preview, help texts, hints, section notes. */
  _refresh() {
    const type = this._f.type.input.value;
    const base = this._f.baseURL.input.value;
    const endpoints = { chat: this._f["endpoints.chat"].input.value.trim() };
    const url = resolveRequestURL({ type, baseURL: base, endpoints });
    this._urlOut.textContent = url || "Fill in the base URL to see where requests go.";
    this._urlOut.classList.toggle("is-empty", !url);
    if (this._original && this._original.requestURL !== url)
      this._urlNote.textContent = `Saved: ${this._original.requestURL}`;
    else if (this._original) this._urlNote.textContent = "As saved.";
    else if (type === "anthropic-compatible")
      this._urlNote.textContent = "Anthropic wire: /v1/messages is added unless the base already ends in /v1.";
    else
      this._urlNote.textContent = endpoints.chat
        ? "Your chat path replaces /chat/completions."
        : "OpenAI wire: /chat/completions is added to the base.";

    this._f["endpoints.chat"].input.placeholder =
      resolveRequestURL({ type, baseURL: "x" }).slice(1) || "/chat/completions";
    this._f["endpoints.models"].input.placeholder = type === "anthropic-compatible" ? "/v1/models" : "/models";
    const scheme = this._f["auth.scheme"].input.value;
    const authName = this._f["auth.name"].input;
    authName.disabled = scheme !== "header" && scheme !== "query";
    if (authName.disabled) authName.value = "";
    authName.placeholder = scheme === "query" ? "key" : scheme === "header" ? "x-api-key" : "—";

    this._renderKeyHelp();
    this._renderModelHelp();
    this._sectionNotes();
    this._showHints();
  }

  _renderKeyHelp() {
    const help = this._f.apiKey.help;
    const input = this._f.apiKey.input;
    const p = this._original;
    input.disabled = this._removeKey;
    if (p && this._removeKey) {
      help.textContent = "The saved key will be removed when you save.";
      this._removeKeyBtn.textContent = "Keep key";
      input.value = "";
      input.placeholder = "Key will be removed";
    } else if (p && p.hasApiKey) {
      help.textContent = `Key saved (${p.apiKeyHint || "hidden"}) — leave empty to keep it.`;
      this._removeKeyBtn.textContent = "Remove key";
      input.placeholder = "Leave empty to keep it";
    } else if (this._template && this._template.needsApiKey === false) {
      help.textContent = "Not needed for this provider; leave empty.";
      input.placeholder = "No key needed";
    } else {
      help.textContent = p
        ? "No key saved. Local servers such as Ollama need none."
        : "Kept in the system keyring (or encrypted file), never shown again.";
      input.placeholder = "Paste the API key";
    }
  }

  _renderModelHelp() {
    if (this._modelsState) return;
    this._f.model.help.textContent =
      this._mode === "edit"
        ? "Type any model id; the provider's list is suggested."
        : "Type any model id, or fetch the provider's list with the values above.";
  }

  _sectionNotes() {
    const count = this._params.count;
    this._sections.params.summaryNote.textContent = count ? `${count} set` : "defaults";
    const headers = Object.keys(this._headers.value).length;
    this._sections.headers.summaryNote.textContent = headers ? `${headers} header${headers === 1 ? "" : "s"}` : "none";
    const scheme = this._f["auth.scheme"].input.value;
    const paths = ["endpoints.chat", "endpoints.models"].filter((k) => this._f[k].input.value.trim()).length;
    const bits = [scheme === "default" ? "default auth" : describeAuth(this._authValue() || { scheme })];
    if (paths) bits.push(`${paths} path${paths === 1 ? "" : "s"} set`);
    this._sections.advanced.summaryNote.textContent = bits.join(" · ");
  }

  _showHints() {
    const v = (key) => this._f[key].input.value;
    const scheme = v("auth.scheme");
    const checks = {
      displayName: () => hints.displayName(v("displayName")),
      name: () => hints.name(v("name").trim()),
      baseURL: () => hints.baseURL(v("baseURL")),
      model: () => hints.model(v("model")),
      apiKey: () => hints.apiKey(v("apiKey")),
      "auth.name": () =>
        scheme === "header" || scheme === "query" ? hints.authName(scheme, v("auth.name").trim()) : null,
      "endpoints.chat": () => hints.endpoint(v("endpoints.chat").trim()),
      "endpoints.models": () => hints.endpoint(v("endpoints.models").trim()),
    };
    for (const [key, check] of Object.entries(checks)) {
      if (!this._submitted && !this._touched.has(key)) continue;
      if (this._f[key].wrap.classList.contains("has-server-error")) continue;
      this._setMessage(key, check() || "", "hint");
    }
    if (this._submitted) this._headers.check();
  }

  _setMessage(key, message, kind = "error") {
    const field = this._f[key];
    if (!field) return false;
    field.msg.textContent = message || "";
    field.input.setAttribute("aria-invalid", String(Boolean(message)));
    field.wrap.classList.toggle("has-error", Boolean(message));
    field.wrap.classList.toggle("has-server-error", Boolean(message) && kind === "server");
    return true;
  }

  _setFormError(message, extra = []) {
    this._formError.hidden = !message;
    replaceChildren(
      this._formError,
      message
        ? [
            icon("alert", { size: 16 }),
            h(
              "div",
              {},
              h("p", {}, message),
              extra.length
                ? h(
                    "ul",
                    {},
                    extra.map((m) => h("li", {}, m)),
                  )
                : null,
            ),
          ]
        : [],
    );
  }

  _toggleReveal() {
    const input = this._f.apiKey.input;
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    this._revealBtn.setAttribute("aria-pressed", String(show));
    replaceChildren(this._revealBtn, icon(show ? "eye-off" : "eye"));
  }

  _toggleRemoveKey() {
    this._removeKey = !this._removeKey;
    this._refresh();
  }

  /** On opening an edit: the saved provider's list, as saved (no edits yet, stored key). */
  _loadModels() {
    if (this._mode === "edit") this._requestModels(this._original.id, false);
  }

  /**
   * "Fetch models": the list for the values typed so far, saved or not. Like a connection test
   * it sends the form's config (with the id when editing, so an empty key field means the
   * stored key); the typed key goes only into this call.
   */
  _fetchModels() {
    const { payload, blocking } = this._collect({ whole: true });
    if (blocking) return blocking.focus();
    this._requestModels(this._mode === "edit" ? { id: this._original.id, ...payload } : payload, true);
  }

  async _requestModels(target, userAsked) {
    const generation = this._generation;
    this._modelsState = "loading";
    this._modelsBtn.disabled = true;
    this._modelsBtn.classList.add("is-busy");
    this._f.model.help.textContent = "Loading the provider's model list…";
    const result = await this.service.listModels(target);
    if (generation !== this._generation) return;
    this._modelsBtn.disabled = false;
    this._modelsBtn.classList.remove("is-busy");
    this._modelsState = "done";
    if (result.success) {
      const models = result.models || [];
      replaceChildren(
        this._datalist,
        models.map((m) => h("option", { value: m })),
      );
      this._f.model.help.textContent = models.length
        ? `${models.length} model${models.length === 1 ? "" : "s"} offered by the provider — pick one or type any id.`
        : "The provider lists no models; type the model id.";
      if (userAsked) {
        this._clearTest();
        this._f.model.input.focus();
      }
      return;
    }
    this._f.model.help.textContent = `Couldn't load the model list: ${result.error.message}`;
    if (!userAsked) return;
    // Shown the way a failed connection test is: field errors by their fields, the rest below.
    if (result.error.code === "INVALID_CONFIG" || result.error.code === "DUPLICATE_NAME") {
      this._clearTest();
      this._showServerErrors(result.error);
    } else this._testPanel.failure(result.error);
  }

  // --- payloads -------------------------------------------------------------------------

  _authValue() {
    const scheme = this._f["auth.scheme"].input.value;
    if (scheme === "default") return null;
    const name = this._f["auth.name"].input.value.trim();
    return scheme === "header" || scheme === "query" ? { scheme, name } : { scheme };
  }

  _endpointsValue() {
    const out = {};
    for (const kind of ["chat", "models"]) {
      const value = this._f[`endpoints.${kind}`].input.value.trim();
      if (value) out[kind] = value;
    }
    return out;
  }

  /**
   * What to send: {payload}, or {blocking: input} when a field cannot be read at all. `whole`:
   * every field even when editing (a model list is asked for with the whole config).
   */
  _collect({ whole = false } = {}) {
    const params = this._params.read();
    if (params.blocking.length) return { blocking: this._params.inputFor(params.blocking[0]) };
    const value = (key) => this._f[key].input.value;
    const fields = {
      name: value("name").trim(),
      displayName: value("displayName"),
      type: value("type"),
      baseURL: value("baseURL").trim(),
      model: value("model").trim(),
      headers: this._headers.value,
      parameters: params.value,
      endpoints: this._endpointsValue(),
      checkKind: value("checkKind"),
    };
    // The keys typed on this form, in order; apiKeys.<n> errors point back at them.
    this._sentKeys = [this._f.apiKey.input, ...this._keys.typedInputs].filter((input) => input.value);
    const keys = this._sentKeys.map((input) => input.value);
    const extras = { auth: this._authValue(), keys, removeKey: this._removeKey };
    if (this._mode === "add") return { payload: addPayload(fields, extras) };
    if (!whole) return { payload: updatePayload(this._original, fields, extras) };
    // Removing the key: an empty one says "not the stored key" to the model list too.
    return { payload: { ...addPayload(fields, extras), ...(this._removeKey ? { apiKey: "" } : {}) } };
  }

  // --- actions --------------------------------------------------------------------------

  async _test() {
    const { payload, blocking } = this._collect();
    if (blocking) return blocking.focus();
    const generation = this._generation;
    const target = this._mode === "edit" ? { id: this._original.id, ...payload } : payload;
    this._setBusy(true, "test");
    this._renderTestRunning();
    const result = await this.service.testConnection(target);
    if (generation !== this._generation) return;
    this._setBusy(false);
    if (result.success) this._testPanel.success(result.status);
    else if (result.error.code === "INVALID_CONFIG" || result.error.code === "DUPLICATE_NAME") {
      this._clearTest();
      this._showServerErrors(result.error);
    } else this._testPanel.failure(result.error);
  }

  async _save({ validate }) {
    this._submitted = true;
    this._refresh();
    const { payload, blocking } = this._collect();
    if (blocking) {
      this._sections.params.el.open = true;
      return blocking.focus();
    }
    const generation = this._generation;
    this._setBusy(true, "save", validate);
    if (validate) this._renderTestRunning();
    const result =
      this._mode === "add"
        ? await this.service.addProvider(payload, { validate })
        : await this.service.updateProvider(this._original.id, payload, { validate });
    if (generation !== this._generation) return;
    this._setBusy(false);
    if (result.success) {
      const created = this._mode === "add";
      this._dialog.close();
      this.dispatchEvent(
        new CustomEvent("provider-saved", {
          bubbles: true,
          detail: { provider: result.provider, check: result.check || null, created },
        }),
      );
      return;
    }
    const error = result.error;
    if (error.code === "INVALID_CONFIG" || error.code === "DUPLICATE_NAME") {
      this._clearTest();
      this._showServerErrors(error);
    } else if (validate && (isUpstreamError(error) || error.code === "INTERNAL")) {
      this._testPanel.failure(error, { refusedSave: true });
    } else {
      this._clearTest();
      const { advice } = adviceFor(error);
      this._setFormError(error.message, advice ? [advice] : []);
      this._formError.scrollIntoView({ block: "nearest" });
      if (error.code === "NOT_FOUND")
        this.dispatchEvent(
          new CustomEvent("provider-missing", { bubbles: true, detail: { id: this._original && this._original.id } }),
        );
    }
  }

  /** Put each of the server's field messages next to its field; the rest at the top. */
  _showServerErrors(error) {
    const fields = error.fields || {};
    const unplaced = [];
    const labels = [];
    const opened = new Set();
    let first = null;
    for (const [key, messages] of Object.entries(fields)) {
      const text = (messages || []).join(" ");
      const target = this._placeError(key, text);
      if (!target) {
        unplaced.push(key === "_schema" || key === "arguments" ? text : `${key}: ${text}`);
        continue;
      }
      labels.push({ target, label: labelOf(target) || key });
      const section = SECTION_OF[key.split(".")[0]];
      if (section) opened.add(section);
      if (!first || first.compareDocumentPosition(target) & Node.DOCUMENT_POSITION_PRECEDING) first = target;
    }
    for (const name of opened) this._sections[name].el.open = true;
    const count = Object.keys(fields).length;
    labels.sort((a, b) => (a.target.compareDocumentPosition(b.target) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
    const named = labels.length ? `: ${labels.map((l) => l.label).join(", ")}.` : ".";
    this._setFormError(
      count ? `${count === 1 ? "One field needs" : `${count} fields need`} attention${named}` : error.message,
      unplaced,
    );
    // Show the summary and the first field together when they fit; the field wins when not.
    this._formError.scrollIntoView({ block: "nearest" });
    if (first) {
      first.focus({ preventScroll: true });
      first.scrollIntoView({ block: "nearest" });
    }
  }

  _placeError(key, text) {
    if (this._setMessage(key, text, "server")) return this._f[key].input;
    if (key === "apiKeys" || key === "key") {
      this._setMessage("apiKey", text, "server");
      return this._f.apiKey.input;
    }
    if (key.startsWith("apiKeys.")) {
      const input = (this._sentKeys || [])[Number(key.slice("apiKeys.".length))];
      if (input === this._f.apiKey.input || !input) {
        this._setMessage("apiKey", text, "server");
        return this._f.apiKey.input;
      }
      return this._keys.setTypedError(input, text);
    }
    if (key.startsWith("parameters.")) {
      const name = key.slice("parameters.".length);
      if (this._params.setError(name, text)) return this._params.inputFor(name);
    }
    if (key === "headers" || key.startsWith("headers.")) {
      this._headers.error = text;
      return this._headers.querySelector("input") || this._headers.querySelector("button");
    }
    if (key === "auth") {
      this._setMessage("auth.scheme", text, "server");
      return this._f["auth.scheme"].input;
    }
    if (key === "endpoints") {
      this._setMessage("endpoints.chat", text, "server");
      return this._f["endpoints.chat"].input;
    }
    return null;
  }

  _setBusy(busy, what, validate) {
    this._form.toggleAttribute("aria-busy", busy);
    this._saveBtn.disabled = busy;
    this._testBtn.disabled = busy;
    this._saveBtn.classList.toggle("is-busy", busy && what === "save");
    this._testBtn.classList.toggle("is-busy", busy && what === "test");
    const label = this._saveBtn.firstElementChild;
    if (busy && what === "save") label.textContent = validate ? "Testing…" : "Saving…";
    else label.textContent = this._mode === "edit" ? "Save changes" : "Add provider";
  }

  _clearTest() {
    this._testPanel.clear();
  }

  _renderTestRunning() {
    const url = resolveRequestURL({
      type: this._f.type.input.value,
      baseURL: this._f.baseURL.input.value,
      endpoints: this._endpointsValue(),
    });
    let host = "the provider";
    try {
      host = new URL(url).host;
    } catch {
      /* not a URL yet: the server will say so */
    }
    this._testPanel.running(host);
  }
}

/** The visible label of a form control, without its range hint ("Temperature", not "Temperature 0–2"). */
function labelOf(control) {
  const label = control.labels && control.labels[0];
  if (!label) return control.getAttribute("aria-label") || "";
  return label.firstChild ? label.firstChild.textContent.trim() : label.textContent.trim();
}

customElements.define("provider-form", ProviderForm);
