// Which provider and model <chat-view> sends to. The list comes with each provider's cached
// health (no request to any provider) and is read again each time the view is shown. An open
// conversation uses its stored provider and model (the provider's `model` when it has none, the
// choice below when its provider is gone); a new one keeps what the picker shows, or takes the
// provider chosen last (else the healthiest) with its default model. A provider or model chosen
// in an open conversation is saved to it at once.
//
// Routes can be chosen like providers (docs/API.md, Routes). `current()` then gives the route
// as a choice of its own — {id, displayName, isRoute: true, route, memberNames, model: ""} —
// and `model` is null: a route is asked without a model.
import { rememberProvider, rememberedProvider } from "../lib/chat-store.js";
import { t } from "../lib/i18n.js";
import { providerStore } from "../services/provider-store.js";
import { routeService } from "../services/route-service.js";
import { orderByHealth } from "./chat-provider-picker.js";
import { toast } from "./toast-region.js";

export class ProviderChoice {
  /** `view` is the <chat-view> (see its header for what is used of it), `picker` its <chat-provider-picker>. */
  constructor(view, picker, store = providerStore, routes = routeService) {
    this._view = view;
    this._picker = picker;
    this._store = store;
    this._routeService = routes;
    this._statuses = new Map();
    this._seq = 0;
    this.list = [];
    this.routes = [];
    this.loaded = false;
    this.failure = null; // why the last load failed, until one succeeds
    this.id = "";
    this.model = "";
    picker.addEventListener("provider-change", (event) => this._chooseProvider(event.detail.id));
    picker.addEventListener("model-change", (event) => this._chooseModel(event.detail.model));
  }

  /**
   * Read the providers and their cached health (into the provider store, which the picker
   * follows) and the routes; false when a newer load started meanwhile.
   */
  async load() {
    const seq = ++this._seq;
    const [list, routes] = await Promise.all([this._store.load(), this._routeService.getRoutes()]);
    if (seq !== this._seq) return false;
    if (!list.success) {
      this.failure = list.error;
      return true;
    }
    this.failure = null;
    this.loaded = true;
    this.list = this._store.providers;
    this._statuses = this._store.statuses;
    // Without the routes (an older app, a failed read) the providers still work.
    this.routes = routes.success ? routes.routes : [];
    this._picker.routes = this.routes;
    return true;
  }

  /** The chosen provider or route (see the header), or null. */
  current() {
    const provider = this.list.find((p) => p.id === this.id);
    if (provider) return provider;
    const route = this.routes.find((r) => r.id === this.id);
    if (!route) return null;
    const memberNames = route.members.map((id) => this.name(id)).filter(Boolean);
    return {
      id: route.id,
      displayName: route.displayName,
      isRoute: true,
      route,
      memberNames,
      model: "",
      requestURL: "",
    };
  }

  /** The display name of provider or route `id`, or "" when it is gone. */
  name(id) {
    const found = this.list.find((p) => p.id === id) || this.routes.find((r) => r.id === id);
    return found ? found.displayName : "";
  }

  _isRoute(id) {
    return this.routes.some((r) => r.id === id);
  }

  /** Choose for `conversation` (null: a new one), and show the choice in the picker. */
  apply(conversation) {
    const ids = new Set([...this.list.map((p) => p.id), ...this.routes.map((r) => r.id)]);
    if (conversation && ids.has(conversation.providerId)) {
      this.id = conversation.providerId;
      this.model = conversation.model || this.current().model;
    } else if (conversation || !ids.has(this.id)) {
      const remembered = rememberedProvider();
      this.id = ids.has(remembered) ? remembered : (orderByHealth(this.list, this._statuses)[0] || {}).id || "";
      this.model = this.current() ? this.current().model : "";
    }
    if (!this.model && this.current()) this.model = this.current().model;
    if (this._isRoute(this.id)) this.model = null;
    this._picker.value = this.id;
    this._picker.model = this.model;
  }

  _chooseProvider(id) {
    this.id = id;
    this.model = this._isRoute(id) ? null : this.current() ? this.current().model : "";
    this._picker.model = this.model;
    rememberProvider(id);
    this._save();
    this._view.renderState();
  }

  _chooseModel(model) {
    this.model = model;
    this._save();
    this._view.renderState();
  }

  async _save() {
    const view = this._view;
    const id = view.conversationId;
    if (!id || view.state !== "ready") return;
    const result = await view.conversations.update(id, { providerId: this.id, model: this.model });
    if (!result.success)
      return toast({ kind: "error", title: t("chat.view.saveFailed"), message: result.error.message });
    if (id === view.conversationId) view.conversation = result.conversation;
    view.changed(id);
  }
}
