// <provider-paste>: the add form's "Paste a URL" box. Whatever the user pastes (a base URL, a chat
// URL, a bare host) and, optionally, a key go to `detectProvider` (docs/API.md); the answer shows
// the best candidate — type, base URL, request URL, models —, the others to pick from, and the
// evidence and probes behind it in a disclosure. A failure shows the message and the probes.
//
// Pasting detects at once; typing detects once it pauses; Enter or "Detect" at any time. A new
// detection makes the one still running moot: its answer is dropped when it comes.
//
// Set `.templates` (to name a candidate's template). Emits "candidate-chosen" ({detail:
// {candidate, apiKey}}) on "Use this"; the form fills itself from it. `reset()` starts over;
// `stop()` (the dialog closed) also drops the typed key.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { adviceFor } from "../lib/advice.js";
import { formatMs } from "../lib/format.js";
import { normalizeBase, resolveRequestURL, typeLabel } from "../lib/provider-rules.js";
import { providerService } from "../services/custom-provider-service.js";

const TYPING_PAUSE_MS = 800;
const MODELS_SHOWN = 6;
// What each probe's outcome (API.md, detectProvider) means; an unknown one is shown as it is.
const OUTCOMES = {
  ok: "providers.paste.outcome.ok",
  unrecognized: "providers.paste.outcome.unrecognized",
  auth: "providers.paste.outcome.auth",
  "not-found": "providers.paste.outcome.notFound",
  redirect: "providers.paste.outcome.redirect",
  error: "providers.paste.outcome.error",
  timeout: "providers.paste.outcome.timeout",
  stopped: "providers.paste.outcome.stopped",
  refused: "providers.paste.outcome.refused",
  "unknown-host": "providers.paste.outcome.unknownHost",
  tls: "providers.paste.outcome.tls",
};
// Worth probing while typing: something with a dot, a port or "localhost" in it.
const LOOKS_LIKE_HOST = /[.:]|localhost/i;

export class ProviderPaste extends HTMLElement {
  #url;
  #key;
  #reveal;
  #detectBtn;
  #urlMsg;
  #status;
  #timer = null;
  #generation = 0;
  #candidates = [];
  #attempts = [];
  #chosen = 0;
  #templates = [];
  #evidenceOpen = false;

  constructor() {
    super();
    this.service = providerService;
  }

