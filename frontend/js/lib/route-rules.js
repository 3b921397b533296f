// What the routes screen says about a route (docs/API.md, Routes): its strategies in a line
// each, and a member's circuit breaker in words. No DOM, no backend: text comes from the
// translation layer (`routes.strategy.*`, `routes.circuit.*`).
import { t } from "./i18n.js";

/** The strategies, in the order the form offers them, with the keys of their name and line. */
export const STRATEGIES = [
  { value: "failover", label: "routes.strategy.failover.label", help: "routes.strategy.failover.help" },
  { value: "round-robin", label: "routes.strategy.roundRobin.label", help: "routes.strategy.roundRobin.help" },
  { value: "fastest", label: "routes.strategy.fastest.label", help: "routes.strategy.fastest.help" },
];

/** "Failover", "Round-robin", "Fastest" (or the value itself for one this page does not know). */
export function strategyLabel(value) {
  const found = STRATEGIES.find((s) => s.value === value);
  return found ? t(found.label) : String(value || "");
}

/** What a strategy does, in one line ("" for one this page does not know). */
export function strategyHelp(value) {
  const found = STRATEGIES.find((s) => s.value === value);
  return found ? t(found.help) : "";
}

/**
 * A member's circuit (`{state, since, reason}`, absent meaning closed) in words:
 * `{state, label, detail}` — `label` for the chip ("Paused, reopens in 12 s"), `detail` the
 * longer sentence (why it opened). `now` is ms since the epoch.
 */
export function describeCircuit(circuit, now = Date.now()) {
  const state = circuit && ["open", "half-open"].includes(circuit.state) ? circuit.state : "closed";
  const reason = circuit && circuit.reason ? circuit.reason : null;
  if (state === "closed")
    return { state, label: t("routes.circuit.available"), detail: t("routes.circuit.availableDetail"), reason: null };
  if (state === "half-open")
    return { state, label: t("routes.circuit.probing"), detail: t("routes.circuit.probingDetail"), reason };
  const why = reason
    ? t("routes.circuit.pausedAfter", { code: reason.code, message: reason.message })
    : t("routes.circuit.pausedRepeated");
  const reopens = Date.parse(circuit.reopensAt || "");
  const left = Number.isNaN(reopens) ? null : Math.ceil((reopens - now) / 1000);
  const label =
    left === null
      ? t("routes.circuit.paused")
      : left > 0
        ? t("routes.circuit.reopensIn", { seconds: left })
        : t("routes.circuit.reopeningNow");
  return { state, label, detail: why, reason };
}
