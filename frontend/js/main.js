// Entry point. bridge.js is imported first so the token leaves the address bar before anything
// reads the hash; then the settings and the language they choose are loaded, and the shell
// takes over <md-app>.
import "./bridge.js";
import { startI18n } from "./lib/i18n.js";
import { settingsService } from "./services/settings-service.js";

const loaded = await settingsService.load();
await startI18n(loaded.success ? loaded.language || loaded.settings.language : "system");
await import("./components/app-shell.js");
