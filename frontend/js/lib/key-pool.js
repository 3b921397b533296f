// A provider's key pool as the UI shows it (API.md, Key pools): each key's state as it stands
// now, and the short summary the provider card carries ("3 keys · 1 cooling").
import { t } from "./i18n.js";
import { secondsUntil } from "./format.js";

/** Each state's word and what it means (keys for t()). */
export const KEY_STATES = {
  active: { label: "providers.keys.state.active.label", help: "providers.keys.state.active.help" },
  cooling: { label: "providers.keys.state.cooling.label", help: "providers.keys.state.cooling.help" },
  invalid: { label: "providers.keys.state.invalid.label", help: "providers.keys.state.invalid.help" },
  exhausted: { label: "providers.keys.state.exhausted.label", help: "providers.keys.state.exhausted.help" },
};

// The summary's count of keys out of turn, by state.
const IDLE_COUNTS = {
  cooling: "providers.keys.summary.cooling",
  invalid: "providers.keys.summary.invalid",
  exhausted: "providers.keys.summary.exhausted",
};

/**
 * The key as it stands at `now`: a cooling or exhausted key whose `until` has passed is active
 * again (the backend reads it so too), with its last error kept. Adds `secondsLeft` for the
 * states that end by themselves.
 */
export function currentKey(key, now = Date.now()) {
  const timed = key.state === "cooling" || key.state === "exhausted";
  const left = timed ? secondsUntil(key.until, now) : null;
  if (timed && left === 0) return { ...key, state: "active", until: null, secondsLeft: null };
  return { ...key, secondsLeft: left };
}

/** "3 keys · 1 cooling · 1 invalid", or "" for a pool not worth a word (none, or one active key). */
export function keysSummary(keys, now = Date.now()) {
  const list = (keys || []).map((k) => currentKey(k, now));
  const idle = list.filter((k) => k.state !== "active");
  if (list.length < 2 && idle.length === 0) return "";
  const counts = {};
  for (const key of idle) counts[key.state] = (counts[key.state] || 0) + 1;
  const parts = Object.keys(IDLE_COUNTS)
    .filter((state) => counts[state])
    .map((state) => t(IDLE_COUNTS[state], { count: counts[state] }));
  return [t("providers.keys.summary.keys", { count: list.length }), ...parts].join(" · ");
}

/** True while some key of the pool is waiting out a countdown (the form ticks then). */
export function hasCountdown(keys, now = Date.now()) {
  return (keys || []).some((k) => currentKey(k, now).secondsLeft > 0);
}
