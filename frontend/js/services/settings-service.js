// The app's settings (CONTRACT §13, docs/API.md "Settings"): loaded once before the first
// render, kept here, changed only through `update`, which tells every listener. The envelope of
// getSettings/updateSettings also carries `language`: the language in effect ("en" or "zh-CN"),
// which is the OS's when the setting is "system" (the backend decides, so both sides agree).
import { call } from "../bridge.js";

const events = new EventTarget();
let current = null;
let language = null;

function take(result) {
  if (!result.success) return result;
  current = result.settings;
  language = result.language || null;
  return result;
}

export const settingsService = {
  /** The settings last loaded or saved (null before `load`). */
  get current() {
    return current;
  },

  /** The language in effect ("en" or "zh-CN"), or null before `load`. */
  get language() {
    return language;
  },

  async load() {
    return take(await call("getSettings"));
  },

  /** Merge `partial` into the settings; on success every `onChange` listener hears of it. */
  async update(partial) {
    const result = take(await call("updateSettings", partial));
    if (result.success) events.dispatchEvent(new CustomEvent("change", { detail: result }));
    return result;
  },

  /** Reach a provider through `request.proxy` (default: the saved proxy): {providerName, latencyMs, via}. */
  testProxy(request = {}) {
    return call("testProxy", request);
  },

  openDataFolder() {
    return call("openDataFolder");
  },

  openLogFile() {
    return call("openLogFile");
  },

  /** `listener({settings, language})` after every successful update; returns a stop function. */
  onChange(listener) {
    const handler = (event) => listener(event.detail);
    events.addEventListener("change", handler);
    return () => events.removeEventListener("change", handler);
  },
};
