// What the routes screen says about a route (docs/API.md, Routes): its strategies in a line
// each, and a member's circuit breaker in words. Pure: no DOM, no backend.

/** The strategies, in the order the form offers them, each with what it does in one line. */
export const STRATEGIES = [
  {
    value: "failover",
    label: "Failover",
    help: "Tries the providers in order: the next one answers only when the one before fails.",
  },
  {
    value: "round-robin",
    label: "Round-robin",
    help: "Spreads the load: each request starts one provider further down the list.",
  },
  { value: "fastest", label: "Fastest", help: "Starts with the provider that has been quickest to answer lately." },
];

/** "Failover", "Round-robin", "Fastest" (or the value itself for one this page does not know). */
export function strategyLabel(value) {
  const found = STRATEGIES.find((s) => s.value === value);
  return found ? found.label : String(value || "");
}

/**
 * A member's circuit (`{state, since, reason}`, absent meaning closed) in words:
 * `{state, label, detail}` — `label` for the chip ("Paused, reopens in 12 s"), `detail` the
 * longer sentence (why it opened). `now` is ms since the epoch.
 */
export function describeCircuit(circuit, now = Date.now()) {
  const state = circuit && ["open", "half-open"].includes(circuit.state) ? circuit.state : "closed";
  const reason = circuit && circuit.reason ? circuit.reason : null;
  const why = reason ? `Paused after ${reason.code}: ${reason.message}` : "Paused after repeated failures.";
  if (state === "closed") return { state, label: "Available", detail: "Requests go to this provider.", reason: null };
  if (state === "half-open") {
    return {
      state,
      label: "Probing",
      detail: "One request is testing whether it recovered; the others skip it meanwhile.",
      reason,
    };
  }
  const reopens = Date.parse(circuit.reopensAt || "");
  const left = Number.isNaN(reopens) ? null : Math.ceil((reopens - now) / 1000);
  const label = left === null ? "Paused" : left > 0 ? `Paused, reopens in ${left} s` : "Paused, reopening now";
  return { state, label, detail: why, reason };
}
