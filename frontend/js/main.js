// Entry point. bridge.js is imported first so the token leaves the address bar before anything
// reads the hash; then the language is loaded (the settings' choice, or the system's) and the
// shell takes over <md-app>.
import { call } from "./bridge.js";
import { startI18n } from "./lib/i18n.js";

async function languagePreference() {
  const settings = await call("getSettings");
  return settings.success ? settings.settings.language : "system";
}

await startI18n(await languagePreference());
await import("./components/app-shell.js");
