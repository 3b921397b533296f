// <health-badge>: a provider's health as an icon, a word and a colour (never colour alone).
import { replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";

export const HEALTH = {
  healthy: { label: "Healthy", icon: "check", help: "The last check succeeded." },
  degraded: { label: "Degraded", icon: "alert", help: "Reachable, but slow, rate limited, or the model is not listed." },
  unhealthy: { label: "Unhealthy", icon: "x", help: "The last check failed." },
  unknown: { label: "Unknown", icon: "question", help: "Not checked yet." },
  checking: { label: "Checking…", icon: "pulse", help: "A check is running." },
};

export class HealthBadge extends HTMLElement {
  connectedCallback() {
    if (!this.hasAttribute("state")) this.state = "unknown";
  }

  get state() {
    return this.getAttribute("state") || "unknown";
  }

  set state(value) {
    const state = HEALTH[value] ? value : "unknown";
    if (this.getAttribute("state") === state && this.childElementCount) return;
    const info = HEALTH[state];
    this.setAttribute("state", state);
    this.className = `badge badge-${state}`;
    this.title = info.help;
    replaceChildren(this, icon(info.icon, { size: 14 }), info.label);
  }
}

customElements.define("health-badge", HealthBadge);
