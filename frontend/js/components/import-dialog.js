// <import-dialog>: choose an export file, see what importing it would do (a dry run), then import.
// The file is read in the page (<input type=file>, which is the system's open dialog in the
// desktop window too) and sent as `content` (a .json, as text) or `contentBase64` (a .zip, such
// as a Cherry Studio backup), so the preview and the import use the same bytes and the user is
// asked for the file once. The file's routes and MCP servers ("tool servers") come with its
// providers and are previewed beside them; a stdio server from a file runs only once the user
// confirmed its command on the Tools screen (Restart), which the preview says. Another app's
// file (Cherry Studio, Chatbox, LobeChat) needs no passphrase: the preview names the app and
// lists what the file holds that cannot be brought over, with the reason.
// Emits "providers-imported" ({detail: report}).
import { h, replaceChildren, uid } from "../lib/dom.js";
import { formatList, t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { dialogHeader, openModal } from "../lib/modal.js";
import { adviceFor } from "../lib/advice.js";
import { formatBytes } from "../lib/format.js";
import { providerService } from "../services/custom-provider-service.js";

// What the page reads and sends: within the HTTP API's 16 MB body even as base64 or as escaped
// JSON text. Larger files can still be imported by `path` (docs/API.md, "Import").
const MAX_BYTES = 10 * 1024 * 1024;
const OUR_FORMAT = "miaoda-chat/custom-providers";
// A zip's first bytes ("PK\x03\x04"; an empty zip starts with its end record, "PK\x05\x06").
const ZIP_SIGNATURES = ["504b0304", "504b0506"];
// The preview's line naming the file's app, by the reader's id (docs/IMPORT-FROM-OTHER-APPS.md).
const SOURCE_KEYS = {
  "cherry-studio": "providers.import.source.cherry",
  chatbox: "providers.import.source.chatbox",
  lobechat: "providers.import.source.lobechat",
};
// Up to this many entries left out are listed open; more fold into a <details>.
const UNSUPPORTED_OPEN = 5;
const POLICIES = [
  { value: "skip", label: "providers.import.policy.skip.label", help: "providers.import.policy.skip.help" },
  { value: "replace", label: "providers.import.policy.replace.label", help: "providers.import.policy.replace.help" },
  { value: "rename", label: "providers.import.policy.rename.label", help: "providers.import.policy.rename.help" },
];
// A report's lists for a kind of entry the file (or an older app's report) does not have.
const NONE = { added: [], updated: [], skipped: [], errors: [], renamed: [] };

export class ImportDialog extends HTMLElement {
  constructor() {
    super();
    this.service = providerService;
  }

  connectedCallback() {
    if (this._dialog) return;
    const titleId = uid("import-title");
    const fileId = uid("import-file");
    const phraseId = uid("import-phrase");
    this._file = h("input", {
      type: "file",
      id: fileId,
      class: "file-input",
      accept: ".json,.zip,application/json,application/zip",
    });
    this._fileLabel = h("span", { class: "file-name" }, t("providers.import.choose"));
    this._fileInfo = h("span", { class: "muted file-info" }, t("providers.import.fileHint"));
    const picker = h(
      "label",
      { class: "file-drop", for: fileId },
      icon("file", { size: 22 }),
      h("span", { class: "file-text" }, this._fileLabel, this._fileInfo),
    );
    const policyName = uid("policy");
    this._policies = POLICIES.map((p) =>
      h("input", { type: "radio", name: policyName, value: p.value, class: "radio", checked: p.value === "skip" }),
    );
    const policy = h(
      "fieldset",
      { class: "policy" },
      h("legend", {}, t("providers.import.policy.legend")),
      h(
        "div",
        { class: "segmented" },
        POLICIES.map((p, i) =>
          h("label", { class: "segment", title: t(p.help) }, this._policies[i], h("span", {}, t(p.label))),
        ),
      ),
      (this._policyHelp = h("p", { class: "field-help" }, t(POLICIES[0].help))),
    );
    this._phrase = h("input", {
      type: "password",
      id: phraseId,
      class: "input",
      autocomplete: "off",
      "aria-describedby": `${phraseId}-msg`,
    });
    this._phraseMsg = h("p", { class: "field-msg", id: `${phraseId}-msg`, "aria-live": "polite" });
    this._phraseBtn = h(
      "button",
      { type: "button", class: "btn", on: { click: () => this._preview() } },
      t("providers.import.unlock"),
    );
    this._phraseBox = h(
      "div",
      { class: "field phrase-box", hidden: true },
      h("label", { for: phraseId }, t("providers.transfer.passphrase")),
      h("div", { class: "control-row" }, this._phrase, this._phraseBtn),
      h("p", { class: "field-help" }, t("providers.import.phraseHelp")),
      this._phraseMsg,
    );
    this._error = h("div", { class: "form-error", role: "alert", hidden: true });
    this._previewBox = h("div", { class: "preview", "aria-live": "polite" });
    this._submit = h(
      "button",
      { type: "submit", class: "btn btn-primary", disabled: true },
      icon("import", { size: 16 }),
      h("span", {}, t("providers.import.submit")),
    );
    const form = h(
      "form",
      { class: "dialog-form", noValidate: true },
      dialogHeader({
        titleId,
        title: t("providers.import.title"),
        subtitle: t("providers.import.subtitle"),
        closeTitle: t("providers.dialog.closeTitle"),
        onClose: () => this._dialog.close(),
      }).element,
      h("div", { class: "dialog-body" }, this._file, picker, policy, this._phraseBox, this._error, this._previewBox),
      h(
        "footer",
        { class: "dialog-footer" },
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", on: { click: () => this._dialog.close() } }, t("common.cancel")),
        this._submit,
      ),
    );
    this._file.addEventListener("change", () => this._readFile());
    for (const radio of this._policies) {
      radio.addEventListener("change", () => {
        this._policyHelp.textContent = t(POLICIES.find((p) => p.value === radio.value).help);
        if (this._hasFile) this._preview();
      });
    }
    this._phrase.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this._preview();
      }
    });
    this._phrase.addEventListener("input", () => {
      this._phraseMsg.textContent = "";
      this._phrase.setAttribute("aria-invalid", "false");
      this._report = null;
      this._submit.disabled = true;
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._apply();
    });
    picker.addEventListener("dragover", (event) => {
      event.preventDefault();
      picker.classList.add("is-over");
    });
    picker.addEventListener("dragleave", () => picker.classList.remove("is-over"));
    picker.addEventListener("drop", (event) => {
      event.preventDefault();
      picker.classList.remove("is-over");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) this._readFile(file);
    });
    this._dialog = h("dialog", { class: "dialog import-dialog", "aria-labelledby": titleId }, form);
    this._dialog.addEventListener("close", () => {
      this._generation += 1;
      this._phrase.value = ""; // a passphrase must not stay in the page once the dialog is gone
    });
    this._generation = 0;
    this.append(this._dialog);
  }

  open() {
    this._content = null;
    this._contentBase64 = null;
    this._report = null;
    this._file.value = "";
    this._fileLabel.textContent = t("providers.import.choose");
    this._fileInfo.textContent = t("providers.import.fileHint");
    this._policies.forEach((r) => (r.checked = r.value === "skip"));
    this._policyHelp.textContent = t(POLICIES[0].help);
    this._phrase.value = "";
    this._phraseBox.hidden = true;
    this._phraseMsg.textContent = "";
    this._showError(null);
    replaceChildren(this._previewBox);
    this._setSubmit(null);
    openModal(this._dialog, { focus: this._file });
  }

  get _policy() {
    return this._policies.find((r) => r.checked).value;
  }

  async _readFile(dropped) {
    const file = dropped || (this._file.files && this._file.files[0]);
    if (!file) return;
    this._fileLabel.textContent = file.name;
    this._fileInfo.textContent = t("providers.import.fileChosen", { size: formatBytes(file.size) });
    this._report = null;
    this._setSubmit(null);
    this._content = null;
    this._contentBase64 = null;
    this._phraseBox.hidden = true;
    replaceChildren(this._previewBox);
    if (file.size > MAX_BYTES) {
      return this._showError({
        code: "IMPORT_INVALID",
        message: t("providers.import.tooLarge", { size: formatBytes(MAX_BYTES) }),
      });
    }
    const generation = this._generation;
    let text = null;
    let encoded = null;
    try {
      if (await isZip(file)) encoded = await readBase64(file);
      else text = await file.text();
    } catch {
      return this._showError({ code: "IMPORT_INVALID", message: t("providers.import.cannotRead") });
    }
    if (generation !== this._generation) return;
    this._content = text;
    this._contentBase64 = encoded;
    // Our own export with an encrypted key block needs its passphrase: ask up front. Another
    // app's file holds its keys in plain text and is never asked for one.
    let hasSecrets = false;
    try {
      const parsed = text === null ? null : JSON.parse(text);
      hasSecrets = Boolean(parsed && parsed.format === OUR_FORMAT && parsed.secrets);
    } catch {
      /* the server explains what is wrong with it */
    }
    this._phrase.value = "";
    this._phraseBox.hidden = !hasSecrets;
    if (hasSecrets) {
      this._phrase.focus();
      this._showError(null);
      replaceChildren(this._previewBox, h("p", { class: "muted" }, t("providers.import.phraseFirst")));
      return;
    }
    this._preview();
  }

  get _hasFile() {
    return this._content !== null || this._contentBase64 !== null;
  }

  _options(dryRun) {
    const options = { onConflict: this._policy, dryRun };
    if (this._contentBase64 !== null) options.contentBase64 = this._contentBase64;
    else options.content = this._content;
    if (!this._phraseBox.hidden && this._phrase.value) options.passphrase = this._phrase.value;
    return options;
  }

  async _preview() {
    if (!this._hasFile) return;
    const generation = this._generation;
    this._showError(null);
    this._setSubmit(null);
    replaceChildren(
      this._previewBox,
      h(
        "p",
        { class: "muted preview-loading" },
        h("span", { class: "spinner", "aria-hidden": "true" }),
        t("providers.import.reading"),
      ),
    );
    const result = await this.service.importProviders(this._options(true));
    if (generation !== this._generation) return;
    if (!result.success) {
      replaceChildren(this._previewBox);
      return this._showError(result.error);
    }
    this._report = result;
    this._renderPreview(result);
    this._setSubmit(result);
  }

  async _apply() {
    if (!this._report || !this._hasFile) return;
    const generation = this._generation;
    this._submit.disabled = true;
    this._submit.classList.add("is-busy");
    const result = await this.service.importProviders(this._options(false));
    if (generation !== this._generation) return;
    this._submit.classList.remove("is-busy");
    if (!result.success) {
      this._submit.disabled = false;
      return this._showError(result.error);
    }
    this._dialog.close();
    this.dispatchEvent(new CustomEvent("providers-imported", { bubbles: true, detail: result }));
  }

  _showError(error) {
    const needsPhrase = error && error.code === "DECRYPT_FAILED";
    if (needsPhrase) {
      this._phraseBox.hidden = false;
      const asked = error.fields && error.fields.passphrase;
      this._phraseMsg.textContent =
        asked && !this._phrase.value ? asked.join(" ") : t("providers.import.wrongPhrase", { message: error.message });
      this._phrase.setAttribute("aria-invalid", "true");
      this._phrase.focus();
      this._phrase.select();
      this._error.hidden = true;
      return;
    }
    this._error.hidden = !error;
    if (!error) return replaceChildren(this._error);
    const { title, advice } = adviceFor(error);
    replaceChildren(
      this._error,
      icon("alert", { size: 16 }),
      h(
        "div",
        {},
        h("p", {}, h("strong", {}, title), " — ", error.message),
        advice ? h("p", { class: "muted" }, advice) : null,
      ),
    );
  }

  _setSubmit(report) {
    const applied = (outcome) => outcome.added.length + outcome.updated.length;
    const counts = report
      ? {
          providers: applied(report),
          routes: applied(report.routes || NONE),
          servers: applied(report.mcpServers || NONE),
        }
      : { providers: 0, routes: 0, servers: 0 };
    this._submit.disabled = !report || !(counts.providers || counts.routes || counts.servers);
    this._submit.lastElementChild.textContent = report ? submitText(counts) : t("providers.import.submit");
  }

  _renderPreview(report) {
    const routes = report.routes || NONE;
    const servers = report.mcpServers || NONE;
    const groups = [
      ...outcomeGroups(report, "", PROVIDER_GROUPS),
      ...outcomeGroups(routes, "route", ROUTE_GROUPS),
      ...outcomeGroups(servers, "mcpServer", MCP_GROUPS),
    ];
    const summary = h(
      "p",
      { class: "preview-summary" },
      groups.filter((g) => g.items.length).map((g) => h("span", { class: ["pill", `pill-${g.key}`] }, pillText(g))),
    );
    if (!groups.some((g) => g.items.length)) summary.append(h("span", { class: "muted" }, t("providers.import.empty")));
    const unsupported = report.unsupported || [];
    if (unsupported.length) {
      summary.append(
        h(
          "span",
          { class: ["pill", "pill-unsupported"] },
          t("providers.import.pill.unsupported", { count: unsupported.length }),
        ),
      );
    }
    replaceChildren(
      this._previewBox,
      h("h3", { class: "preview-title" }, t("providers.import.preview")),
      report.source ? sourceLine(report.source) : null,
      summary,
      groups
        .filter((g) => g.items.length)
        .map((g) =>
          h(
            "section",
            { class: ["preview-group", `preview-${g.key}`], dataset: { group: g.group } },
            h("h4", {}, icon(g.icon, { size: 14 }), t(g.title)),
            h(
              "ul",
              {},
              g.items.map((item) => h("li", {}, item)),
            ),
          ),
        ),
      servers.added.length || servers.updated.length
        ? h(
            "p",
            { class: "preview-note", dataset: { note: "mcp-confirm" } },
            icon("info", { size: 14 }),
            h("span", {}, t("providers.import.mcpConfirmNote")),
          )
        : null,
      unsupported.length ? unsupportedGroup(unsupported) : null,
    );
  }
}

