// <mcp-server-form>: the dialog that adds or edits a tool server (docs/UI.md, "Tools (MCP)").
// Adding starts from a preset tile (Filesystem with a folder the user picks, Fetch, Time,
// Everything) or a custom server: a program on this computer (stdio: command, args one per line,
// environment variables) or a remote one (HTTP: URL, headers). Variable and header values are
// write-only secrets (<mcp-pairs-editor>). The server judges: its `INVALID_CONFIG` messages go
// under the fields they name (`args.2` under the args), a summary names them, and the focus goes
// to the first. A stdio server runs only once the user confirms its exact command line in a
// window of the desktop app; declined, the server answers CANCELLED and nothing is saved.
//
// Events (bubbling): `mcp-server-saved` {server, created}, `mcp-server-missing` {id}.
import { h, uid } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { formErrorBox, showFormError } from "../lib/form-error.js";
import { dialogHeader, openModal } from "../lib/modal.js";
import { adviceFor } from "../lib/advice.js";
import { t } from "../lib/i18n.js";
import { PRESETS, argsFromText, preset, suggestServerName } from "../lib/mcp-presets.js";
import { mcpService } from "../services/mcp-service.js";
import "./mcp-pairs-editor.js";

const DEFAULT_TIMEOUT_S = 60;
// The fields' labels, also named in the summary of the server's errors.
const LABELS = {
  displayName: "mcp.form.displayName",
  name: "mcp.form.name",
  transport: "mcp.form.transport",
  command: "mcp.form.command",
  args: "mcp.form.args",
  folder: "mcp.form.folder",
  env: "mcp.form.env",
  url: "mcp.form.url",
  headers: "mcp.form.headers",
  timeoutSeconds: "mcp.form.timeout",
  enabled: "mcp.form.enabled",
};
const ORDER = Object.keys(LABELS);
// Which field a server key belongs to: `args.3` is about the args, `env.TOKEN` the variables.
const FIELD_OF = (key) => {
  const head = key.split(".")[0];
  return LABELS[head] ? head : key;
};

export class McpServerForm extends HTMLElement {
  constructor() {
    super();
    this.service = mcpService;
    this._f = {};
    this._generation = 0;
    this._desktop = false;
  }

  connectedCallback() {
    if (this._dialog) return;
    this._build();
  }

  /** Whether the native folder picker is there (the desktop window). */
  set desktop(value) {
    this._desktop = Boolean(value);
    if (this._chooseBtn) this._chooseBtn.hidden = !this._desktop;
  }

  /** Open for a new server, starting from preset `presetId` when given; `takenNames` keeps the name unique. */
  openAdd({ takenNames = [], presetId = null } = {}) {
    this._mode = "add";
    this._original = null;
    this._taken = new Set(takenNames);
    this._reset();
    this._nameAuto = true;
    this._titleEl.textContent = t("mcp.form.addTitle");
    this._subtitle.textContent = t("mcp.form.addSubtitle");
    this._presets.hidden = false;
    this._usePreset(presetId);
    openModal(this._dialog, { focus: this._presetButtons[0] });
  }

  /** Open with a saved server's values. */
  openEdit(server, { takenNames = [] } = {}) {
    this._mode = "edit";
    this._original = server;
    this._taken = new Set(takenNames.filter((n) => n.toLowerCase() !== server.name.toLowerCase()));
    this._reset();
    this._nameAuto = false;
    this._titleEl.textContent = t("mcp.form.editTitle", { name: server.displayName });
    this._subtitle.textContent = t("mcp.form.editSubtitle");
    this._presets.hidden = true;
    this._preset = null;
    this._fill(server);
    openModal(this._dialog, { focus: this._f.displayName.input });
  }

  get isOpen() {
    return Boolean(this._dialog && this._dialog.open);
  }

  // --- building -------------------------------------------------------------------------