  connectedCallback() {
    if (this.#url) return;
    this.#build();
  }

  /** The templates, to name the one a candidate matches. */
  set templates(list) {
    this.#templates = list || [];
  }

  /** The template a candidate names (null: none, or not known here). */
  templateFor(candidate) {
    return (candidate.templateId && this.#templates.find((tpl) => tpl.id === candidate.templateId)) || null;
  }

  /** Start over: empty fields, no result. */
  reset() {
    this.#cancel();
    this.#url.value = "";
    this.#key.value = "";
    this.#showKey(false);
    this.#setUrlMessage("");
    this.#clearResult();
  }

  /** The dialog closed: no typed key may stay in a field, no answer may still land. */
  stop() {
    this.reset();
  }

  // --- building -------------------------------------------------------------------------

  #build() {
    const titleId = uid("paste-title");
    const urlId = uid("paste-url");
    const keyId = uid("paste-key");
    this.#urlMsg = h("p", { class: "field-msg", id: `${urlId}-msg`, "aria-live": "polite" });
    this.#url = h("input", {
      id: urlId,
      type: "text",
      class: "input mono",
      inputMode: "url",
      autocomplete: "off",
      spellcheck: false,
      placeholder: "api.example.com/v1",
      "aria-describedby": `${titleId}-help ${urlId}-msg`,
      on: {
        input: (event) => this.#onInput(event, true),
        keydown: (event) => this.#onEnter(event),
      },
    });
    this.#key = h("input", {
      id: keyId,
      type: "password",
      class: "input mono",
      autocomplete: "new-password",
      spellcheck: false,
      placeholder: t("providers.paste.key.placeholder"),
      on: {
        input: (event) => this.#onInput(event, false),
        keydown: (event) => this.#onEnter(event),
      },
    });
    const reveal = t("providers.form.apiKey.reveal");
    this.#reveal = h("button", {
      type: "button",
      class: "icon-btn reveal-btn",
      "aria-label": reveal,
      title: reveal,
      on: { click: () => this.#showKey(this.#key.type === "password") },
    });
    this.#showKey(false);
    this.#detectBtn = h(
      "button",
      { type: "button", class: "btn paste-detect", on: { click: () => this.#detect() } },
      icon("search", { size: 16 }),
      h("span", {}, t("providers.paste.detect")),
    );
    this.#status = h("div", { class: "paste-status", "aria-live": "polite" });
    this.append(
      h(
        "div",
        { class: "paste-box", role: "group", "aria-labelledby": titleId },
        h(
          "div",
          { class: "paste-head" },
          h("h3", { class: "paste-title", id: titleId }, icon("link", { size: 16 }), t("providers.paste.title")),
          h("p", { class: "field-help paste-help", id: `${titleId}-help` }, t("providers.paste.help")),
        ),
        h(
          "div",
          { class: "paste-row" },
          h("div", { class: "field paste-url" }, h("label", { for: urlId }, t("providers.paste.url.label")), this.#url),
          h(
            "div",
            { class: "field paste-key" },
            h("label", { for: keyId }, t("providers.paste.key.label")),
            h("div", { class: "control-row" }, this.#key, this.#reveal),
          ),
          this.#detectBtn,
        ),
        this.#urlMsg,
        this.#status,
      ),
      h("p", { class: "paste-or" }, h("span", {}, t("providers.paste.or"))),
    );
  }

  #showKey(shown) {
    this.#key.type = shown ? "text" : "password";
    this.#reveal.setAttribute("aria-pressed", String(shown));
    replaceChildren(this.#reveal, icon(shown ? "eye-off" : "eye"));
  }

  // --- when to detect -------------------------------------------------------------------

  // A paste detects at once; typing waits for a pause (never a request per keystroke). A key
  // changed without a URL waits for the URL.
  #onInput(event, isUrl) {
    clearTimeout(this.#timer);
    if (isUrl) this.#setUrlMessage("");
    const url = this.#url.value.trim();
    if (!url) return;
    if (event.inputType === "insertFromPaste") return this.#detect();
    if (isUrl && !LOOKS_LIKE_HOST.test(url)) return;
    this.#timer = setTimeout(() => this.#detect(), TYPING_PAUSE_MS);
  }

  // Enter detects here: the form's own submit (Save) is not what the user means in this box.
  #onEnter(event) {
    if (event.key !== "Enter" || event.isComposing) return;
    event.preventDefault();
    this.#detect();
  }

  #cancel() {
    clearTimeout(this.#timer);
    this.#generation += 1;
    this.#setBusy(false);
  }

  async #detect() {
    this.#cancel();
    const url = this.#url.value.trim();
    if (!url) {
      this.#setUrlMessage(t("providers.paste.url.empty"));
      this.#url.focus();
      return;
    }
    this.#setUrlMessage("");
    const apiKey = this.#key.value.trim();
    const generation = this.#generation;
    this.#setBusy(true);
    replaceChildren(
      this.#status,
      h(
        "p",
        { class: "paste-running" },
        h("span", { class: "spinner", "aria-hidden": "true" }),
        t("providers.paste.detecting"),
      ),
    );
    const result = await this.service.detectProvider(url, apiKey);
    if (generation !== this.#generation) return;
    this.#setBusy(false);
    if (result.success && (result.candidates || []).length) {
      this.#candidates = result.candidates;
      this.#attempts = result.attempts || [];
      this.#chosen = 0;
      this.#renderResult();
    } else if (result.success) this.#renderFailure({ message: t("providers.paste.none") }, result.attempts || []);
    else if (result.error.fields && result.error.fields.url) {
      // An address that cannot be read at all: said under the field, like the form's own.
      replaceChildren(this.#status);
      this.#setUrlMessage(result.error.fields.url[0]);
    } else this.#renderFailure(result.error, result.error.attempts || []);
  }

  #setBusy(busy) {
    this.toggleAttribute("aria-busy", busy);
    this.#detectBtn.classList.toggle("is-busy", busy);
  }

  #setUrlMessage(message) {
    this.#urlMsg.textContent = message;
    this.#url.setAttribute("aria-invalid", String(Boolean(message)));
  }

  #clearResult() {
    this.#evidenceOpen = false;
    this.#candidates = [];
    this.#attempts = [];
    replaceChildren(this.#status);
  }

  // --- the answer -----------------------------------------------------------------------

  #renderResult() {
    const candidate = this.#candidates[this.#chosen];
    const template = this.templateFor(candidate);
    const use = h(
      "button",
      { type: "button", class: "btn btn-primary btn-sm paste-use", on: { click: () => this.#use() } },
      icon("check", { size: 16 }),
      h("span", {}, t("providers.paste.use")),
    );
    replaceChildren(
      this.#status,
      h(
        "div",
        { class: "paste-result" },
        h(
          "div",
          { class: "paste-result-head" },
          h(
            "div",
            { class: "paste-found" },
            h("strong", {}, t("providers.paste.found", { type: typeLabel(candidate.type) })),
            template
              ? h("span", { class: "tag" }, t("providers.paste.template", { name: template.displayName }))
              : null,
          ),
          use,
        ),
        facts(candidate),
        candidate.authError ? authNote(candidate.authError) : null,
        this.#candidates.length > 1 ? this.#others() : null,
        this.#evidence(candidate),
      ),
    );
  }

  // Open or closed as the user left it when another candidate is shown.
  #evidence(candidate) {
    const details = evidence(candidate, this.#attempts, this.#evidenceOpen);
    details.addEventListener("toggle", () => (this.#evidenceOpen = details.open));
    return details;
  }

  /** Every candidate as a radio, the shown one checked; picking one shows it. */
  #others() {
    const name = uid("paste-candidate");
    return h(
      "fieldset",
      { class: "paste-others" },
      h("legend", {}, t("providers.paste.others")),
      this.#candidates.map((candidate, index) =>
        h(
          "label",
          { class: "paste-option" },
          h("input", {
            type: "radio",
            class: "radio",
            name,
            value: String(index),
            checked: index === this.#chosen,
            on: { change: () => this.#choose(index) },
          }),
          h("span", { class: "paste-option-type" }, typeLabel(candidate.type)),
          h("span", { class: "mono paste-option-url" }, candidate.baseURL),
          h("span", { class: "muted" }, modelCount(candidate)),
        ),
      ),
    );
  }

  #choose(index) {
    this.#chosen = index;
    this.#renderResult();
    // The list was rebuilt: keep the keyboard on the radio just chosen.
    const radio = this.#status.querySelectorAll(".paste-others input")[index];
    if (radio) radio.focus();
  }

  // The key as the field has it now (what the user sees is what the form gets).
  #use() {
    const candidate = this.#candidates[this.#chosen];
    const apiKey = this.#key.value.trim();
    this.dispatchEvent(new CustomEvent("candidate-chosen", { bubbles: true, detail: { candidate, apiKey } }));
  }

  #renderFailure(error, attempts) {
    const { title } = error.code ? adviceFor(error) : { title: t("providers.paste.failed") };
    replaceChildren(
      this.#status,
      h(
        "div",
        { class: "paste-failure" },
        h(
          "div",
          { class: "paste-failure-head" },
          icon("alert", { size: 16 }),
          h(
            "div",
            { class: "paste-failure-text" },
            h("strong", {}, title, error.code ? [" ", h("code", { class: "error-code" }, error.code)] : null),
            h("p", {}, error.message),
          ),
        ),
        attempts.length
          ? h(
              "div",
              { class: "paste-tried" },
              h("h4", {}, t("providers.paste.attempts", { count: attempts.length })),
              attemptList(attempts),
            )
          : null,
      ),
    );
  }
}

