// The provider rules (docs/API.md, Providers) the form needs while the user types: the request
// URL a config resolves to, the default auth per type, and cheap hints. The server stays the
// judge: its messages replace these hints when a save or test is refused.

export const PROVIDER_TYPES = [
  { value: "openai-compatible", label: "OpenAI-compatible" },
  { value: "anthropic-compatible", label: "Anthropic-compatible" },
  { value: "custom", label: "Custom (OpenAI wire, own paths)" },
];

export const PARAMETERS = [
  { key: "temperature", label: "Temperature", min: 0, max: 2, integer: false, hint: "0–2" },
  { key: "maxTokens", label: "Max tokens", min: 1, max: 1_000_000, integer: true, hint: "1–1,000,000" },
  { key: "topP", label: "Top P", min: 0, max: 1, integer: false, hint: "0–1" },
  { key: "frequencyPenalty", label: "Frequency penalty", min: -2, max: 2, integer: false, hint: "−2–2" },
  { key: "presencePenalty", label: "Presence penalty", min: -2, max: 2, integer: false, hint: "−2–2" },
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

export function typeLabel(type) {
  const found = PROVIDER_TYPES.find((t) => t.value === type);
  return found ? found.label.replace(/ \(.*\)$/, "") : type;
}

/** The auth a provider type gets when none is given. */
export function defaultAuth(type) {
  return type === "anthropic-compatible" ? { scheme: "header", name: "x-api-key" } : { scheme: "bearer" };
}

export function describeAuth(auth) {
  if (!auth) return "";
  switch (auth.scheme) {
    case "bearer":
      return "Bearer token (Authorization header)";
    case "header":
      return `Header ${auth.name || ""}`.trim();
    case "query":
      return `Query parameter ${auth.name || ""}`.trim();
    case "none":
      return "No key sent";
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

export const hints = {
  name(value) {
    if (!value) return "Give a short name, e.g. groq-fast.";
    return NAME_RE.test(value)
      ? null
      : "Use 1–64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit.";
  },
  displayName(value) {
    if (!value.trim()) return "Give a display name.";
    if (value.length > 80) return "At most 80 characters.";
    if (CONTROL_RE.test(value)) return "No control characters or line breaks.";
    return BIDI_CONTROL_RE.test(value) ? "No text-direction controls (U+202A–U+202E, U+2066–U+2069)." : null;
  },
  baseURL(value) {
    const text = value.trim();
    if (!text) return "Give the provider's base URL, e.g. https://api.example.com/v1.";
    const holes = text.match(/\{[^}]*\}/g);
    if (holes) return `Replace ${[...new Set(holes)].join(" and ")} with your own value.`;
    let url;
    try {
      url = new URL(text);
    } catch {
      return "Not a valid URL. Use the form https://api.example.com/v1.";
    }
    if (!["http:", "https:"].includes(url.protocol) || !url.hostname)
      return "Must be an http:// or https:// URL with a host.";
    if (url.username || url.password) return "No user name or password in the URL; put the key in the API key field.";
    if (url.hash || text.endsWith("#")) return "Must not contain a # fragment.";
    if (url.search || text.endsWith("?"))
      return "No ?query here; put query parameters in the endpoint paths (Advanced).";
    return null;
  },
  model(value) {
    if (!value.trim()) return "Give a model name.";
    const holes = value.match(/\{[^}]*\}/g);
    if (holes) return `Replace ${holes.join(" and ")} with your own value.`;
    return value.length > 200 ? "At most 200 characters." : null;
  },
  apiKey(value) {
    if (!value) return null;
    if (value !== value.trim()) return "Remove the spaces before or after the key.";
    return value.length > 4096 ? "At most 4,096 characters." : null;
  },
  authName(scheme, value) {
    if (scheme === "header" && !value) return "Give the header the key is sent in, e.g. x-api-key.";
    if (scheme === "query" && !value) return "Give the query parameter the key is sent in, e.g. key.";
    if (scheme === "header" && !TOKEN_RE.test(value)) return "Not a valid header name.";
    return null;
  },
  endpoint(value) {
    if (!value) return null;
    if (!value.startsWith("/") || value.startsWith("//"))
      return "Must be a path starting with one /, e.g. /chat/completions?api-version=2024-10-21.";
    if (/[\s#]/.test(value)) return "No spaces or # in a path.";
    if (ENDPOINT_ESCAPE_RE.test(value.split("?")[0]))
      return "Must stay under the base URL: no .. segments, //, backslashes or encoded dots and slashes (%2E, %2F, %5C).";
    return null;
  },
  header(name, value, seen) {
    if (!name) return value ? "Give the header a name." : null;
    if (!TOKEN_RE.test(name)) return "Header names use letters, digits and - _ . only.";
    if (FORBIDDEN_HEADERS.has(name.toLowerCase())) return `${name} is set by MiaoDa Chat and cannot be overridden.`;
    if (seen.has(name.toLowerCase())) return `${name} is given twice.`;
    return /[\r\n]/.test(value) ? "Values cannot contain line breaks." : null;
  },
};

/** Parse a parameter field: {value} when valid or empty (undefined), {error} otherwise. */
export function parseParameter(spec, raw) {
  const text = String(raw ?? "")
    .trim()
    .replace(/\u2212/g, "-");
  if (text === "") return { value: undefined };
  if (!/^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(text)) return { error: `Must be a number (${spec.hint}).` };
  const value = Number(text);
  if (spec.integer && !Number.isInteger(value)) return { error: `Must be a whole number (${spec.hint}).` };
  if (value < spec.min || value > spec.max) return { value, hint: `Must be from ${spec.hint.replace("–", " to ")}.` };
  return { value };
}
