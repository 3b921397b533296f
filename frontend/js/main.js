// Entry point. bridge.js is imported first so the token leaves the address bar before anything
// reads the hash; then the shell takes over <md-app>.
import "./bridge.js";
import "./components/app-shell.js";
