// A provider's key pool as the UI shows it (API.md, Key pools): each key's state as it stands
// now, and the short summary the provider card carries ("3 keys · 1 cooling").
import { secondsUntil } from "./format.js";

export const KEY_STATES = {
  active: { label: "Active", help: "Used in turn with the other active keys." },
  cooling: {
    label: "Cooling",
    help: "Rate limited: rests until the provider's wait is over, while the other keys answer.",
  },
  invalid: {
    label: "Invalid",
    help: "The provider refused it (401/403). Skipped until it is re-enabled, edited, or a check passes with it.",
  },
  exhausted: { label: "Exhausted", help: "Its quota is used up. Tried again an hour after that was reported." },
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
  const parts = ["cooling", "invalid", "exhausted"].filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
  return [`${list.length} key${list.length === 1 ? "" : "s"}`, ...parts].join(" · ");
}

/** True while some key of the pool is waiting out a countdown (the form ticks then). */
export function hasCountdown(keys, now = Date.now()) {
  return (keys || []).some((k) => currentKey(k, now).secondsLeft > 0);
}