  _build() {
    const titleId = uid("mcp-form-title");
    const header = dialogHeader({
      titleId,
      subtitle: "",
      closeTitle: t("common.close"),
      onClose: () => this._dialog.close(),
    });
    this._titleEl = header.title;
    this._subtitle = header.subtitle;
    this._formError = formErrorBox();
    const input = (props) =>
      h("input", { type: "text", class: "input", autocomplete: "off", spellcheck: false, ...props });
    this._saveBtn = h("button", { type: "submit", class: "btn btn-primary save-btn" }, h("span", {}, ""));

    this._presets = this._buildPresets();
    this._stdio = h(
      "div",
      { class: "form-grid mcp-transport-fields", dataset: { transport: "stdio" } },
      this._field("command", input({ class: "input mono", placeholder: "npx" }), t("mcp.form.commandHelp"), true),
      this._field(
        "args",
        h("textarea", { class: "input mono mcp-args", rows: 3, spellcheck: false, placeholder: "-y\npackage-name" }),
        t("mcp.form.argsHelp"),
        true,
      ),
      this._buildFolder(),
      this._pairsField("env"),
    );
    this._http = h(
      "div",
      { class: "form-grid mcp-transport-fields", dataset: { transport: "http" } },
      this._field(
        "url",
        input({ class: "input mono", type: "url", placeholder: "https://example.com/mcp" }),
        t("mcp.form.urlHelp"),
        true,
      ),
      this._pairsField("headers"),
    );
    const timeout = input({ type: "number", min: 1, max: 3600, step: 1, inputMode: "numeric", class: "input" });
    const enabled = h("input", { type: "checkbox", class: "checkbox" });
    this._form = h(
      "form",
      { class: "dialog-form", noValidate: true, autocomplete: "off" },
      header.element,
      h(
        "div",
        { class: "dialog-body" },
        this._formError,
        this._presets,
        h(
          "div",
          { class: "form-grid" },
          this._field("displayName", input({ placeholder: t("mcp.form.displayNamePlaceholder") })),
          this._field("name", input({ class: "input mono", placeholder: "my-files" }), t("mcp.form.nameHelp")),
          this._buildTransport(),
        ),
        this._stdio,
        this._http,
        h(
          "div",
          { class: "form-grid mcp-form-foot" },
          this._field("timeoutSeconds", timeout, t("mcp.form.timeoutHelp")),
          this._checkField("enabled", enabled, t("mcp.form.enabledHelp")),
        ),
      ),
      h(
        "footer",
        { class: "dialog-footer" },
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", on: { click: () => this._dialog.close() } }, t("common.cancel")),
        this._saveBtn,
      ),
    );
    this._form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._save();
    });
    this._form.addEventListener("input", (event) => this._onInput(event));
    this._dialog = h("dialog", { class: "dialog dialog-wide mcp-dialog", "aria-labelledby": titleId }, this._form);
    this._dialog.addEventListener("close", () => {
      this._generation += 1;
      this._clearSecrets();
    });
    this.append(this._dialog);
  }

  _buildPresets() {
    const tile = (id, name, sub, mono) =>
      h(
        "button",
        {
          type: "button",
          class: ["template-tile", "mcp-preset", id === "custom" ? "is-blank" : ""],
          "aria-pressed": "false",
          dataset: { preset: id },
          on: { click: () => this._usePreset(id === "custom" ? null : id, true) },
        },
        h("span", { class: "monogram", "aria-hidden": "true" }, icon(id === "custom" ? "plus" : "tool", { size: 16 })),
        h(
          "span",
          { class: "tile-text" },
          h("span", { class: "tile-name" }, name),
          sub ? h("span", { class: mono }, sub) : null,
        ),
      );
    this._presetButtons = [
      ...PRESETS.map((p) => tile(p.id, t(p.nameKey), p.command, "tile-sub mono")),
      tile("custom", t("mcp.form.custom"), "", "tile-sub"),
    ];
    this._presetHelp = h("p", { class: "field-help mcp-preset-help", "aria-live": "polite" });
    return h(
      "div",
      { class: "mcp-presets" },
      h("span", { class: "field-label" }, t("mcp.form.startFrom")),
      h("div", { class: "template-grid mcp-preset-grid" }, this._presetButtons),
      this._presetHelp,
    );
  }

  _buildTransport() {
    const group = uid("transport");
    const msg = h("p", { class: "field-msg", "aria-live": "polite" });
    const help = h("p", { class: "field-help", id: uid("transport-help") });
    this._transportInputs = ["stdio", "http"].map((value) =>
      h("input", {
        type: "radio",
        name: group,
        value,
        "aria-describedby": help.id,
        dataset: { field: "transport" },
        on: { change: () => this._showTransport() },
      }),
    );
    const labels = { stdio: t("mcp.form.transportStdio"), http: t("mcp.form.transportHttp") };
    const wrap = h(
      "fieldset",
      { class: "field field-wide policy mcp-transport", dataset: { field: "transport" } },
      h("legend", {}, t(LABELS.transport)),
      h(
        "div",
        { class: "segmented" },
        this._transportInputs.map((radio) =>
          h("label", { class: "segment" }, radio, h("span", {}, labels[radio.value])),
        ),
      ),
      help,
      msg,
    );
    this._transportHelp = help;
    this._f.transport = { input: this._transportInputs[0], msg, wrap };
    return wrap;
  }

  _buildFolder() {
    const path = h("input", {
      type: "text",
      class: "input mono",
      autocomplete: "off",
      spellcheck: false,
      placeholder: t("mcp.form.folderPlaceholder"),
    });
    this._chooseBtn = h(
      "button",
      { type: "button", class: "btn", hidden: !this._desktop, on: { click: () => this._chooseFolder() } },
      icon("folder", { size: 16 }),
      t("mcp.form.chooseFolder"),
    );
    const wrap = this._field("folder", path, t("mcp.form.folderHelp"), true);
    const row = h("div", { class: "control-row" });
    path.replaceWith(row);
    row.append(path, this._chooseBtn);
    return wrap;
  }

  _pairsField(kind) {
    const editor = h("mcp-pairs-editor", { kind });
    const labelId = uid(`${kind}-label`);
    const help = h("p", { class: "field-help" }, t(kind === "env" ? "mcp.form.envHelp" : "mcp.form.headersHelp"));
    const wrap = h(
      "div",
      { class: "field field-wide", dataset: { field: kind }, role: "group", "aria-labelledby": labelId },
      h("span", { class: "field-label", id: labelId }, t(LABELS[kind])),
      editor,
      help,
    );
    this._f[kind] = { input: editor, msg: null, wrap, editor };
    return wrap;
  }

  _field(key, control, help, wide = false) {
    const id = uid(`mcp-${key}`);
    control.id = id;
    control.dataset.field = key;
    const msg = h("p", { class: "field-msg", id: `${id}-msg`, "aria-live": "polite" });
    const helpEl = help ? h("p", { class: "field-help", id: `${id}-help` }, help) : null;
    control.setAttribute("aria-describedby", [helpEl && helpEl.id, msg.id].filter(Boolean).join(" "));
    const wrap = h(
      "div",
      { class: ["field", wide ? "field-wide" : ""], dataset: { field: key } },
      h("label", { for: id }, t(LABELS[key])),
      control,
      helpEl,
      msg,
    );
    this._f[key] = { input: control, msg, wrap };
    return wrap;
  }

  _checkField(key, control, help) {
    const id = uid(`mcp-${key}`);
    control.id = id;
    control.dataset.field = key;
    const msg = h("p", { class: "field-msg", "aria-live": "polite" });
    const wrap = h(
      "div",
      { class: "field mcp-check-field", dataset: { field: key } },
      h("span", { class: "field-label", "aria-hidden": "true" }, "\u00a0"),
      h("label", { class: "mcp-check", for: id }, control, h("span", {}, t(LABELS[key]))),
      h("p", { class: "field-help" }, help),
      msg,
    );
    this._f[key] = { input: control, msg, wrap };
    return wrap;
  }

  // --- state ----------------------------------------------------------------------------

  _reset() {
    for (const key of Object.keys(this._f)) this._setMessage(key, "");
    for (const key of ["displayName", "name", "command", "args", "folder", "url"]) this._f[key].input.value = "";
    this._f.timeoutSeconds.input.value = String(DEFAULT_TIMEOUT_S);
    this._f.enabled.input.checked = true;
    this._f.env.editor.show({}, []);
    this._f.headers.editor.show({}, []);
    this._setTransport("stdio");
    this._setFormError("");
    this._unplaced = 0;
    this._setBusy(false);
  }

  _fill(server) {
    this._f.displayName.input.value = server.displayName || "";
    this._f.name.input.value = server.name || "";
    this._setTransport(server.transport === "http" ? "http" : "stdio");
    this._f.command.input.value = server.command || "";
    this._f.args.input.value = (server.args || []).join("\n");
    this._f.url.input.value = server.url || "";
    this._f.env.editor.show(server.env || {}, server.secretEnv || []);
    this._f.headers.editor.show(server.headers || {}, server.secretHeaders || []);
    this._f.timeoutSeconds.input.value = String(server.timeoutSeconds ?? DEFAULT_TIMEOUT_S);
    this._f.enabled.input.checked = server.enabled !== false;
    this._showTransport();
  }

  /** Fill the form from preset `id` (null: a custom server); `byUser` when a tile was clicked. */
  _usePreset(id, byUser = false) {
    const chosen = preset(id);
    this._preset = chosen;
    for (const button of this._presetButtons)
      button.setAttribute("aria-pressed", String(button.dataset.preset === (chosen ? chosen.id : "custom")));
    this._presetHelp.textContent = chosen ? t(chosen.helpKey) : t("mcp.form.customText");
    if (chosen) {
      const display = t(chosen.nameKey);
      this._f.displayName.input.value = display;
      this._f.name.input.value = suggestServerName(chosen.name, this._taken);
      this._nameAuto = true;
      this._setTransport(chosen.transport);
      this._f.command.input.value = chosen.command;
      this._f.args.input.value = chosen.args.join("\n");
      this._f.folder.input.value = "";
    } else if (byUser) {
      for (const key of ["displayName", "name", "command", "args", "url"]) this._f[key].input.value = "";
      this._nameAuto = true;
    }
    for (const key of Object.keys(this._f)) this._setMessage(key, "");
    this._setFormError("");
    this._showTransport();
    if (byUser) (chosen && chosen.folder ? this._f.folder.input : this._f.displayName.input).focus();
  }

  _setTransport(value) {
    for (const radio of this._transportInputs) radio.checked = radio.value === value;
    this._showTransport();
  }

  _transport() {
    const chosen = this._transportInputs.find((r) => r.checked);
    return chosen ? chosen.value : "stdio";
  }

  _showTransport() {
    const http = this._transport() === "http";
    this._stdio.hidden = http;
    this._http.hidden = !http;
    this._f.folder.wrap.hidden = http || !(this._preset && this._preset.folder);
    this._transportHelp.textContent = http ? t("mcp.form.httpHelp") : t("mcp.form.stdioHelp");
  }

  _onInput(event) {
    const target = event.target;
    const key = target.dataset && target.dataset.field;
    if (key === "displayName" && this._nameAuto && this._mode === "add") {
      const display = this._f.displayName.input.value;
      this._f.name.input.value = display.trim() ? suggestServerName(display, this._taken) : "";
    }
    if (key === "name") this._nameAuto = false;
    const pairs = target.closest && target.closest("mcp-pairs-editor");
    this._fieldEdited(pairs ? pairs.kind : key);
  }

  async _chooseFolder() {
    const result = await this.service.chooseFolder();
    if (result.success && result.path) {
      this._f.folder.input.value = result.path;
      this._fieldEdited("folder");
      this._f.folder.input.focus();
    } else if (!result.success && result.error.code !== "CANCELLED") {
      this._setMessage("folder", result.error.message, "server");
    }
  }

  // A field the user changed loses its message; the summary goes once no field has one left.
  _fieldEdited(key) {
    if (!key || !this._f[key]) return;
    this._setMessage(key, "");
    const flagged = Object.values(this._f).some((f) => f.wrap.classList.contains("has-server-error"));
    if (!flagged && !this._unplaced) this._setFormError("");
  }

  // --- saving ---------------------------------------------------------------------------

  _collect() {
    const transport = this._transport();
    const timeout = this._f.timeoutSeconds.input.value.trim();
    const fields = {
      name: this._f.name.input.value.trim(),
      displayName: this._f.displayName.input.value,
      transport,
      enabled: this._f.enabled.input.checked,
      timeoutSeconds: timeout === "" ? DEFAULT_TIMEOUT_S : Number(timeout),
    };
    if (transport === "stdio") {
      const args = argsFromText(this._f.args.input.value);
      const folder = this._f.folder.input.value.trim();
      if (this._preset && this._preset.folder && folder) args.push(folder);
      Object.assign(fields, { command: this._f.command.input.value.trim(), args, env: this._f.env.editor.value });
    } else {
      Object.assign(fields, { url: this._f.url.input.value.trim(), headers: this._f.headers.editor.value });
    }
    return fields;
  }

  // Adding sends everything; editing sends what changed, so an unchanged command line is not
  // confirmed again (values of variables and headers: `null` keeps the saved one).
  _payload() {
    const fields = this._collect();
    if (this._mode === "add") return fields;
    const original = this._original;
    const changed = {};
    for (const key of ["name", "displayName", "transport", "enabled", "timeoutSeconds", "command", "url"])
      if (key in fields && fields[key] !== (original[key] ?? (key === "command" || key === "url" ? "" : undefined)))
        changed[key] = fields[key];
    if ("args" in fields && fields.args.join("\n") !== (original.args || []).join("\n")) changed.args = fields.args;
    for (const key of ["env", "headers"]) {
      if (!(key in fields)) continue;
      if (!samePairs(fields[key], original[key] || {})) changed[key] = fields[key];
    }
    if (fields.transport !== original.transport) Object.assign(changed, fields);
    return changed;
  }

  async _save() {
    if (this._preset && this._preset.folder && this._transport() === "stdio" && !this._f.folder.input.value.trim()) {
      this._setMessage("folder", t("mcp.form.folderMissing"));
      this._f.folder.input.focus();
      return;
    }
    const generation = this._generation;
    const payload = this._payload();
    if (this._mode === "edit" && Object.keys(payload).length === 0) {
      this._dialog.close();
      return;
    }
    const stdio = this._transport() === "stdio";
    this._setBusy(true, this._desktop && stdio && (this._mode === "add" || needsConfirm(payload)));
    const result =
      this._mode === "add"
        ? await this.service.addServer(payload)
        : await this.service.updateServer(this._original.id, payload);
    if (generation !== this._generation) return;
    this._setBusy(false);
    if (result.success) {
      const created = this._mode === "add";
      this._dialog.close();
      this.dispatchEvent(
        new CustomEvent("mcp-server-saved", { bubbles: true, detail: { server: result.server, created } }),
      );
      return;
    }
    const error = result.error;
    if (error.fields && Object.keys(error.fields).length) {
      this._showServerErrors(error);
      return;
    }
    if (error.code === "CANCELLED") {
      this._setFormError(t("mcp.form.notConfirmed"));
      return;
    }
    const { advice } = adviceFor(error);
    this._setFormError(error.message, advice ? [advice] : []);
    this._formError.scrollIntoView({ block: "nearest" });
    if (error.code === "NOT_FOUND" && this._original)
      this.dispatchEvent(new CustomEvent("mcp-server-missing", { bubbles: true, detail: { id: this._original.id } }));
  }

  /** Each of the server's field messages next to its field; the rest in the summary at the top. */
  _showServerErrors(error) {
    const byField = new Map();
    const unplaced = [];
    for (const [key, messages] of Object.entries(error.fields || {})) {
      const field = FIELD_OF(key);
      const text = (messages || []).join(" ");
      if (!this._f[field] || this._f[field].wrap.closest("[hidden]")) {
        unplaced.push(key === "_schema" ? text : `${key}: ${text}`);
        continue;
      }
      byField.set(field, [...(byField.get(field) || []), text]);
    }
    const order = ORDER.filter((k) => byField.has(k));
    for (const key of order) this._setMessage(key, byField.get(key).join(" "), "server");
    const names = order.map((key) => t(LABELS[key])).join(t("mcp.listSeparator"));
    this._unplaced = unplaced.length;
    const count = order.length + unplaced.length;
    const summary = names ? t("mcp.form.fieldsNeedNamed", { count, names }) : t("mcp.form.fieldsNeed", { count });
    this._setFormError(count ? summary : error.message, unplaced);
    this._formError.scrollIntoView({ block: "nearest" });
    const first = order[0];
    if (!first) return;
    const field = this._f[first];
    const target =
      first === "transport"
        ? this._transportInputs.find((r) => r.checked)
        : field.editor
          ? field.editor.firstControl
          : field.input;
    if (target) {
      target.focus({ preventScroll: true });
      field.wrap.scrollIntoView({ block: "nearest" });
    }
  }

  _setMessage(key, message, kind = "error") {
    const field = this._f[key];
    if (!field) return;
    if (field.editor) field.editor.error = message || "";
    else {
      field.msg.textContent = message || "";
      if (field.input.tagName !== "INPUT" || field.input.type !== "radio")
        field.input.setAttribute("aria-invalid", String(Boolean(message)));
    }
    field.wrap.classList.toggle("has-error", Boolean(message));
    field.wrap.classList.toggle("has-server-error", Boolean(message) && kind === "server");
  }

  _setFormError(message, extra = []) {
    showFormError(this._formError, message, extra);
  }

  _setBusy(busy, confirming = false) {
    if (!this._saveBtn) return;
    this._form.toggleAttribute("aria-busy", busy);
    this._saveBtn.disabled = busy;
    this._saveBtn.classList.toggle("is-busy", busy);
    this._saveBtn.firstElementChild.textContent = busy
      ? confirming
        ? t("mcp.form.confirming")
        : t("mcp.form.saving")
      : this._mode === "edit"
        ? t("mcp.form.saveChanges")
        : t("mcp.form.save");
  }

  // The dialog closed: no typed secret may stay in a field.
  _clearSecrets() {
    this._f.env.editor.show({}, []);
    this._f.headers.editor.show({}, []);
  }
}

// Whether an edit changes what a stdio server runs (the desktop asks the user to confirm it).
function needsConfirm(payload) {
  return ["command", "args", "env", "transport"].some((key) => key in payload);
}

function samePairs(typed, saved) {
  const a = Object.entries(typed);
  const names = Object.keys(saved);
  if (a.length !== names.length) return false;
  return a.every(([name, value]) => value === null || saved[name] === value) && names.every((n) => n in typed);
}

customElements.define("mcp-server-form", McpServerForm);
