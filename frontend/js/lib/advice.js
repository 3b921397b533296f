// What a classified error means for the user: a short title and what to try next.
// The server's message says what happened; this adds the usual fix. The chat and routes
// screens use it too.
import { t } from "./i18n.js";

// code → [title key, advice key (null: nothing to add)]
const ADVICE = {
  AUTH_FAILED: ["providers.advice.authFailed.title", "providers.advice.authFailed.advice"],
  RATE_LIMITED: ["providers.advice.rateLimited.title", "providers.advice.rateLimited.advice"],
  QUOTA_EXCEEDED: ["providers.advice.quotaExceeded.title", "providers.advice.quotaExceeded.advice"],
  MODEL_NOT_FOUND: ["providers.advice.modelNotFound.title", "providers.advice.modelNotFound.advice"],
  CONTEXT_LENGTH_EXCEEDED: ["providers.advice.contextLength.title", "providers.advice.contextLength.advice"],
  BAD_REQUEST: ["providers.advice.badRequest.title", "providers.advice.badRequest.advice"],
  CONNECTION_FAILED: ["providers.advice.connectionFailed.title", "providers.advice.connectionFailed.advice"],
  TIMEOUT: ["providers.advice.timeout.title", "providers.advice.timeout.advice"],
  UPSTREAM_ERROR: ["providers.advice.upstreamError.title", "providers.advice.upstreamError.advice"],
  INVALID_RESPONSE: ["providers.advice.invalidResponse.title", "providers.advice.invalidResponse.advice"],
  INVALID_CONFIG: ["providers.advice.invalidConfig.title", "providers.advice.invalidConfig.advice"],
  DUPLICATE_NAME: ["providers.advice.duplicateName.title", "providers.advice.duplicateName.advice"],
  NOT_FOUND: ["providers.advice.notFound.title", "providers.advice.notFound.advice"],
  KEYRING_UNAVAILABLE: ["providers.advice.keyringUnavailable.title", "providers.advice.keyringUnavailable.advice"],
  STORAGE_ERROR: ["providers.advice.storageError.title", "providers.advice.storageError.advice"],
  IMPORT_INVALID: ["providers.advice.importInvalid.title", "providers.advice.importInvalid.advice"],
  DECRYPT_FAILED: ["providers.advice.decryptFailed.title", "providers.advice.decryptFailed.advice"],
  UNAUTHORIZED: ["providers.advice.unauthorized.title", "providers.advice.unauthorized.advice"],
  CANCELLED: ["providers.advice.cancelled.title", null],
  INTERNAL: ["providers.advice.internal.title", "providers.advice.internal.advice"],
};
const UNKNOWN = ["providers.advice.failed.title", null];

const UPSTREAM = new Set([
  "AUTH_FAILED",
  "RATE_LIMITED",
  "QUOTA_EXCEEDED",
  "MODEL_NOT_FOUND",
  "CONTEXT_LENGTH_EXCEEDED",
  "BAD_REQUEST",
  "CONNECTION_FAILED",
  "TIMEOUT",
  "UPSTREAM_ERROR",
  "INVALID_RESPONSE",
]);

/** {title, advice} for an error code, in the language in use; advice names retryAfter when there is one. */
export function adviceFor(error) {
  const [title, advice] = ADVICE[error?.code] || UNKNOWN;
  if (error?.retryAfter)
    return { title: t(title), advice: t("providers.advice.retryIn", { seconds: Math.ceil(error.retryAfter) }) };
  return { title: t(title), advice: advice ? t(advice) : "" };
}

/** True for errors that come from the provider (a failed connection test), not from the app. */
export function isUpstreamError(error) {
  return UPSTREAM.has(error?.code);
}
