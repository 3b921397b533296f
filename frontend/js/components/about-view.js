// <about-view>: version, where keys and data are kept, and how this page reaches the app.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";
import { providerService } from "../services/custom-provider-service.js";
import { transport } from "../bridge.js";
import { toast } from "./toast-region.js";

export class AboutView extends HTMLElement {
  constructor() {
    super();
    this.service = providerService;
  }

  connectedCallback() {
    if (this._body) return;
    this.classList.add("view", "about-view");
    this._body = h("div", { class: "view-body about-body" }, h("p", { class: "muted" }, t("common.loading")));
    this.append(
      h(
        "header",
        { class: "view-header" },
        h(
          "div",
          { class: "view-heading" },
          h("h1", { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } }, t("shell.about.heading")),
          h("p", { class: "view-subtitle" }, t("shell.about.subtitle")),
        ),
      ),
      this._body,
    );
  }

  set active(value) {
    if (value) this.load();
  }

  async load() {
    const [info, kind] = await Promise.all([this.service.getAppInfo(), transport()]);
    if (!info.success) {
      replaceChildren(
        this._body,
        h("div", { class: "form-error" }, icon("alert", { size: 16 }), h("p", {}, info.error.message)),
      );
      return;
    }
    const secret = info.secretStorage || {};
    const where =
      kind === "pywebview" ? t("shell.about.desktop") : t("shell.about.browser", { origin: window.location.origin });
    const dash = t("common.dash");
    replaceChildren(
      this._body,
      h(
        "section",
        { class: "about-hero" },
        h("img", { src: "img/logo.svg", alt: "", width: 64, height: 64 }),
        h(
          "div",
          {},
          h("h2", {}, t("common.appName")),
          h("p", { class: "muted" }, t("shell.about.tagline")),
          h("p", { class: "version" }, t("shell.about.version", { version: info.version })),
        ),
      ),
      h(
        "dl",
        { class: "about-list" },
        row("shield", t("shell.about.keysIn"), h("span", {}, secret.description || dash)),
        row("folder", t("shell.about.dataFolder"), h("span", { class: "mono wrap" }, info.dataDir), {
          text: info.dataDir,
          label: t("shell.about.copyDataFolder"),
          done: t("shell.about.dataFolderCopied"),
        }),
        row(
          "file",
          t("shell.about.logFile"),
          h("span", { class: "mono wrap" }, info.logFile || dash),
          info.logFile
            ? { text: info.logFile, label: t("shell.about.copyLogFile"), done: t("shell.about.logFileCopied") }
            : null,
        ),
        row("link", t("shell.about.connectedThrough"), where),
      ),
      h("p", { class: "muted about-note" }, t("shell.about.note")),
    );
  }
}

// `copy`: {text, label (the button's name), done (the toast)} for a value worth copying.
function row(iconName, label, value, copy = null) {
  const button = copy
    ? h(
        "button",
        {
          type: "button",
          class: "icon-btn",
          "aria-label": copy.label,
          title: t("common.copy"),
          on: { click: () => copyToClipboard(copy.text, copy.done) },
        },
        icon("copy", { size: 16 }),
      )
    : null;
  return h(
    "div",
    { class: "about-row" },
    h("span", { class: "about-icon" }, icon(iconName)),
    h("dt", {}, label),
    h("dd", {}, value, button),
  );
}

async function copyToClipboard(text, done) {
  try {
    await navigator.clipboard.writeText(text);
    toast({ kind: "success", title: done });
  } catch {
    toast({ kind: "error", title: t("shell.about.copyFailed"), message: t("shell.about.copyByHand") });
  }
}

customElements.define("about-view", AboutView);
