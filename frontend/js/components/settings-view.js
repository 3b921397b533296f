// <settings-view>: the Settings screen (#/settings). Choices that are one click and easy to take
// back — language, theme, send key — are saved the moment they change (the language and theme
// apply at once); the health checks and the proxy are small forms with their own Save, because a
// typed value is only done when the user says so (and a proxy can be tested before). Each section
// says "Saved" or what went wrong in its own status line; a bad value is named at its field (the
// backend's `fields`, keyed by dotted paths such as `health.intervalSeconds`).
//
// Radio buttons carry `data-focus-key`, so after a change of language (which re-creates the view)
// the focus comes back to the choice the user just made.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { setLanguage, t } from "../lib/i18n.js";
import { sendKeys } from "../lib/shortcuts.js";
import { providerService } from "../services/custom-provider-service.js";
import { settingsService } from "../services/settings-service.js";
import { choiceGroup, fieldErrors, sectionStatus, setChoice } from "./settings-parts.js";
import "./settings-proxy.js";

// A language is named in itself, so whoever cannot read the current one still finds theirs.
const LANGUAGE_NAMES = { en: "English", "zh-CN": "简体中文" };
const UNITS = [
  { value: 3600, labelKey: "settings.health.hours" },
  { value: 60, labelKey: "settings.health.minutes" },
  { value: 1, labelKey: "settings.health.seconds" },
];

export class SettingsView extends HTMLElement {
  constructor() {
    super();
    this.settings = settingsService;
    this.info = providerService;
  }