/** Base URL, request URL and models of a candidate, as a definition list. */
function facts(candidate) {
  const models = candidate.models || [];
  const shown = models.slice(0, MODELS_SHOWN);
  return h(
    "dl",
    { class: "paste-facts" },
    h("dt", {}, t("providers.form.baseURL.label")),
    h("dd", { class: "mono paste-base" }, candidate.baseURL),
    h("dt", {}, t("providers.form.url.label")),
    h(
      "dd",
      { class: "paste-request" },
      h("span", { class: "url-method" }, "POST"),
      h("span", { class: "mono" }, candidate.requestURL),
    ),
    h("dt", {}, t("providers.paste.models")),
    h(
      "dd",
      { class: "paste-models" },
      h("span", { class: "paste-model-count" }, modelCount(candidate)),
      shown.map((model) => h("code", { class: "paste-model" }, model)),
      models.length > shown.length
        ? h("span", { class: "muted" }, t("providers.paste.moreModels", { count: models.length - shown.length }))
        : null,
    ),
  );
}

function modelCount(candidate) {
  const count = (candidate.models || []).length;
  return count ? t("providers.paste.modelCount", { count }) : t("providers.paste.noModels");
}

/** The host answered but refused the key: the type is still right, the key is not. */
function authNote(error) {
  return h(
    "div",
    { class: "paste-auth", role: "note" },
    icon("key", { size: 16 }),
    h(
      "div",
      {},
      h("strong", {}, t("providers.paste.authError"), " ", h("code", { class: "error-code" }, error.code)),
      h("p", {}, error.message),
    ),
  );
}

