// The provider rules (docs/API.md, Providers) the form needs while the user types: the request
// URL a config resolves to, the default auth per type, and cheap hints. The server stays the
// judge: its messages replace these hints when a save or test is refused. Texts are looked up
// when asked for (lib/i18n.js), so they follow the language.
import { formatList, formatNumber, t } from "./i18n.js";

// `label` names the type in the form's list, `short` on cards and template tiles.
export const PROVIDER_TYPES = [
  { value: "openai-compatible", label: "providers.types.openai", short: "providers.types.openai" },
  { value: "anthropic-compatible", label: "providers.types.anthropic", short: "providers.types.anthropic" },
  { value: "custom", label: "providers.types.customLong", short: "providers.types.custom" },
];

export const PARAMETERS = [
  { key: "temperature", label: "providers.params.temperature", min: 0, max: 2, integer: false },
  { key: "maxTokens", label: "providers.params.maxTokens", min: 1, max: 1_000_000, integer: true },
  { key: "topP", label: "providers.params.topP", min: 0, max: 1, integer: false },
  { key: "frequencyPenalty", label: "providers.params.frequencyPenalty", min: -2, max: 2, integer: false },
  { key: "presencePenalty", label: "providers.params.presencePenalty", min: -2, max: 2, integer: false },
];

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
const FORBIDDEN_HEADERS = new Set(["host", "content-length", "transfer-encoding"]);
// Text-direction embeddings, overrides and isolates (not the LRM/RLM/ALM marks): they reorder
// the text around them, so a name could read as something else.
const BIDI_CONTROL_RE = /[\u202a-\u202e\u2066-\u2069]/;
// In an endpoint's path part (before "?"): a `..` segment (also `..;`), `//`, a backslash, or
// a percent-encoded `.`, `/` or `\` could take the request out of the base URL's path.
const ENDPOINT_ESCAPE_RE = /(?:^|\/)\.\.(?:[/;]|$)|\/\/|\\|%2e|%2f|%5c/i;

/** Whether a custom header carries a credential (kept write-only, like the API key). */
export function isSecretHeader(name) {
  return /key|token|secret|auth/i.test(name || "");
}

/** The types as the form's list shows them: [{value, label}]. */
export function typeOptions() {
  return PROVIDER_TYPES.map((type) => ({ value: type.value, label: t(type.label) }));
}

/** A type's short name ("OpenAI-compatible"); an unknown type as it is. */
export function typeLabel(type) {
  const found = PROVIDER_TYPES.find((known) => known.value === type);
  return found ? t(found.short) : type;
}

/** A parameter's range as the form shows it: "0–2", "1–1,000,000", "−2–2". */
export function parameterRange(spec) {
  const number = (value) => formatNumber(value).replace(/^-/, "\u2212");
  return `${number(spec.min)}–${number(spec.max)}`;
}

/** The auth a provider type gets when none is given. */
export function defaultAuth(type) {
  return type === "anthropic-compatible" ? { scheme: "header", name: "x-api-key" } : { scheme: "bearer" };
}

export function describeAuth(auth) {
  if (!auth) return "";
  switch (auth.scheme) {
    case "bearer":
      return t("providers.auth.bearer");
    case "header":
      return auth.name ? t("providers.auth.header", { name: auth.name }) : t("providers.auth.headerUnnamed");
    case "query":
      return auth.name ? t("providers.auth.query", { name: auth.name }) : t("providers.auth.queryUnnamed");
    case "none":
      return t("providers.auth.none");
    default:
      return auth.scheme;
  }
}

export function sameAuth(a, b) {
  return (a?.scheme || "") === (b?.scheme || "") && (a?.name || "") === (b?.name || "");
}

/** Strip trailing slashes, as the app does when it saves a base URL. */
export function normalizeBase(baseURL) {
  return String(baseURL || "")
    .trim()
    .replace(/\/+$/, "");
}

/**
 * The chat URL for a config, by the contract's rules: OpenAI wire appends /chat/completions to
 * the versioned base; Anthropic adds /v1/messages unless the base already ends in /v1;
 * an endpoint override path replaces the default path.
 */
export function resolveRequestURL({ type, baseURL, endpoints }) {
  const base = normalizeBase(baseURL);
  if (!base) return "";
  const override = (endpoints && endpoints.chat ? String(endpoints.chat) : "").trim();
  if (override) return base + override;
  if (type === "anthropic-compatible") return `${base}${base.endsWith("/v1") ? "" : "/v1"}/messages`;
  return `${base}/chat/completions`;
}

