// The line under a reply that came through a route: who answered, and what happened to the
// members tried before — "Answered by DeepSeek — Groq was rate limited (429), OpenRouter
// skipped (circuit open)". Built from the stream's `attempt` events while the reply is written
// and from the stored message's `attempts` afterwards (docs/API.md, Routes). No DOM: the
// caller puts the parts into the page as text; the words come from the translation layer.
import { t } from "./i18n.js";

// The key of what a member's error code says about it, after its name.
const PHRASES = {
  RATE_LIMITED: "chat.route.phrase.rateLimited",
  UPSTREAM_ERROR: "chat.route.phrase.failed",
  CONNECTION_FAILED: "chat.route.phrase.unreachable",
  TIMEOUT: "chat.route.phrase.timedOut",
  AUTH_FAILED: "chat.route.phrase.keyRefused",
  QUOTA_EXCEEDED: "chat.route.phrase.outOfQuota",
  MODEL_NOT_FOUND: "chat.route.phrase.noModel",
  INVALID_RESPONSE: "chat.route.phrase.unreadable",
};

/** An `attempt` event or stored attempt as a turn keeps it. */
export function attemptOf(data) {
  return {
    providerId: String(data.providerId || ""),
    providerName: String(data.providerName || ""),
    model: data.model == null ? "" : String(data.model),
    outcome: ["skipped", "failed", "answering"].includes(data.outcome) ? data.outcome : "failed",
    code: data.code == null ? null : String(data.code),
    message: data.message == null ? null : String(data.message),
  };
}

/** "failed (500)", "was rate limited (429)", "could not be reached", "skipped (circuit open)". */
export function attemptPhrase(attempt) {
  if (attempt.outcome === "skipped") return t("chat.route.phrase.skipped");
  const phrase = t(PHRASES[attempt.code] || "chat.route.phrase.failed");
  const status = httpStatusOf(attempt);
  return status ? t("chat.route.withStatus", { phrase, status }) : phrase;
}

// The provider's HTTP status when the error's message quotes one ("… (HTTP 500: …)"); a rate
// limit is a 429 even when the message does not say so.
function httpStatusOf(attempt) {
  const quoted = /\bHTTP (\d{3})\b/.exec(attempt.message || "");
  if (quoted) return quoted[1];
  return attempt.code === "RATE_LIMITED" ? "429" : null;
}

/**
 * What the line says for `turn` (an assistant turn of chat-store.js), or null when it has none
 * (asked directly, or nothing tried yet): `{outcome: "answered" | "trying" | "failed" |
 * "stopped", lead, name, rest}`, read as `lead name — rest` (`name` is the provider that
 * answered, shown stronger; `lead` is "" when nobody did).
 */
export function routeLine(turn) {
  const attempts = Array.isArray(turn.attempts) ? turn.attempts : [];
  if (!turn.routeId || attempts.length === 0) return null;
  const answering = attempts.find((a) => a.outcome === "answering");
  const someone = t("chat.route.someone");
  const before = attempts
    .filter((a) => a.outcome !== "answering")
    .map((a) => t("chat.route.attempt", { name: a.providerName || someone, phrase: attemptPhrase(a) }));
  const rest = before.join(t("chat.route.separator"));
  if (answering)
    return { outcome: "answered", lead: t("chat.route.answered"), name: answering.providerName || someone, rest };
  if (turn.status === "streaming")
    return { outcome: "trying", lead: "", name: "", rest: `${rest} — ${t("chat.route.trying")}` };
  if (turn.status === "stopped") return { outcome: "stopped", lead: t("chat.route.stopped"), name: "", rest };
  return { outcome: "failed", lead: t("chat.route.none"), name: "", rest };
}
