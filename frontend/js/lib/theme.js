// The colour scheme in use. The setting `theme` is "system", "light" or "dark"; the page always
// shows one scheme, written on <html> as `data-theme="light"|"dark"`, which the stylesheets
// follow (`:root[data-theme="dark"]` holds the dark palette, once per file). "system" follows
// the OS (prefers-color-scheme), also when it changes while the app runs.
//
// Code that draws with colours (charts) asks `isDark()` and redraws on `onThemeChange`, instead
// of asking matchMedia itself: the setting may overrule the OS.
//
// The last setting applied is remembered in localStorage, so a reload starts in the right
// scheme before the settings have been read; until this module runs, base.css paints the page
// in the OS's system colours (`:root:not([data-theme])`).

const THEMES = ["system", "light", "dark"];
const STORE_KEY = "miaoda.theme";
const systemDark = window.matchMedia("(prefers-color-scheme: dark)");
const listeners = new Set();

let preference = remembered();

function remembered() {
  try {
    const value = localStorage.getItem(STORE_KEY);
    return THEMES.includes(value) ? value : "system";
  } catch {
    return "system";
  }
}

function scheme() {
  if (preference !== "system") return preference;
  return systemDark.matches ? "dark" : "light";
}

function render() {
  const next = scheme();
  const root = document.documentElement;
  if (root.dataset.theme === next) return;
  root.dataset.theme = next;
  for (const listener of listeners) listener(next);
}

/** Apply the setting `theme` ("system", "light" or "dark"; anything else counts as "system"). */
export function applyTheme(theme) {
  preference = THEMES.includes(theme) ? theme : "system";
  try {
    localStorage.setItem(STORE_KEY, preference);
  } catch {
    /* storage may be off: the next start follows the OS until the settings are read */
  }
  render();
}

/** Whether the page is dark now (the setting, or the OS when the setting is "system"). */
export function isDark() {
  return scheme() === "dark";
}

/** Call `listener(scheme)` ("light" or "dark") after every change; returns a stop function. */
export function onThemeChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

systemDark.addEventListener("change", render);
render();
