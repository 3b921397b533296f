// The providers and their cached health statuses (each with its circuit), held once for the
// whole page: the providers view and the chat's provider picker read them here instead of each
// asking the backend. `load()` reads both (no request to any provider); the views that change a
// provider or learn a status (a save, a check, a key added) put it here, and every subscriber
// hears of it. Who refreshes when stays with the views: the providers view every 30 s while it
// is shown, the chat view each time it is shown.
//
// Provider objects keep their identity while they do not change, so a subscriber can compare
// them (`card.provider !== provider`) and re-render only what changed.
import { providerService } from "./custom-provider-service.js";

export class ProviderStore extends EventTarget {
  #service;
  #providers = [];
  #statuses = new Map();
  #loaded = false;
  #reading = null; // the read under way
  #queued = null; // the read that follows it

  constructor(service = providerService) {
    super();
    this.#service = service;
  }

  /** The providers, in the backend's order (do not change the array). */
  get providers() {
    return this.#providers;
  }

  /** The cached statuses by provider id (do not change the map). */
  get statuses() {
    return this.#statuses;
  }

  /** Whether the providers were read at least once. */
  get loaded() {
    return this.#loaded;
  }

  /** The provider `id`, or undefined. */
  find(id) {
    return this.#providers.find((p) => p.id === id);
  }

  /** The cached status of provider `id`, or null. */
  status(id) {
    return this.#statuses.get(id) || null;
  }

  /** Call `listener(store)` after every change; returns the function that stops it. */
  subscribe(listener) {
    const handler = () => listener(this);
    this.addEventListener("change", handler);
    return () => this.removeEventListener("change", handler);
  }

  /**
   * Read the providers and their statuses; resolves to `{success}` or `{success: false, error}`
   * (the providers' read failed; what was known stays). Asked while a read runs, it reads once
   * more after that one, so what it resolves with is never older than the call.
   */
  load() {
    if (!this.#reading) return this.#read();
    this.#queued ??= this.#reading.then(() => {
      this.#queued = null;
      return this.#read();
    });
    return this.#queued;
  }

  #read() {
    const reading = Promise.all([this.#service.getProviders(), this.#service.getHealthStatuses()]).then(
      ([list, health]) => {
        if (this.#reading === reading) this.#reading = null;
        if (!list.success) return { success: false, error: list.error };
        this.#loaded = true;
        this.#takeProviders(list.providers);
        if (health.success) this.#statuses = new Map(health.statuses.map((s) => [s.providerId, s]));
        this.#changed();
        return { success: true };
      },
    );
    this.#reading = reading;
    return reading;
  }

  /** Read the statuses alone; the providers too when the statuses name others (changed elsewhere). */
  async refreshStatuses() {
    const health = await this.#service.getHealthStatuses();
    if (!health.success) return health;
    const known = new Set(this.#providers.map((p) => p.id));
    const elsewhere = health.statuses.length !== known.size || health.statuses.some((s) => !known.has(s.providerId));
    if (elsewhere) return this.load();
    this.setStatuses(health.statuses);
    return { success: true };
  }

  /** Statuses learnt from a check or from the backend's updates. */
  setStatuses(statuses) {
    if (!statuses.length) return;
    const next = new Map(this.#statuses);
    for (const status of statuses) next.set(status.providerId, status);
    this.#statuses = next;
    this.#changed();
  }

  /** A provider as the backend returned it after a change (a save, a key added or removed). */
  putProvider(provider) {
    const index = this.#providers.findIndex((p) => p.id === provider.id);
    this.#providers =
      index < 0 ? [...this.#providers, provider] : this.#providers.map((p, i) => (i === index ? provider : p));
    this.#changed();
  }

  /** A provider deleted from this page. */
  removeProvider(id) {
    this.#providers = this.#providers.filter((p) => p.id !== id);
    const next = new Map(this.#statuses);
    next.delete(id);
    this.#statuses = next;
    this.#changed();
  }

  // Unchanged providers keep their objects (see the header).
  #takeProviders(fresh) {
    const before = new Map(this.#providers.map((p) => [p.id, p]));
    this.#providers = fresh.map((p) => {
      const old = before.get(p.id);
      return old && JSON.stringify(old) === JSON.stringify(p) ? old : p;
    });
  }

  #changed() {
    this.dispatchEvent(new Event("change"));
  }
}

/** The store the app uses. */
export const providerStore = new ProviderStore();
