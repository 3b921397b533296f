// <settings-proxy>: the Settings screen's proxy section — system, none, or a URL (http, https,
// socks5) with an optional password — tested before it is saved: "Test" reaches a provider the
// user has set up through the proxy as typed (testProxy), "Save" stores it (updateSettings).
//
// The password is write-only (docs/API.md "Settings"): it travels inside the URL
// (scheme://user:password@host:port) and reads give the URL without it plus `hasPassword`. The
// field stays empty and says "Saved"; left empty, the backend keeps the saved password for the
// same host and user.
//
// In: `proxy` ({mode, url, hasPassword}) before it is connected.
import { h, uid } from "../lib/dom.js";
import { adviceFor } from "../lib/advice.js";
import { formatMs } from "../lib/format.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";
import { settingsService } from "../services/settings-service.js";
import { choiceGroup, choiceOf, fieldErrors, sectionStatus } from "./settings-parts.js";

const URL_WITH_USER = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@(.*)$/i;
const PROXY_TROUBLE = new Set(["CONNECTION_FAILED", "TIMEOUT"]);

export class SettingsProxy extends HTMLElement {
  constructor() {
    super();
    this.settings = settingsService;
    this._proxy = { mode: "system", url: "", hasPassword: false };
  }

  set proxy(value) {
    this._proxy = { ...this._proxy, ...value };
  }

  connectedCallback() {
    if (this._form) return;
    this.classList.add("settings-section");
    this.dataset.section = "proxy";
    const titleId = uid("settings-proxy");
    this.setAttribute("role", "region");
    this.setAttribute("aria-labelledby", titleId);
    this._status = sectionStatus();
    this._mode = choiceGroup({
      name: "proxyMode",
      legend: t("settings.proxy.mode"),
      value: this._proxy.mode,
      options: [
        { value: "system", label: t("settings.proxy.system"), hint: t("settings.proxy.systemHint") },
        { value: "none", label: t("settings.proxy.none"), hint: t("settings.proxy.noneHint") },
        { value: "manual", label: t("settings.proxy.manual"), hint: t("settings.proxy.manualHint") },
      ],
      onPick: () => this._showManual(),
    });
    this._manual = this._manualFields();
    this._result = h("div", { class: "proxy-result", role: "status", "aria-live": "polite" });
    this._test = h(
      "button",
      { type: "button", class: "btn", on: { click: () => this._runTest() } },
      icon("bolt", { size: 15 }),
      t("settings.proxy.test"),
    );
    this._save = h("button", { type: "submit", class: "btn btn-primary" }, t("common.save"));
    this._form = h(
      "form",
      { class: "settings-form", novalidate: true, on: { submit: (event) => this._submit(event) } },
      this._mode,
      this._manual,
      h("p", { class: "field-help" }, t("settings.proxy.loopback")),
      h("div", { class: "settings-actions" }, this._test, this._save),
      this._result,
    );
    this.append(
      h(
        "div",
        { class: "settings-section-head" },
        h("h2", { id: titleId }, t("settings.proxy.title")),
        this._status.element,
      ),
      this._form,
    );
    this._showManual();
  }

  _manualFields() {
    const urlId = uid("proxy-url");
    const passwordId = uid("proxy-password");
    this._url = h("input", {
      type: "text",
      class: "input mono",
      id: urlId,
      name: "url",
      value: this._proxy.url || "",
      placeholder: "socks5://127.0.0.1:1080",
      autocomplete: "off",
      spellcheck: false,
      inputMode: "url",
    });
    this._password = h("input", {
      type: "password",
      class: "input",
      id: passwordId,
      name: "password",
      autocomplete: "new-password",
      placeholder: this._proxy.hasPassword ? t("settings.proxy.passwordSaved") : "",
    });
    const urlMessage = h("p", { class: "field-msg" });
    const passwordMessage = h("p", { class: "field-msg" });
    const urlField = h(
      "div",
      { class: "field field-wide" },
      h("label", { for: urlId }, t("settings.proxy.url")),
      this._url,
      urlMessage,
      h("p", { class: "field-help" }, t("settings.proxy.urlHint")),
    );
    const passwordField = h(
      "div",
      { class: "field field-wide" },
      h("label", { for: passwordId }, t("settings.proxy.password")),
      this._password,
      passwordMessage,
      h("p", { class: "field-help" }, t("settings.proxy.passwordHint")),
    );
    this._errors = fieldErrors({
      "proxy.url": [urlField, this._url, urlMessage],
      "proxy.password": [passwordField, this._password, passwordMessage],
    });
    return h("div", { class: "form-grid proxy-manual" }, urlField, passwordField);
  }

