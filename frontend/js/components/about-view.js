// <about-view>: version, where keys and data are kept, and how this page reaches the app.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
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
    this._body = h("div", { class: "view-body about-body" }, h("p", { class: "muted" }, "Loading…"));
    this.append(
      h(
        "header",
        { class: "view-header" },
        h(
          "div",
          { class: "view-heading" },
          h("h1", { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } }, "About"),
          h("p", { class: "view-subtitle" }, "Version, storage and connection"),
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
      kind === "pywebview"
        ? "Desktop window (direct bridge)"
        : `Browser, through the local server at ${window.location.origin}`;
    replaceChildren(
      this._body,
      h(
        "section",
        { class: "about-hero" },
        h("img", { src: "img/logo.svg", alt: "", width: 64, height: 64 }),
        h(
          "div",
          {},
          h("h2", {}, "MiaoDa Chat"),
          h("p", { class: "muted" }, "A desktop chat app for any LLM provider."),
          h("p", { class: "version" }, `Version ${info.version}`),
        ),
      ),
      h(
        "dl",
        { class: "about-list" },
        row(
          "shield",
          "API keys are kept in",
          h("span", {}, secret.description || "—", secret.backend ? h("span", { class: "tag" }, secret.backend) : null),
          null,
        ),
        row("folder", "Data folder", h("span", { class: "mono wrap" }, info.dataDir), info.dataDir),
        row("file", "Log file", h("span", { class: "mono wrap" }, info.logFile || "—"), info.logFile),
        row("link", "Connected through", where, null),
      ),
      h(
        "p",
        { class: "muted about-note" },
        "Keys are never shown again after you save them, never written to the data folder's database, and only exported encrypted with a passphrase.",
      ),
    );
  }
}

function row(iconName, label, value, copyText) {
  const copy = copyText
    ? h(
        "button",
        {
          type: "button",
          class: "icon-btn",
          "aria-label": `Copy ${label.toLowerCase()}`,
          title: "Copy",
          on: { click: () => copyToClipboard(copyText, label) },
        },
        icon("copy", { size: 16 }),
      )
    : null;
  return h(
    "div",
    { class: "about-row" },
    h("span", { class: "about-icon" }, icon(iconName)),
    h("dt", {}, label),
    h("dd", {}, value, copy),
  );
}

async function copyToClipboard(text, label) {
  try {
    await navigator.clipboard.writeText(text);
    toast({ kind: "success", title: `${label} copied` });
  } catch {
    toast({ kind: "error", title: "Couldn't copy", message: "Select the text and copy it by hand." });
  }
}

customElements.define("about-view", AboutView);
