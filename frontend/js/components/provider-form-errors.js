// Where the server's field messages go in the provider form (docs/UI.md, "Validation"): each
// `error.fields` key under the field it names — a table field by its name, `apiKeys.<n>` under
// the key typed n-th, `parameters.<name>` under that parameter, `headers…` under the headers
// editor — with the collapsed sections that hold one opened, a summary naming the fields, and
// the focus on the first of them. Keys the form does not know go into the summary.
import { t } from "../lib/i18n.js";
import { joinParts } from "../lib/format.js";

// Server field keys that live in a collapsed section, and which section.
const SECTION_OF = { parameters: "params", headers: "headers", auth: "advanced", endpoints: "advanced" };

/**
 * Show `error` in the form. `form`: {field(name) → <provider-field>|null, sentKeys (the key
 * inputs sent, in order), keys (<provider-keys>), params, headers (the editors),
 * openSection(name), summary(message, extra)}.
 */
export function showServerErrors(error, form) {
  const fields = error.fields || {};
  const unplaced = [];
  const labels = [];
  let first = null;
  for (const [key, messages] of Object.entries(fields)) {
    const text = (messages || []).join(" ");
    const target = place(form, key, text);
    if (!target) {
      unplaced.push(key === "_schema" || key === "arguments" ? text : `${key}: ${text}`);
      continue;
    }
    labels.push({ target, label: labelOf(target) || key });
    const section = SECTION_OF[key.split(".")[0]];
    if (section) form.openSection(section);
    if (!first || first.compareDocumentPosition(target) & Node.DOCUMENT_POSITION_PRECEDING) first = target;
  }
  const count = Object.keys(fields).length;
  labels.sort((a, b) => (a.target.compareDocumentPosition(b.target) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
  const summary = !count
    ? error.message
    : labels.length
      ? t("providers.form.errors.named", {
          count,
          fields: joinParts(labels.map((l) => l.label)),
        })
      : t("providers.form.errors.count", { count });
  form.summary(summary, unplaced);
  if (first) {
    first.focus({ preventScroll: true });
    first.scrollIntoView({ block: "nearest" });
  }
}

// The control that now shows the message for `key`, or null when the form has no place for it.
function place(form, key, text) {
  const apiKey = form.field("apiKey");
  const onField = (name) => {
    const field = form.field(name);
    field.setMessage(text, "server");
    return field.input;
  };
  if (form.field(key)) return onField(key);
  if (key === "apiKeys" || key === "key") return onField("apiKey");
  if (key.startsWith("apiKeys.")) {
    const input = form.sentKeys[Number(key.slice("apiKeys.".length))];
    if (!input || input === apiKey.input) return onField("apiKey");
    return form.keys.setTypedError(input, text);
  }
  if (key.startsWith("parameters.")) {
    const name = key.slice("parameters.".length);
    if (form.params.setError(name, text)) return form.params.inputFor(name);
  }
  if (key === "headers" || key.startsWith("headers.")) {
    form.headers.error = text;
    return form.headers.querySelector("input") || form.headers.querySelector("button");
  }
  if (key === "auth") return onField("auth.scheme");
  if (key === "endpoints") return onField("endpoints.chat");
  return null;
}

/** The visible label of a form control, without its range hint ("Temperature", not "Temperature 0–2"). */
function labelOf(control) {
  const label = control.labels && control.labels[0];
  if (!label) return control.getAttribute("aria-label") || "";
  return label.firstChild ? label.firstChild.textContent.trim() : label.textContent.trim();
}
