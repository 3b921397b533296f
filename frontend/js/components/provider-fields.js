// The provider form's fields in one table. Each entry says, for one field: its name (the
// control's FormData name, its `data-field`, and the key the server's errors use), its label and
// help, the kind of control, the hint rule it shows while the user types (lib/provider-rules.js),
// how it is filled from a saved provider or a template, and where its value goes in the config
// the form sends. The form renders, fills, reads and marks its fields by walking FIELDS;
// <provider-field> is one of them on screen. The headers and parameters have editors of their
// own (<headers-editor>, <parameters-editor> over PARAMETERS) and are not in this table.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { defaultAuth, describeAuth, hints, sameAuth, typeOptions } from "../lib/provider-rules.js";

const same = (value) => value;
const trim = (value) => value.trim();
const NAMED_AUTH = new Set(["header", "query"]);
// How the health checks probe the provider (API.md, Health status: checkKind).
const CHECK_KINDS = [
  { value: "models", label: "providers.form.checkKind.models" },
  { value: "chat", label: "providers.form.checkKind.chat" },
];

/** The scheme the form shows for a saved provider or a template: "default" when it is the type's. */
function schemeOf(source) {
  const type = source.type || "openai-compatible";
  return !source.auth || sameAuth(source.auth, defaultAuth(type)) ? "default" : source.auth.scheme;
}

/** The auth sent: null for the type's default, else the scheme with its name when it has one. */
export function authOf(scheme, name) {
  if (!scheme || scheme === "default") return null;
  return NAMED_AUTH.has(scheme) ? { scheme, name } : { scheme };
}

function schemeOptions(type) {
  return [
    { value: "default", label: t("providers.form.auth.scheme.default", { auth: describeAuth(defaultAuth(type)) }) },
    { value: "bearer", label: t("providers.auth.bearer") },
    { value: "header", label: t("providers.form.auth.scheme.header") },
    { value: "query", label: t("providers.form.auth.scheme.query") },
    { value: "none", label: t("providers.form.auth.scheme.none") },
  ];
}

function endpoint(kind) {
  return {
    name: `endpoints.${kind}`,
    section: "advanced",
    mono: true,
    read: trim,
    hint: (value) => hints.endpoint(value),
    fill: (source) => (source.endpoints && source.endpoints[kind]) || "",
    into: (config, value) => {
      if (value) config.endpoints[kind] = value;
    },
  };
}

/**
 * The table. `kind`: "text" (default), "url", "password" or "select" (with `options(values)`);
 * `placeholder` is a key, `example` a literal placeholder (a URL); `help` a key, or true for a
 * help line the form writes itself; `read` normalises the typed text; `hint(value, values)` the
 * message while typing (null: fine); `fill(source)` the value from a provider or template;
 * `into(config, value, values)` puts the value into the config (default: under its name).
 */
export const FIELDS = [
  {
    name: "displayName",
    label: "providers.form.displayName.label",
    placeholder: "providers.form.displayName.placeholder",
    hint: (value) => hints.displayName(value),
    fill: (source) => source.displayName || "",
  },
  {
    name: "name",
    label: "providers.form.name.label",
    placeholder: "providers.form.name.placeholder",
    help: "providers.form.name.help",
    read: trim,
    hint: (value) => hints.name(value),
    fill: (source) => source.name || "",
  },
  {
    name: "type",
    label: "providers.form.type.label",
    kind: "select",
    options: () => typeOptions(),
    fill: (source) => source.type || "openai-compatible",
  },
  {
    name: "baseURL",
    label: "providers.form.baseURL.label",
    kind: "url",
    example: "https://api.example.com/v1",
    help: "providers.form.baseURL.help",
    read: trim,
    hint: (value) => hints.baseURL(value),
    fill: (source) => source.baseURL || "",
  },
  {
    name: "model",
    label: "providers.form.model.label",
    placeholder: "providers.form.model.placeholder",
    help: true,
    read: trim,
    hint: (value) => hints.model(value),
    fill: (source) => source.model || "",
  },
  {
    name: "apiKey",
    label: "providers.form.apiKey.label",
    kind: "password",
    help: true,
    hint: (value) => hints.apiKey(value),
    fill: () => "",
    into: () => {}, // the keys travel apart: a typed key is sent once, with the others typed
  },
  {
    name: "checkKind",
    label: "providers.form.checkKind.label",
    kind: "select",
    options: () => CHECK_KINDS.map((k) => ({ value: k.value, label: t(k.label) })),
    help: "providers.form.checkKind.help",
    fill: (source) => (source.checkKind === "chat" ? "chat" : "models"),
  },
  {
    name: "auth.scheme",
    label: "providers.form.auth.scheme.label",
    section: "advanced",
    kind: "select",
    options: (values) => schemeOptions(values.type),
    fill: schemeOf,
    into: (config, scheme, values) => {
      config.auth = authOf(scheme, values["auth.name"]);
    },
  },
  {
    name: "auth.name",
    label: "providers.form.auth.name.label",
    section: "advanced",
    mono: true,
    read: trim,
    hint: (value, values) => {
      const scheme = values["auth.scheme"];
      return NAMED_AUTH.has(scheme) ? hints.authName(scheme, value) : null;
    },
    fill: (source) => (schemeOf(source) === "default" ? "" : source.auth.name || ""),
    into: () => {}, // read with the scheme
  },
  { ...endpoint("chat"), label: "providers.form.endpoints.chat.label", help: "providers.form.endpoints.chat.help" },
  {
    ...endpoint("models"),
    label: "providers.form.endpoints.models.label",
    help: "providers.form.endpoints.models.help",
  },
];

