// <health-badge>: a provider's health as an icon, a word and a colour (never colour alone).
// `shownState()` and `probeText()` turn a health status into what the list says about it.
import { replaceChildren } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { relativeTime } from "../lib/format.js";

/** Each state's icon, word and tooltip (keys for t()). */
export const HEALTH = {
  healthy: { label: "providers.health.healthy.label", icon: "check", help: "providers.health.healthy.help" },
  degraded: { label: "providers.health.degraded.label", icon: "alert", help: "providers.health.degraded.help" },
  unhealthy: { label: "providers.health.unhealthy.label", icon: "x", help: "providers.health.unhealthy.help" },
  unknown: { label: "providers.health.unknown.label", icon: "question", help: "providers.health.unknown.help" },
  checking: { label: "providers.health.checking.label", icon: "pulse", help: "providers.health.checking.help" },
};

/**
 * The state a status is shown as. When real chats decide it (`basis: "chats"`, HEALTH.md)
 * and they are failing, it is never "Healthy", whatever a probe said.
 */
export function shownState(status) {
  if (!status) return "unknown";
  const state = HEALTH[status.status] ? status.status : "unknown";
  return state === "healthy" && chatsFailing(status) ? "unhealthy" : state;
}

/** How many chats in a row failed when they decide the status, else 0. */
export function chatsFailing(status) {
  if (!status || status.basis !== "chats") return 0;
  const failures = status.recentChats && status.recentChats.failuresInARow;
  return Number.isFinite(failures) ? failures : 1;
}

/** What was probed and when: "Checked model list 2 minutes ago", "Checked with a one-token chat …". */
export function probeText(status, now = Date.now()) {
  if (!status || !status.lastChecked) return t("providers.health.probe.never");
  const when = relativeTime(status.lastChecked, now);
  if (status.checkKind === "chat") return t("providers.health.probe.chat", { when });
  if (status.checkKind === "models") return t("providers.health.probe.models", { when });
  return t("providers.health.probe.other", { when });
}

/** "The last chat failed" / "Last 3 chats failed". */
export function chatsFailedText(count) {
  return t("providers.health.chatsFailed", { count });
}

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
    this.title = this._note || t(info.help);
    replaceChildren(this, icon(info.icon, { size: 14 }), t(info.label));
  }

  /** A tooltip that says more than the state's usual help (null: the usual help). */
  set note(value) {
    this._note = value || null;
    this.title = this._note || t(HEALTH[this.state].help);
  }
}

customElements.define("health-badge", HealthBadge);
