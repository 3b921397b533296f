// <circuit-badge>: a provider's circuit breaker beside its health (API.md, Circuit breakers).
// Closed shows nothing; open is "Paused" (routes skip the provider), half-open "Probing" (one
// request through a route tests it). `circuitNow()` and `circuitSentence()` give the words the
// card's notice uses, with the countdown to the half-open state.
import { replaceChildren } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { formatDuration, fullTime, secondsUntil } from "../lib/format.js";

/** {state, secondsLeft, reason, since} as it stands at `now`; state "closed" without a circuit. */
export function circuitNow(circuit, now = Date.now()) {
  if (!circuit || !circuit.state || circuit.state === "closed")
    return { state: "closed", secondsLeft: null, reason: null, since: null };
  const reason = circuit.reason || null;
  if (circuit.state === "open" && circuit.reopensAt) {
    // Past `reopensAt` the backend reads an open circuit as half-open, and so does the page.
    const reopens = circuit.reopensAt;
    const left = secondsUntil(reopens, now);
    if (left > 0) return { state: "open", secondsLeft: left, reason, since: circuit.since };
    return { state: "half-open", secondsLeft: null, reason, since: reopens };
  }
  return { state: circuit.state, secondsLeft: null, reason, since: circuit.since || null };
}

/** The notice's headline: "Paused — reopens in 23 s", "Probing". */
export function circuitSentence(view) {
  if (view.state === "open") return t("providers.circuit.reopensIn", { wait: formatDuration(view.secondsLeft) });
  if (view.state === "half-open") return t("providers.circuit.probing");
  return t("providers.circuit.closed");
}

const LOOK = {
  open: { label: "providers.circuit.paused", icon: "clock" },
  "half-open": { label: "providers.circuit.probing", icon: "pulse" },
};

export class CircuitBadge extends HTMLElement {
  /** A `circuitNow()` view. */
  set view(value) {
    const look = LOOK[value.state];
    this.hidden = !look;
    this.setAttribute("state", value.state);
    if (!look) {
      replaceChildren(this);
      return;
    }
    this.className = `badge circuit-badge circuit-${value.state}`;
    this.title =
      value.state === "open"
        ? t("providers.circuit.openTitle", { since: fullTime(value.since) })
        : t("providers.circuit.halfOpenTitle");
    if (this.dataset.shown !== value.state) {
      this.dataset.shown = value.state;
      replaceChildren(this, icon(look.icon, { size: 14 }), t(look.label));
    }
  }
}

customElements.define("circuit-badge", CircuitBadge);
