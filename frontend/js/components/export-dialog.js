// <export-dialog>: export every provider to a JSON file, optionally with the API keys encrypted
// under a passphrase. In the desktop window the backend opens a native save dialog; in a browser
// the file comes back as text and is downloaded. Emits "providers-exported" ({detail: {count, path|filename}}).
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { dialogHeader, openModal } from "../lib/modal.js";
import { providerService } from "../services/custom-provider-service.js";

const MIN_PASSPHRASE = 8;

export class ExportDialog extends HTMLElement {
  constructor() {
    super();
    this.service = providerService;
  }

  connectedCallback() {
    if (this._dialog) return;
    const titleId = uid("export-title");
    const includeId = uid("include-keys");
    const phraseId = uid("phrase");
    const confirmId = uid("phrase2");
    this._count = h("p", { class: "export-count" });
    this._include = h("input", { type: "checkbox", id: includeId, class: "checkbox" });
    this._phrase = h("input", {
      type: "password",
      id: phraseId,
      class: "input",
      autocomplete: "new-password",
      "aria-describedby": `${phraseId}-msg`,
    });
    this._confirm = h("input", {
      type: "password",
      id: confirmId,
      class: "input",
      autocomplete: "new-password",
      "aria-describedby": `${confirmId}-msg`,
    });
    this._phraseMsg = h("p", { class: "field-msg", id: `${phraseId}-msg`, "aria-live": "polite" });
    this._confirmMsg = h("p", { class: "field-msg", id: `${confirmId}-msg`, "aria-live": "polite" });
    this._keysBox = h(
      "div",
      { class: "keys-box", hidden: true },
      h(
        "div",
        { class: "field" },
        h("label", { for: phraseId }, t("providers.transfer.passphrase")),
        this._phrase,
        this._phraseMsg,
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: confirmId }, t("providers.export.repeat")),
        this._confirm,
        this._confirmMsg,
      ),
      h("p", { class: "field-help" }, t("providers.export.phraseHelp", { count: MIN_PASSPHRASE })),
    );
    this._error = h("div", { class: "form-error", role: "alert", hidden: true });
    this._submit = h(
      "button",
      { type: "submit", class: "btn btn-primary" },
      icon("export", { size: 16 }),
      h("span", {}, t("providers.export.submit")),
    );
    const form = h(
      "form",
      { class: "dialog-form", noValidate: true },
      dialogHeader({
        titleId,
        title: t("providers.export.title"),
        subtitle: t("providers.export.subtitle"),
        closeTitle: t("providers.dialog.closeTitle"),
        onClose: () => this._dialog.close(),
      }).element,
      h(
        "div",
        { class: "dialog-body" },
        this._error,
        this._count,
        h(
          "label",
          { class: "check-row", for: includeId },
          this._include,
          h(
            "span",
            {},
            h("strong", {}, t("providers.export.includeKeys")),
            h("span", { class: "muted block" }, t("providers.export.includeKeysHelp")),
          ),
        ),
        this._keysBox,
      ),
      h(
        "footer",
        { class: "dialog-footer" },
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", on: { click: () => this._dialog.close() } }, t("common.cancel")),
        this._submit,
      ),
    );
    this._include.addEventListener("change", () => {
      this._keysBox.hidden = !this._include.checked;
      if (this._include.checked) this._phrase.focus();
      this._messages(false);
    });
    for (const input of [this._phrase, this._confirm]) input.addEventListener("input", () => this._messages(false));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._export();
    });
    this._dialog = h("dialog", { class: "dialog dialog-narrow export-dialog", "aria-labelledby": titleId }, form);
    this._dialog.addEventListener("close", () => {
      // Passphrases must not stay in the page once the dialog is gone.
      this._phrase.value = "";
      this._confirm.value = "";
    });
    this.append(this._dialog);
  }

  /** Open; `count` is how many providers there are, `desktop` whether a native dialog will ask where. */
  open({ count = 0, desktop = false } = {}) {
    this._desktop = desktop;
    this._include.checked = false;
    this._keysBox.hidden = true;
    this._phrase.value = "";
    this._confirm.value = "";
    this._busy(false);
    this._messages(false);
    this._showError("");
    this._count.textContent = t("providers.export.count", { count });
    replaceChildren(
      this._submit.lastElementChild,
      t(desktop ? "providers.export.submitDesktop" : "providers.export.submit"),
    );
    openModal(this._dialog, { focus: this._include });
  }

  /** Passphrase problems; shown when `show` (on submit) or once the field has text. */
  _messages(show) {
    let first = null;
    let phraseMsg = "";
    let confirmMsg = "";
    if (this._include.checked) {
      const phrase = this._phrase.value;
      if (phrase.length < MIN_PASSPHRASE && (show || phrase))
        phraseMsg = t("providers.export.tooShort", { count: MIN_PASSPHRASE });
      if (phrase.length < MIN_PASSPHRASE) first = this._phrase;
      if (this._confirm.value !== phrase && (show || this._confirm.value.length >= phrase.length))
        confirmMsg = t("providers.export.mismatch");
      if (!first && this._confirm.value !== phrase) first = this._confirm;
    }
    this._phraseMsg.textContent = phraseMsg;
    this._confirmMsg.textContent = confirmMsg;
    this._phrase.setAttribute("aria-invalid", String(Boolean(phraseMsg)));
    this._confirm.setAttribute("aria-invalid", String(Boolean(confirmMsg)));
    return first;
  }

  async _export() {
    const problem = this._messages(true);
    if (problem) return problem.focus();
    const options = { includeKeys: this._include.checked };
    if (this._include.checked) options.passphrase = this._phrase.value;
    this._busy(true);
    this._showError("");
    const result = await this.service.exportProviders(options);
    this._busy(false);
    if (!result.success) {
      if (result.error.code === "CANCELLED") return; // the user closed the save dialog
      const fieldMsg = result.error.fields && result.error.fields.passphrase;
      if (fieldMsg) {
        this._phraseMsg.textContent = fieldMsg.join(" ");
        this._phrase.focus();
      }
      return this._showError(result.error.message);
    }
    if (result.content !== undefined) download(result.filename || "miaoda-providers.json", result.content);
    this._dialog.close();
    this.dispatchEvent(
      new CustomEvent("providers-exported", {
        bubbles: true,
        detail: { count: result.count, path: result.path, filename: result.filename, withKeys: options.includeKeys },
      }),
    );
  }

  _busy(busy) {
    this._submit.disabled = busy;
    this._submit.classList.toggle("is-busy", busy);
  }

  _showError(message) {
    this._error.hidden = !message;
    replaceChildren(this._error, message ? [icon("alert", { size: 16 }), h("p", {}, message)] : []);
  }
}

/** Save text as a file through a temporary link (the browser's download). */
function download(filename, content) {
  const url = URL.createObjectURL(new Blob([content], { type: "application/json" }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

customElements.define("export-dialog", ExportDialog);