/** The values of a provider or template (an empty object: a blank form), by field name. */
export function valuesOf(source) {
  return Object.fromEntries(FIELDS.map((spec) => [spec.name, spec.fill(source)]));
}

/** The fields' values as typed, read from the form (disabled fields read as empty). */
export function readValues(form) {
  const data = new FormData(form);
  return Object.fromEntries(FIELDS.map((spec) => [spec.name, (spec.read || same)(String(data.get(spec.name) ?? ""))]));
}

/** The config the values make: {name, displayName, type, baseURL, model, checkKind, endpoints, auth}. */
export function configOf(values) {
  const config = { endpoints: {} };
  for (const spec of FIELDS) {
    if (spec.into) spec.into(config, values[spec.name], values);
    else config[spec.name] = values[spec.name];
  }
  return config;
}

/** The hint for one field (null when there is nothing to say or it has no rule). */
export function hintOf(spec, values) {
  return spec.hint ? spec.hint(values[spec.name], values) : null;
}

/**
 * <provider-field>: one field of the table — label, control, help, message — as
 * `.field[data-field=<name>]`. Built by `providerField(spec, {extra})`; `extra` sits beside the
 * control (buttons).
 */
export class ProviderField extends HTMLElement {
  #spec = null;
  #input = null;
  #help = null;
  #message = null;

  /** The control (input or select). */
  get input() {
    return this.#input;
  }

  build(spec, { extra = null } = {}) {
    this.#spec = spec;
    const id = uid(`f-${spec.name.replace(".", "-")}`);
    this.#input = control(spec, id);
    this.#message = h("p", { class: "field-msg", id: `${id}-msg`, "aria-live": "polite" });
    this.#help = spec.help
      ? h("p", { class: "field-help", id: `${id}-help` }, typeof spec.help === "string" ? t(spec.help) : "")
      : null;
    this.#input.setAttribute(
      "aria-describedby",
      [this.#help && this.#help.id, this.#message.id].filter(Boolean).join(" "),
    );
    this.classList.add("field");
    this.dataset.field = spec.name;
    replaceChildren(
      this,
      h("label", { for: id }, t(spec.label)),
      extra ? h("div", { class: "control-row" }, this.#input, extra) : this.#input,
      this.#help,
      this.#message,
    );
    return this;
  }

  /** Set the value; a select first gets its options for `values` (they can depend on the type). */
  fill(value, values) {
    if (this.#spec.kind === "select") this.setOptions(values);
    this.#input.value = value;
  }

  /** Rebuild a select's options for `values`, keeping its choice when it is still offered. */
  setOptions(values) {
    const current = this.#input.value;
    replaceChildren(
      this.#input,
      this.#spec.options(values).map((o) => h("option", { value: o.value }, o.label)),
    );
    if (current) this.#input.value = current;
    if (this.#input.selectedIndex < 0) this.#input.selectedIndex = 0;
  }

  /** The help line under the control (for fields whose help the form writes). */
  set help(text) {
    if (this.#help) this.#help.textContent = text;
  }

  /** Show `message` under the field (empty: none); "server" marks it as the server's. */
  setMessage(message, kind = "error") {
    this.#message.textContent = message || "";
    this.#input.setAttribute("aria-invalid", String(Boolean(message)));
    this.classList.toggle("has-error", Boolean(message));
    this.classList.toggle("has-server-error", Boolean(message) && kind === "server");
  }

  /** Whether the message shown is the server's (hints do not replace it). */
  get hasServerError() {
    return this.classList.contains("has-server-error");
  }
}

function control(spec, id) {
  const props = { id, name: spec.name, dataset: { field: spec.name } };
  if (spec.kind === "select") return h("select", { ...props, class: "input select" });
  const placeholder = spec.placeholder ? t(spec.placeholder) : spec.example;
  return h("input", {
    ...props,
    type: spec.kind === "password" ? "password" : "text",
    class: spec.mono ? "input mono" : "input",
    autocomplete: spec.kind === "password" ? "new-password" : "off",
    spellcheck: false,
    inputMode: spec.kind === "url" ? "url" : undefined,
    placeholder,
  });
}

/** A <provider-field> for `spec`. */
export function providerField(spec, options) {
  return h("provider-field").build(spec, options);
}

customElements.define("provider-field", ProviderField);
