// CustomProviderService: the provider operations the views use, under service-layer names.
// Thin over bridge.js: every method resolves to the envelope of docs/API.md.
import { call } from "../bridge.js";

export class CustomProviderService {
  /** `caller(method, ...args)` defaults to the real bridge; tests may pass another. */
  constructor(caller = call) {
    this._call = caller;
    this._templates = null;
  }

  addProvider(config, options = { validate: true }) {
    return this._call("addCustomProvider", config, options);
  }

  updateProvider(id, updates, options = { validate: true }) {
    return this._call("updateCustomProvider", id, updates, options);
  }

  removeProvider(id) {
    return this._call("removeCustomProvider", id);
  }

  /** One more key for the provider's pool; resolves to the envelope with the new `provider`. */
  addKey(id, key) {
    return this._call("addProviderKey", id, key);
  }

  removeKey(id, keyId) {
    return this._call("removeProviderKey", id, keyId);
  }

  /** A cooling, invalid or exhausted key back to `active`. */
  resetKey(id, keyId) {
    return this._call("resetProviderKey", id, keyId);
  }

  getProviders() {
    return this._call("getAllCustomProviders");
  }

  getProvider(id) {
    return this._call("getCustomProvider", id);
  }

  checkHealth(id) {
    return this._call("checkCustomProviderHealth", id);
  }

  checkAllHealth() {
    return this._call("checkAllCustomProvidersHealth");
  }

  /** Cached statuses: sends no request to any provider. */
  getHealthStatuses() {
    return this._call("getAllProviderHealthStatuses");
  }

  exportProviders(options = {}) {
    return this._call("exportCustomProviders", options);
  }

  importProviders(options = {}) {
    return this._call("importCustomProviders", options);
  }

  /** A connection test without saving: an id, a whole config, or `{id, ...edits}`. */
  testConnection(configOrId) {
    return this._call("testProviderConnection", configOrId);
  }

  listModels(id) {
    return this._call("listProviderModels", id);
  }

  /** What a pasted URL (and key) points at: candidates, best first, and the probes sent. */
  detectProvider(url, apiKey = "") {
    return this._call("detectProvider", apiKey ? { url, apiKey } : { url });
  }

  /** Templates never change while the app runs, so the first good answer is kept. */
  async getTemplates() {
    if (this._templates) return this._templates;
    const result = await this._call("getProviderTemplates");
    if (result.success) this._templates = result;
    return result;
  }

  /** Statuses changed since `cursor` (all, without one), and who is being checked now. */
  getHealthUpdates(cursor) {
    return cursor ? this._call("getHealthUpdates", cursor) : this._call("getHealthUpdates");
  }

  getHealthHistory(id, options) {
    return this._call("getHealthHistory", id, options);
  }

  getAppInfo() {
    return this._call("getAppInfo");
  }
}

/** The instance the app uses. */
export const providerService = new CustomProviderService();
