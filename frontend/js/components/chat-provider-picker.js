// <chat-provider-picker>: which provider and which of its models the conversation talks to.
// The provider is a native <select> (so it works with the keyboard and screen readers
// everywhere), grouped by health with healthy providers first; degraded and unhealthy ones say
// so in their name and stay selectable. The chosen provider's health badge sits beside it, then
// the model (<model-picker>: the provider's model list, or any id typed).
//
// The providers and their cached statuses come from the provider store (services/provider-store.js),
// shared with the providers view: the picker follows it while it is on the page. The routes are
// set by its owner (`routes`).
//
// Routes (docs/API.md, Routes) follow the providers in a group of their own, each named with its
// strategy and members. A route has no health of its own and no model to choose (each member
// uses its own; the server refuses a model with a route), so with one chosen the badge and the
// model picker hide.
//
// Model lists come from `listModels` (a request to the provider), so they are cached per
// provider in memory and in localStorage with when they were fetched: a cached list shows at
// once, and one older than MODELS_FRESH_MS is refreshed in the background. Nothing waits for it.
//
// Events (bubbling): `provider-change` {id}, `model-change` {model}.
import { h, uid } from "../lib/dom.js";
import { cacheModels, cachedModels } from "../lib/chat-store.js";
import { joinParts } from "../lib/format.js";
import { t } from "../lib/i18n.js";
import { providerService } from "../services/custom-provider-service.js";
import { providerStore } from "../services/provider-store.js";
import "./health-badge.js";
import "./model-picker.js";

const MODELS_FRESH_MS = 10 * 60 * 1000;

// The option groups, healthiest first, and how a provider's option says a state that matters.
const GROUPS = [
  ["healthy", "providers.picker.group.healthy"],
  ["degraded", "providers.picker.group.degraded"],
  ["unknown", "providers.picker.group.unknown"],
  ["unhealthy", "providers.picker.group.unhealthy"],
];
const OPTION_STATES = {
  degraded: "providers.picker.option.degraded",
  unhealthy: "providers.picker.option.unhealthy",
};
// A route's strategy, as its option names it (in English the strategy's own value).
const STRATEGIES = {
  failover: "providers.picker.strategy.failover",
  "round-robin": "providers.picker.strategy.roundRobin",
  fastest: "providers.picker.strategy.fastest",
};

/** Providers in the order the picker shows them: healthy first, then by display name. */
export function orderByHealth(providers, statuses) {
  const rank = new Map(GROUPS.map(([state], index) => [state, index]));
  const stateOf = (p) => (statuses.get(p.id) || {}).status || "unknown";
  return [...providers].sort(
    (a, b) => rank.get(stateOf(a)) - rank.get(stateOf(b)) || a.displayName.localeCompare(b.displayName),
  );
}

export class ChatProviderPicker extends HTMLElement {
  constructor() {
    super();
    this._providers = [];
    this._routes = [];
    this._statuses = new Map();
    this._value = "";
    this._model = "";
    this.service = providerService;
    this.store = providerStore;
    this._lists = new Map(); // providerId → {models, at} fetched or read from the cache
    this._fetching = new Set();
  }

  connectedCallback() {
    this._unsubscribe = this.store.subscribe(() => this._takeStore());
    if (!this._select) this._build();
    this._takeStore();
  }

  _build() {
    this.classList.add("provider-picker");
    const id = uid("chat-provider");
    this._select = h("select", { id, class: "input select picker-select" });
    this._select.addEventListener("change", () => {
      this._value = this._select.value;
      this._syncBadge();
      this._syncModels();
      this.dispatchEvent(new CustomEvent("provider-change", { bubbles: true, detail: { id: this._value } }));
    });
    this._badge = h("health-badge"); // it sets its own classes
    this._models = h("model-picker");
    this._models.addEventListener("model-change", (event) => {
      this._model = event.detail.model;
    });
    this.append(
      h(
        "div",
        { class: "provider-field" },
        h("label", { class: "picker-label", for: id }, t("providers.picker.label")),
        this._select,
        this._badge,
      ),
      this._models,
    );
  }