/** Whether the file starts like a zip (its first four bytes), whatever its name. */
async function isZip(file) {
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  const hex = Array.from(head, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return ZIP_SIGNATURES.includes(hex);
}

/** The file's bytes as standard base64 (the browser's own encoder, via a data: URL). */
function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener("load", () => resolve(String(reader.result).split(",", 2)[1] || ""));
    reader.addEventListener("error", () => reject(reader.error));
    reader.readAsDataURL(file);
  });
}

/** "From a Cherry Studio backup · format 7", and that its keys go to the secret store. */
function sourceLine(source) {
  const key = SOURCE_KEYS[source.app] || "providers.import.source.other";
  return h(
    "div",
    { class: "preview-source", dataset: { source: source.app } },
    icon("import", { size: 14 }),
    h(
      "p",
      {},
      h("strong", {}, t(key, { app: source.appName })),
      source.formatVersion
        ? h("span", { class: "muted" }, " · ", t("providers.import.source.version", { version: source.formatVersion }))
        : null,
      h("span", { class: "muted preview-source-keys" }, t("providers.import.source.keys")),
    ),
  );
}

/** What the file holds that is not brought over, each with its reason; folded when long. */
function unsupportedGroup(entries) {
  const heading = h("h4", {}, icon("info", { size: 14 }), t("providers.import.group.unsupported"));
  const list = h(
    "ul",
    {},
    entries.map((e) => h("li", {}, h("strong", {}, e.name), " — ", e.reason)),
  );
  const attrs = { class: ["preview-group", "preview-unsupported"], dataset: { group: "unsupported" } };
  if (entries.length <= UNSUPPORTED_OPEN) return h("section", attrs, heading, list);
  return h(
    "details",
    attrs,
    h(
      "summary",
      {},
      icon("chevron", { size: 14, className: "section-chevron" }),
      heading,
      h("span", { class: "muted unsupported-more" }, t("providers.import.unsupportedShow", { count: entries.length })),
    ),
    list,
  );
}

