// What a classified error means for the user: a short title and what to try next.
// The server's message says what happened; this adds the usual fix.

const ADVICE = {
  AUTH_FAILED: [
    "Key rejected",
    "Check the API key, and that the auth scheme (Advanced) is the one the provider expects.",
  ],
  RATE_LIMITED: ["Rate limited", "The provider is busy for this key; wait a little and try again."],
  QUOTA_EXCEEDED: ["Out of credit", "Add credit or raise the quota in the provider's console."],
  MODEL_NOT_FOUND: [
    "Unknown model",
    "Pick a model the provider serves: the model picker in the chat header lists them, and so does Fetch models in the provider's form.",
  ],
  CONTEXT_LENGTH_EXCEEDED: ["Too long", "Shorten the conversation or pick a model with a larger context."],
  BAD_REQUEST: ["Request refused", "Check the model name and the parameters; some models refuse some parameters."],
  CONNECTION_FAILED: ["Can't connect", "Check the base URL, that the server is running, and your network or proxy."],
  TIMEOUT: ["Timed out", "The provider did not answer in time; try again, or check the base URL."],
  UPSTREAM_ERROR: ["Provider error", "The provider had a server error; try again later."],
  INVALID_RESPONSE: [
    "Unreadable answer",
    "Check the type (OpenAI- or Anthropic-compatible) and that the base URL includes the version path, e.g. /v1.",
  ],
  INVALID_CONFIG: ["Check the fields", "Correct the highlighted fields and try again."],
  DUPLICATE_NAME: ["Name taken", "Choose another name; names ignore case."],
  NOT_FOUND: ["Gone", "The provider was removed, perhaps in another window; the list has been refreshed."],
  KEYRING_UNAVAILABLE: ["Keyring locked", "Unlock the system keyring and try again."],
  STORAGE_ERROR: ["Can't save", "Check that the disk is not full and the data folder is writable."],
  IMPORT_INVALID: ["Not an export file", "Choose a file exported by MiaoDa Chat."],
  DECRYPT_FAILED: ["Wrong passphrase", "Check the passphrase used when the file was exported."],
  UNAUTHORIZED: ["Not signed in", "Open MiaoDa Chat from the link `miaoda serve` printed."],
  CANCELLED: ["Cancelled", ""],
  INTERNAL: ["Something went wrong", "The log in the data folder has details."],
};

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

/** {title, advice} for an error code; advice mentions retryAfter when there is one. */
export function adviceFor(error) {
  const [title, advice] = ADVICE[error?.code] || ["Failed", ""];
  if (error?.retryAfter) return { title, advice: `Try again in ${Math.ceil(error.retryAfter)} s.` };
  return { title, advice };
}

/** True for errors that come from the provider (a failed connection test), not from the app. */
export function isUpstreamError(error) {
  return UPSTREAM.has(error?.code);
}