  connectedCallback() {
    if (this._body) return;
    this.classList.add("view", "settings-view");
    this._body = h("div", { class: "view-body settings-body" }, h("p", { class: "muted" }, t("common.loading")));
    this.append(
      h(
        "header",
        { class: "view-header" },
        h(
          "div",
          { class: "view-heading" },
          h("h1", { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } }, t("settings.heading")),
          h("p", { class: "view-subtitle" }, t("settings.subtitle")),
        ),
      ),
      this._body,
    );
  }

  set active(value) {
    if (value) this.load();
  }

  async load() {
    const [loaded, info] = await Promise.all([this.settings.load(), this.info.getAppInfo()]);
    if (!loaded.success) return this._failed(loaded.error);
    const settings = loaded.settings;
    replaceChildren(
      this._body,
      this._generalSection(settings),
      this._chatSection(settings),
      this._healthSection(settings.health),
      h("settings-proxy", { proxy: settings.proxy }),
      this._storageSection(info),
    );
    this.toggleAttribute("data-ready", true);
  }

  _failed(error) {
    const retry = h("button", { type: "button", class: "btn", on: { click: () => this.load() } }, t("common.retry"));
    replaceChildren(
      this._body,
      h(
        "div",
        { class: "form-error", role: "alert" },
        icon("alert", { size: 16 }),
        h("div", {}, h("p", {}, h("strong", {}, t("settings.loadFailed"))), h("p", {}, error.message)),
      ),
      retry,
    );
  }

  // --- language and theme: saved on change ---------------------------------------------------

  _generalSection(settings) {
    const status = sectionStatus();
    const language = choiceGroup({
      name: "language",
      legend: t("settings.language.label"),
      value: settings.language,
      options: [
        { value: "system", label: t("settings.language.system") },
        { value: "en", label: LANGUAGE_NAMES.en, lang: "en" },
        { value: "zh-CN", label: LANGUAGE_NAMES["zh-CN"], lang: "zh-CN" },
      ],
      hint: t("settings.language.hint"),
      onPick: async (value) => {
        const result = await this._save(status, { language: value }, language);
        if (result) await setLanguage(result.language); // the shell re-creates every view, this one too
      },
    });
    const theme = choiceGroup({
      name: "theme",
      legend: t("settings.theme.label"),
      value: settings.theme,
      options: [
        { value: "system", label: t("settings.theme.system") },
        { value: "light", label: t("settings.theme.light") },
        { value: "dark", label: t("settings.theme.dark") },
      ],
      onPick: (value) => this._save(status, { theme: value }, theme), // the shell applies it
    });
    return section("general", t("settings.general.title"), status, language, theme);
  }

  _chatSection(settings) {
    const status = sectionStatus();
    const keys = { enter: sendKeys("enter"), "ctrl-enter": sendKeys("ctrl-enter") };
    const sendKey = choiceGroup({
      name: "sendKey",
      legend: t("settings.sendKey.label"),
      value: settings.sendKey,
      options: Object.entries(keys).map(([value, k]) => ({
        value,
        label: k.send,
        hint: t("settings.sendKey.newLine", { keys: k.newLine }),
      })),
      onPick: (value) => this._save(status, { sendKey: value }, sendKey),
    });
    return section("chat", t("settings.chat.title"), status, sendKey);
  }

  // Save `partial`; on failure put the choice `group` back to the saved value. Resolves to the
  // envelope on success, null on failure (said in `status`).
  async _save(status, partial, group) {
    status.busy();
    const result = await this.settings.update(partial);
    if (result.success) {
      status.saved();
      return result;
    }
    status.failed(result.error);
    const [name] = Object.keys(partial);
    setChoice(group, this.settings.current?.[name]);
    return null;
  }

  // --- health checks: a form ------------------------------------------------------------------

  _healthSection(health) {
    const status = sectionStatus();
    const enabled = h("input", { type: "checkbox", class: "checkbox", name: "enabled", checked: health.enabled });
    const [amount, unitSize] = splitInterval(health.intervalSeconds);
    const intervalId = uid("interval");
    const messageId = uid("interval-msg");
    const hintId = uid("interval-hint");
    const number = h("input", {
      type: "number",
      class: "input interval-amount",
      id: intervalId,
      name: "amount",
      min: "0",
      step: "any",
      inputMode: "decimal",
      value: String(amount),
      "aria-describedby": `${messageId} ${hintId}`,
    });
    const unit = h(
      "select",
      { class: "input select interval-unit", name: "unit", "aria-label": t("settings.health.unit") },
      UNITS.map((u) => h("option", { value: String(u.value), selected: u.value === unitSize }, t(u.labelKey))),
    );
    const message = h("p", { class: "field-msg", id: messageId });
    const field = h(
      "div",
      { class: "field interval-field" },
      h("label", { for: intervalId }, t("settings.health.interval")),
      h("div", { class: "control-row" }, number, unit),
      message,
      h("p", { class: "field-help", id: hintId }, t("settings.health.intervalHint")),
    );
    const errors = fieldErrors({ "health.intervalSeconds": [field, number, message] });
    const save = h("button", { type: "submit", class: "btn btn-primary" }, t("common.save"));
    const form = h(
      "form",
      { class: "settings-form", novalidate: true },
      h(
        "label",
        { class: "settings-check" },
        enabled,
        h(
          "span",
          {},
          h("span", { class: "choice-label" }, t("settings.health.enabled")),
          h("span", { class: "choice-hint" }, t("settings.health.enabledHint")),
        ),
      ),
      field,
      h("div", { class: "settings-actions" }, save),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errors.clear();
      const value = Number.parseFloat(number.value);
      if (!Number.isFinite(value)) {
        errors.show({ "health.intervalSeconds": [t("settings.health.notANumber")] });
        return number.focus();
      }
      const intervalSeconds = Math.round(value * Number(unit.value));
      save.disabled = true;
      status.busy();
      const result = await this.settings.update({ health: { enabled: enabled.checked, intervalSeconds } });
      save.disabled = false;
      if (result.success) return status.saved();
      const rest = errors.show(result.error.fields || {});
      if (form.querySelector("[aria-invalid=true]")) {
        status.invalid(rest);
        form.querySelector("[aria-invalid=true]").focus();
      } else status.failed(result.error, rest);
    });
    return section("health", t("settings.health.title"), status, form);
  }

  // --- storage: what is where, and buttons that open it ----------------------------------------

  _storageSection(info) {
    const status = sectionStatus();
    if (!info.success) {
      status.failed(info.error);
      return section("storage", t("settings.storage.title"), status);
    }
    const secret = info.secretStorage || {};
    const open = (label, method) =>
      h(
        "button",
        {
          type: "button",
          class: "btn btn-sm",
          on: {
            click: async () => {
              const result = await this.settings[method]();
              if (result.success) status.clear();
              else status.failed(result.error);
            },
          },
        },
        icon("external", { size: 15 }),
        label,
      );
    return section(
      "storage",
      t("settings.storage.title"),
      status,
      h(
        "dl",
        { class: "settings-list" },
        row(
          t("settings.storage.dataFolder"),
          h("span", { class: "mono wrap" }, info.dataDir),
          open(t("settings.storage.openDataFolder"), "openDataFolder"),
        ),
        row(
          t("settings.storage.logFile"),
          h("span", { class: "mono wrap" }, info.logFile || t("common.dash")),
          open(t("settings.storage.openLog"), "openLogFile"),
        ),
        row(t("settings.storage.keys"), h("span", {}, secret.description || t("common.dash"))),
      ),
    );
  }
}

function section(name, title, status, ...content) {
  const titleId = uid(`settings-${name}`);
  return h(
    "section",
    { class: "settings-section", "aria-labelledby": titleId, dataset: { section: name } },
    h("div", { class: "settings-section-head" }, h("h2", { id: titleId }, title), status.element),
    ...content,
  );
}

function row(label, value, action = null) {
  return h("div", { class: "settings-row" }, h("dt", {}, label), h("dd", {}, value, action));
}

/** An interval in seconds as [amount, unit size]: 300 → [5, 60], 90 → [90, 1], 7200 → [2, 3600]. */
export function splitInterval(seconds) {
  const unit = UNITS.find((u) => seconds >= u.value && seconds % u.value === 0) || UNITS[UNITS.length - 1];
  return [seconds / unit.value, unit.value];
}

customElements.define("settings-view", SettingsView);