  /** The chosen model ("" until a provider is chosen). */
  get model() {
    return this._model;
  }

  set model(value) {
    this._model = value || "";
    if (this._models) this._models.value = this._model;
  }

  disconnectedCallback() {
    this._unsubscribe?.();
  }

  /** The routes offered after the providers, keeping the choice. */
  set routes(routes) {
    this._routes = routes || [];
    this._render();
  }

  // The store's providers and statuses, keeping the choice.
  _takeStore() {
    this._providers = this.store.providers;
    this._statuses = this.store.statuses;
    this._render();
  }

  /** Whether `id` (default: the chosen one) is a route. */
  isRoute(id = this._value) {
    return this._routes.some((r) => r.id === id);
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
    const groups = new Map(GROUPS.map(([state, label]) => [state, h("optgroup", { label: t(label) })]));
    for (const provider of orderByHealth(this._providers, this._statuses)) {
      const state = this._state(provider.id);
      const name = `${provider.displayName} · ${provider.model}`;
      const text = OPTION_STATES[state] ? t(OPTION_STATES[state], { name }) : name;
      const option = h("option", { value: provider.id }, text);
      option.dataset.health = state;
      groups.get(state).append(option);
    }
    const names = new Map(this._providers.map((p) => [p.id, p.displayName]));
    const routes = h("optgroup", { label: t("providers.picker.routes") });
    for (const route of this._routes) {
      const members = route.members.map((id) => names.get(id)).filter(Boolean);
      const strategy = STRATEGIES[route.strategy] ? t(STRATEGIES[route.strategy]) : route.strategy;
      const text = members.length
        ? t("providers.picker.route", { name: route.displayName, strategy, members: joinParts(members) })
        : t("providers.picker.emptyRoute", { name: route.displayName });
      const option = h("option", { value: route.id }, text);
      option.dataset.route = "";
      routes.append(option);
    }
    const filled = [...groups.values(), routes].filter((g) => g.childElementCount);
    // One group alone needs no heading.
    this._select.replaceChildren(
      ...(filled.length === 1 && !routes.childElementCount ? [...filled[0].children] : filled),
    );
    this._select.disabled = this._providers.length === 0;
    this._select.value = this._value;
    this.hidden = this._providers.length === 0;
    this._syncBadge();
    this._syncModels();
  }

  // Show the chosen provider's models: cached ones now, fresh ones when they arrive.
  _syncModels() {
    const provider = this._providers.find((p) => p.id === this._value);
    this._models.hidden = this.isRoute();
    this._models.disabled = !provider;
    this._models.value = this._model;
    if (!provider) return;
    const known = this._lists.get(provider.id) || cachedModels(provider.id);
    if (known) this._lists.set(provider.id, known);
    this._models.setModels(known ? known.models : [], provider.model);
    if (!known || Date.now() - known.at > MODELS_FRESH_MS) this._refreshModels(provider);
  }

  async _refreshModels(provider) {
    if (this._fetching.has(provider.id)) return;
    this._fetching.add(provider.id);
    if (!this._lists.has(provider.id)) this._models.loading = true;
    const result = await this.service.listModels(provider.id);
    this._fetching.delete(provider.id);
    if (result.success && Array.isArray(result.models)) {
      const models = result.models.map(String);
      this._lists.set(provider.id, { models, at: Date.now() });
      cacheModels(provider.id, models);
    } else if (!this._lists.has(provider.id)) {
      // A provider without a model list (or offline): its default model still works, and
      // asking again on every render would send a request each time.
      this._lists.set(provider.id, { models: [], at: Date.now() });
    }
    if (provider.id === this._value) this._models.setModels(this._lists.get(provider.id).models, provider.model);
  }

  _syncBadge() {
    this._badge.hidden = !this._value || this.isRoute();
    if (this._value) this._badge.state = this._state(this._value);
  }

  _state(id) {
    return (this._statuses.get(id) || {}).status || "unknown";
  }
}

customElements.define("chat-provider-picker", ChatProviderPicker);
