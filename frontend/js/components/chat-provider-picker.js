// <chat-provider-picker>: which provider the conversation talks to. A native <select> (so it
// works with the keyboard and screen readers everywhere), grouped by health with healthy
// providers first; degraded and unhealthy ones say so in their name and stay selectable.
// The chosen provider's health badge sits beside it.
//
// Event (bubbling): `provider-change` {id}.
import { h, uid } from "../lib/dom.js";
import "./health-badge.js";

const GROUPS = [
  ["healthy", "Healthy"],
  ["degraded", "Degraded"],
  ["unknown", "Not checked yet"],
  ["unhealthy", "Unhealthy"],
];

/** Providers in the order the picker shows them: healthy first, then by display name. */
export function orderByHealth(providers, statuses) {
  const rank = new Map(GROUPS.map(([state], index) => [state, index]));
  const stateOf = (p) => (statuses.get(p.id) || {}).status || "unknown";
  return [...providers].sort((a, b) => rank.get(stateOf(a)) - rank.get(stateOf(b)) || a.displayName.localeCompare(b.displayName));
}

export class ChatProviderPicker extends HTMLElement {
  constructor() {
    super();
    this._providers = [];
    this._statuses = new Map();
    this._value = "";
  }

  connectedCallback() {
    if (this._select) return;
    this.classList.add("provider-picker");
    const id = uid("chat-provider");
    this._select = h("select", { id, class: "input select picker-select" });
    this._select.addEventListener("change", () => {
      this._value = this._select.value;
      this._syncBadge();
      this.dispatchEvent(new CustomEvent("provider-change", { bubbles: true, detail: { id: this._value } }));
    });
    this._badge = h("health-badge"); // it sets its own classes
    this.append(h("label", { class: "picker-label", for: id }, "Provider"), this._select, this._badge);
    this._render();
  }

  /** Set providers and their cached statuses (a Map by id) together, keeping the choice. */
  setProviders(providers, statuses) {
    this._providers = providers;
    this._statuses = statuses;
    this._render();
  }

  /** The chosen provider's id ("" when there is none). */
  get value() {
    return this._value;
  }

  set value(id) {
    this._value = id || "";
    this._render();
  }

  _render() {
    if (!this._select) return;
    const groups = new Map(GROUPS.map(([state, label]) => [state, h("optgroup", { label })]));
    for (const provider of orderByHealth(this._providers, this._statuses)) {
      const state = this._state(provider.id);
      const suffix = state === "unhealthy" || state === "degraded" ? ` — ${state}` : "";
      const option = h("option", { value: provider.id }, `${provider.displayName} · ${provider.model}${suffix}`);
      option.dataset.health = state;
      groups.get(state).append(option);
    }
    const filled = [...groups.values()].filter((g) => g.childElementCount);
    // One group alone needs no heading.
    this._select.replaceChildren(...(filled.length === 1 ? [...filled[0].children] : filled));
    this._select.disabled = this._providers.length === 0;
    this._select.value = this._value;
    this.hidden = this._providers.length === 0;
    this._syncBadge();
  }

  _syncBadge() {
    this._badge.hidden = !this._value;
    if (this._value) this._badge.state = this._state(this._value);
  }

  _state(id) {
    return (this._statuses.get(id) || {}).status || "unknown";
  }
}

customElements.define("chat-provider-picker", ChatProviderPicker);
