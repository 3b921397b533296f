// The app's keyboard shortcuts: which keys do what, how a key press is matched, and how keys are
// written for this computer (⌘ on a Mac, Ctrl elsewhere). The shell acts on them; the shortcuts
// sheet lists them.
//
// A browser keeps some keys for itself and never hands them to a page: Ctrl+N (new window),
// Ctrl+T, Ctrl+W, Ctrl+Shift+N, Ctrl+Shift+T, Ctrl+Tab. In a browser (`miaoda serve`), a new
// conversation is therefore Alt+N (⌥N), which also works in the desktop window.
import { t } from "./i18n.js";

export const IS_MAC = /mac|iphone|ipad/i.test(navigator.userAgentData?.platform || navigator.platform || "");

// `mod` is Ctrl, or ⌘ on a Mac (either is accepted on any system). `shift: "any"`: "?" is
// Shift+/ on some keyboards and a key of its own on others.
const NEW_IN_WINDOW = { mod: true, key: "n" };
const NEW_ANYWHERE = { alt: true, key: "n" };
const BINDINGS = {
  newConversation: { window: [NEW_IN_WINDOW, NEW_ANYWHERE], browser: [NEW_ANYWHERE] },
  search: { any: [{ mod: true, key: "k" }] },
  settings: { any: [{ mod: true, key: "," }] },
  copyLastReply: { any: [{ mod: true, shift: true, key: "c" }] },
  stop: { any: [{ key: "Escape" }] },
  shortcuts: { any: [{ key: "?", shift: "any" }] },
};
const LABEL_KEYS = {
  newConversation: "shell.shortcuts.newConversation",
  search: "shell.shortcuts.search",
  settings: "shell.shortcuts.settings",
  copyLastReply: "shell.shortcuts.copyLastReply",
  stop: "shell.shortcuts.stop",
  shortcuts: "shell.shortcuts.sheet",
};

/** The combinations that do `id` in this transport ("pywebview" or "http"); the first is shown. */
export function bindings(id, transport) {
  const entry = BINDINGS[id];
  return entry.any || (transport === "http" ? entry.browser : entry.window);
}

/** The id of the shortcut `event` is (see BINDINGS), or null. */
export function shortcutOf(event, transport) {
  for (const id of Object.keys(BINDINGS)) {
    if (bindings(id, transport).some((combo) => matches(event, combo))) return id;
  }
  return null;
}

function matches(event, combo) {
  const shift = combo.shift ?? false;
  return (
    Boolean(combo.mod) === (event.ctrlKey || event.metaKey) &&
    Boolean(combo.alt) === event.altKey &&
    (shift === "any" || shift === event.shiftKey) &&
    keyOf(event) === combo.key
  );
}

// Alt (Option on a Mac) changes the character a letter key types, and a keyboard for another
// script types other letters: a letter shortcut is then read from the key's place (KeyN).
function keyOf(event) {
  const key = event.key || "";
  if (/^Key[A-Z]$/.test(event.code || "") && (event.altKey || !/^[\x20-\x7e]$/.test(key))) {
    return event.code.slice(3).toLowerCase();
  }
  return key.length === 1 ? key.toLowerCase() : key;
}

/** The shortcuts for the sheet: [{id, label, keys}] with `keys` written for this computer. */
export function shortcutList(transport) {
  return Object.keys(BINDINGS).map((id) => ({
    id,
    label: t(LABEL_KEYS[id]),
    keys: formatCombo(bindings(id, transport)[0]),
  }));
}

// Key caps stay as keyboards print them (Ctrl, Shift, Esc), in Chinese too: docs/TRANSLATION.md.
const CAPS = { Escape: "Esc", Enter: "Enter", ",": ",", "?": "?" };

/** A combination as this computer writes it: "Ctrl+Shift+C", "⌘⇧C", "Alt+N", "⌥N". */
export function formatCombo(combo) {
  const cap = CAPS[combo.key] || combo.key.toUpperCase();
  const shift = combo.shift === true;
  if (IS_MAC) return `${combo.alt ? "⌥" : ""}${shift ? "⇧" : ""}${combo.mod ? "⌘" : ""}${cap}`;
  return [combo.mod && "Ctrl", combo.alt && "Alt", shift && "Shift", cap].filter(Boolean).join("+");
}

/** The keys that send a message and start a new line, for the setting `sendKey`. */
export function sendKeys(sendKey) {
  const enter = { key: "Enter" };
  const modEnter = { mod: true, key: "Enter" };
  const shiftEnter = { shift: true, key: "Enter" };
  return sendKey === "ctrl-enter"
    ? { send: formatCombo(modEnter), newLine: formatCombo(enter) }
    : { send: formatCombo(enter), newLine: formatCombo(shiftEnter) };
}

/** The key the browser keeps and the one the app offers instead, for the sheet's note. */
export function browserReserved() {
  return { reserved: formatCombo(NEW_IN_WINDOW), instead: formatCombo(NEW_ANYWHERE) };
}