/** Why this candidate, and every probe sent: one click away. */
function evidence(candidate, attempts, open) {
  const reasons = candidate.evidence || [];
  return h(
    "details",
    { class: "paste-evidence", open },
    h("summary", {}, icon("chevron", { size: 14, className: "section-chevron" }), t("providers.paste.evidence")),
    h(
      "div",
      { class: "paste-evidence-body" },
      reasons.length
        ? h(
            "ul",
            { class: "paste-reasons" },
            reasons.map((reason) => h("li", {}, reason)),
          )
        : null,
      attempts.length ? h("h4", {}, t("providers.paste.attempts", { count: attempts.length })) : null,
      attempts.length ? attemptList(attempts) : null,
    ),
  );
}

/** The probes as a table: method, URL, whether the key went, status, outcome, time. */
/** Which API a probe spoke (the OpenAI and Anthropic probes may ask the same URL). */
const PROTOCOLS = { openai: "OpenAI", anthropic: "Anthropic", ollama: "Ollama" };

function attemptList(attempts) {
  const head = [
    "providers.paste.column.method",
    "providers.paste.column.protocol",
    "providers.paste.column.url",
    "providers.paste.column.key",
    "providers.paste.column.status",
    "providers.paste.column.outcome",
    "providers.paste.column.time",
  ];
  return h(
    "table",
    { class: "paste-attempts" },
    h(
      "thead",
      { class: "sr-only" },
      h(
        "tr",
        {},
        head.map((key) => h("th", { scope: "col" }, t(key))),
      ),
    ),
    h(
      "tbody",
      {},
      attempts.map((attempt) =>
        h(
          "tr",
          { class: attempt.status && attempt.status < 400 ? "is-ok" : "is-failed" },
          h("td", {}, h("span", { class: "url-method" }, attempt.method)),
          h("td", { class: "muted paste-attempt-protocol" }, PROTOCOLS[attempt.protocol] || ""),
          h("td", { class: "mono paste-attempt-url" }, attempt.url),
          h("td", { class: "paste-key-cell" }, attempt.keySent ? keySent() : null),
          h("td", { class: "paste-attempt-status" }, attempt.status ? String(attempt.status) : "—"),
          h("td", {}, OUTCOMES[attempt.outcome] ? t(OUTCOMES[attempt.outcome]) : attempt.outcome || ""),
          h("td", { class: "muted paste-attempt-time" }, formatMs(attempt.elapsedMs)),
        ),
      ),
    ),
  );
}

/** The mark of a probe that carried the key (only ever to the host typed). */
function keySent() {
  const label = t("providers.paste.keySent");
  return h(
    "span",
    { class: "paste-key-sent", role: "img", "aria-label": label, title: label },
    icon("key", { size: 13 }),
  );
}

/**
 * The chat path to set when a candidate's request URL is not what its type makes of its base
 * URL ("" when it is): the form's request URL then shows what the detection found.
 */
export function chatPathOf(candidate) {
  const made = resolveRequestURL({ type: candidate.type, baseURL: candidate.baseURL });
  const request = candidate.requestURL || "";
  const base = normalizeBase(candidate.baseURL);
  if (!made || !request || request === made || !request.startsWith(`${base}/`)) return "";
  return request.slice(base.length);
}

customElements.define("provider-paste", ProviderPaste);