  _showManual() {
    this._manual.hidden = choiceOf(this._mode) !== "manual";
  }

  // The proxy as typed, for testProxy and updateSettings; null after marking a field.
  _typed() {
    this._errors.clear();
    const mode = choiceOf(this._mode);
    if (mode !== "manual") return { mode };
    const url = this._url.value.trim();
    if (!url) return this._invalid({ "proxy.url": [t("settings.proxy.urlRequired")] });
    const password = this._password.value;
    if (!password) return { mode, url };
    const parts = URL_WITH_USER.exec(url);
    if (!parts) return this._invalid({ "proxy.password": [t("settings.proxy.needsUser")] });
    if (parts[2].includes(":")) return { mode, url }; // a password typed into the URL itself wins
    return { mode, url: `${parts[1]}${parts[2]}:${encodeURIComponent(password)}@${parts[3]}` };
  }

  _invalid(fields) {
    this._errors.show(fields);
    this._form.querySelector("[aria-invalid=true]")?.focus();
    return null;
  }

  async _runTest() {
    const proxy = this._typed();
    if (!proxy) return;
    this._test.disabled = true;
    this._test.classList.add("is-busy");
    this._result.dataset.state = "busy";
    this._result.replaceChildren(t("settings.proxy.testing"));
    const result = await this.settings.testProxy({ proxy });
    this._test.disabled = false;
    this._test.classList.remove("is-busy");
    if (result.success) return this._tested(result);
    const fields = result.error.fields || {};
    const rest = this._errors.show(fields);
    const { title, advice: usual } = adviceFor(result.error);
    // Failing to connect through a proxy is most often the proxy (the message says so): the way
    // out is going without it, not the usual advice about base URLs.
    const advice = PROXY_TROUBLE.has(result.error.code) ? t("settings.proxy.withoutProxy") : usual;
    this._result.dataset.state = "error";
    this._result.replaceChildren(
      icon("alert", { size: 16 }),
      h(
        "div",
        {},
        h("strong", {}, title),
        " ",
        h("span", { class: "error-code" }, result.error.code),
        h("p", {}, [result.error.message, ...rest].join(" ")),
        advice ? h("p", { class: "muted" }, advice) : null,
      ),
    );
  }

  _tested(result) {
    // `via`: the proxy the request went through, or null when it went directly.
    const params = { provider: result.displayName || result.providerName, latency: formatMs(result.latencyMs) };
    const text = result.via
      ? t("settings.proxy.reached", { ...params, proxy: result.via })
      : t("settings.proxy.reachedDirect", params);
    this._result.dataset.state = "ok";
    this._result.replaceChildren(icon("check", { size: 16 }), h("p", {}, text));
  }

  async _submit(event) {
    event.preventDefault();
    const proxy = this._typed();
    if (!proxy) return;
    this._save.disabled = true;
    this._status.busy();
    const result = await this.settings.update({ proxy });
    this._save.disabled = false;
    if (!result.success) {
      const rest = this._errors.show(result.error.fields || {});
      const marked = this._form.querySelector("[aria-invalid=true]");
      if (marked) {
        this._status.invalid(rest);
        marked.focus();
      } else this._status.failed(result.error, rest);
      return;
    }
    this._status.saved();
    this._proxy = result.settings.proxy;
    this._password.value = "";
    this._password.placeholder = this._proxy.hasPassword ? t("settings.proxy.passwordSaved") : "";
  }
}

customElements.define("settings-proxy", SettingsProxy);