/** A name that satisfies the name rule, made from a display name ("Groq Fast" → "groq-fast"). */
export function suggestName(displayName, taken = new Set()) {
  let base = String(displayName || "")
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, 64);
  if (!base) base = "provider";
  return uniqueName(base, taken);
}

/** `name`, or `name-2`, `name-3`… when it is taken (names ignore case). */
export function uniqueName(name, taken) {
  const lower = new Set([...taken].map((n) => n.toLowerCase()));
  if (!lower.has(name.toLowerCase())) return name;
  for (let n = 2; n < 10_000; n += 1) {
    const suffix = `-${n}`;
    const candidate = name.slice(0, 64 - suffix.length) + suffix;
    if (!lower.has(candidate.toLowerCase())) return candidate;
  }
  return name;
}

// --- hints: a message when something is clearly wrong, else null -------------------------

const placeholders = (holes) => t("providers.hints.placeholders", { holes: formatList(holes) });
const tooLong = (count) => t("providers.hints.tooLong", { count });

export const hints = {
  name(value) {
    if (!value) return t("providers.hints.name.empty");
    return NAME_RE.test(value) ? null : t("providers.hints.name.invalid");
  },
  displayName(value) {
    if (!value.trim()) return t("providers.hints.displayName.empty");
    if (value.length > 80) return tooLong(80);
    if (CONTROL_RE.test(value)) return t("providers.hints.displayName.control");
    return BIDI_CONTROL_RE.test(value) ? t("providers.hints.displayName.bidi") : null;
  },
  baseURL(value) {
    const text = value.trim();
    if (!text) return t("providers.hints.baseURL.empty");
    const holes = text.match(/\{[^}]*\}/g);
    if (holes) return placeholders([...new Set(holes)]);
    let url;
    try {
      url = new URL(text);
    } catch {
      return t("providers.hints.baseURL.invalid");
    }
    if (!["http:", "https:"].includes(url.protocol) || !url.hostname) return t("providers.hints.baseURL.scheme");
    if (url.username || url.password) return t("providers.hints.baseURL.credentials");
    if (url.hash || text.endsWith("#")) return t("providers.hints.baseURL.fragment");
    if (url.search || text.endsWith("?")) return t("providers.hints.baseURL.query");
    return null;
  },
  model(value) {
    if (!value.trim()) return t("providers.hints.model.empty");
    const holes = value.match(/\{[^}]*\}/g);
    if (holes) return placeholders(holes);
    return value.length > 200 ? tooLong(200) : null;
  },
  apiKey(value) {
    if (!value) return null;
    if (value !== value.trim()) return t("providers.hints.apiKey.spaces");
    return value.length > 4096 ? tooLong(4096) : null;
  },
  authName(scheme, value) {
    if (scheme === "header" && !value) return t("providers.hints.authName.header");
    if (scheme === "query" && !value) return t("providers.hints.authName.query");
    if (scheme === "header" && !TOKEN_RE.test(value)) return t("providers.hints.authName.invalid");
    return null;
  },
  endpoint(value) {
    if (!value) return null;
    if (!value.startsWith("/") || value.startsWith("//")) return t("providers.hints.endpoint.slash");
    if (/[\s#]/.test(value)) return t("providers.hints.endpoint.chars");
    if (ENDPOINT_ESCAPE_RE.test(value.split("?")[0])) return t("providers.hints.endpoint.escape");
    return null;
  },
  header(name, value, seen) {
    if (!name) return value ? t("providers.hints.header.noName") : null;
    if (!TOKEN_RE.test(name)) return t("providers.hints.header.invalid");
    if (FORBIDDEN_HEADERS.has(name.toLowerCase())) return t("providers.hints.header.reserved", { name });
    if (seen.has(name.toLowerCase())) return t("providers.hints.header.twice", { name });
    return /[\r\n]/.test(value) ? t("providers.hints.header.lineBreaks") : null;
  },
};

/** Parse a parameter field: {value} when valid or empty (undefined), {error} otherwise. */
export function parseParameter(spec, raw) {
  const text = String(raw ?? "")
    .trim()
    .replace(/\u2212/g, "-");
  if (text === "") return { value: undefined };
  const range = parameterRange(spec);
  if (!/^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(text)) return { error: t("providers.params.notNumber", { range }) };
  const value = Number(text);
  if (spec.integer && !Number.isInteger(value)) return { error: t("providers.params.notWhole", { range }) };
  if (value < spec.min || value > spec.max) {
    const [min, max] = [spec.min, spec.max].map((n) => formatNumber(n).replace(/^-/, "\u2212"));
    return { value, hint: t("providers.params.outOfRange", { min, max }) };
  }
  return { value };
}