const ICONS = { added: "plus", updated: "edit", skipped: "check", errors: "alert" };
// Each group's heading, and its pill in the summary ("2 to add", "1 route error"), by outcome.
const PROVIDER_GROUPS = {
  added: { title: "providers.import.group.added", pill: "providers.import.pill.added" },
  updated: { title: "providers.import.group.updated", pill: "providers.import.pill.updated" },
  skipped: { title: "providers.import.group.skipped", pill: "providers.import.pill.skipped" },
  errors: { title: "providers.import.group.errors", pill: "providers.import.pill.errors" },
};
const ROUTE_GROUPS = {
  added: { title: "providers.import.group.routesAdded", pill: "providers.import.pill.routesAdded" },
  updated: { title: "providers.import.group.routesUpdated", pill: "providers.import.pill.routesUpdated" },
  skipped: { title: "providers.import.group.routesSkipped", pill: "providers.import.pill.routesSkipped" },
  errors: { title: "providers.import.group.routesErrors", pill: "providers.import.pill.routesErrors" },
};
const MCP_GROUPS = {
  added: { title: "providers.import.group.mcpAdded", pill: "providers.import.pill.mcpAdded" },
  updated: { title: "providers.import.group.mcpUpdated", pill: "providers.import.pill.mcpUpdated" },
  skipped: { title: "providers.import.group.mcpSkipped", pill: "providers.import.pill.mcpSkipped" },
  errors: { title: "providers.import.group.mcpErrors", pill: "providers.import.pill.mcpErrors" },
};

