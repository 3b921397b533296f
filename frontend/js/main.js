// Entry point. bridge.js is imported first so the token leaves the address bar before anything
// reads the hash. The shell's modules then load while the settings and the catalogues of the
// language they choose are read; <md-app> is put in the page once both are there, so its
// first render is already in that language.
import "./bridge.js";
import { startI18n } from "./lib/i18n.js";
import { settingsService } from "./services/settings-service.js";

const shell = import("./components/app-shell.js");
const loaded = await settingsService.load();
await startI18n(loaded.success ? loaded.language || loaded.settings.language : "system");
await shell;
const app = document.createElement("md-app");
app.id = "app";
document.body.prepend(app);