/** The preview's groups for one kind of entry (`kind` "" for providers, "route" for routes,
 * "mcpServer" for MCP servers). */
function outcomeGroups(outcome, kind, texts) {
  const renamedFrom = new Map((outcome.renamed || []).map((r) => [r.to, r.from]));
  const items = {
    added: outcome.added.map((name) =>
      renamedFrom.has(name) ? t("providers.import.copyOf", { name, from: renamedFrom.get(name) }) : name,
    ),
    updated: outcome.updated,
    skipped: outcome.skipped,
    errors: outcome.errors.map((e) => h("span", {}, h("strong", {}, e.name), " — ", errorText(e.error))),
  };
  return Object.keys(ICONS).map((key) => ({
    key,
    kind,
    group: kind ? `${kind}s-${key}` : key,
    title: texts[key].title,
    pill: texts[key].pill,
    icon: ICONS[key],
    items: items[key],
  }));
}

/** "Import 2 providers and 1 route", "Import 1 tool server", "Nothing to import". */
function submitText({ providers, routes, servers }) {
  const parts = [
    providers ? t("providers.import.providers", { count: providers }) : null,
    routes ? t("providers.import.routes", { count: routes }) : null,
    servers ? t("providers.import.mcpServers", { count: servers }) : null,
  ].filter(Boolean);
  if (!parts.length) return t("providers.import.nothing");
  return t("providers.import.submitWhat", { what: formatList(parts) });
}

function pillText({ pill, items }) {
  return t(pill, { count: items.length });
}

function errorText(error) {
  if (!error) return t("providers.import.notValid");
  const fields = error.fields ? Object.entries(error.fields).map(([k, v]) => `${k}: ${v.join(" ")}`) : [];
  return fields.length ? fields.join("; ") : error.message;
}

customElements.define("import-dialog", ImportDialog);
