// The translation layer: every string the user sees is looked up here by key, and every date,
// time, number and relative time is formatted here with `Intl` in the chosen language.
//
// Catalogues are JSON files, one per area of the UI and language: frontend/locales/<lang>/<area>.json.
// A key is "<area>.<path>" (providers.form.name). A value is text with `{name}` parameters, or,
// for a plural, an object keyed by `Intl.PluralRules` categories that always has `other`
// ({"one": "{count} provider", "other": "{count} providers"}); `t()` picks the form by
// `params.count`. docs/TRANSLATION.md has the rules and the word list; tests/unit/test_i18n.py
// fails when a key is missing in a language, or is never used.
//
// The language is "en" or "zh-CN". `startI18n()` loads it before the first render; changing it
// (`setLanguage`) loads the other catalogue and tells every listener (`onLanguageChange`), and
// the shell renders itself again: no restart.

import { readAppJson } from "../bridge.js";

export const LANGUAGES = ["en", "zh-CN"];
export const AREAS = ["common", "shell", "providers", "chat", "routes", "usage", "settings", "mcp"];
const PLURAL_FORMS = new Set(["zero", "one", "two", "few", "many", "other"]);

let language = "en";
let messages = new Map();
let pluralRules = new Intl.PluralRules("en");
const listeners = new Set();

/** The language in use: "en" or "zh-CN". */
export function currentLanguage() {
  return language;
}

/** A preference ("system", "en", "zh-CN") as a language the app has. */
export function resolveLanguage(preference, preferred = navigator.languages || [navigator.language]) {
  if (LANGUAGES.includes(preference)) return preference;
  for (const tag of preferred) {
    const lower = String(tag || "").toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

function flatten(area, tree, into, prefix = area) {
  for (const [name, value] of Object.entries(tree)) {
    const key = `${prefix}.${name}`;
    if (typeof value === "string" || isPlural(value)) into.set(key, value);
    else if (value && typeof value === "object") flatten(area, value, into, key);
  }
  return into;
}

function isPlural(value) {
  if (!value || typeof value !== "object" || typeof value.other !== "string") return false;
  return Object.keys(value).every((form) => PLURAL_FORMS.has(form));
}

async function loadCatalogue(lang) {
  const into = new Map();
  const files = await Promise.all(
    AREAS.map(async (area) => {
      const url = new URL(`../../locales/${lang}/${area}.json`, import.meta.url);
      return [area, await readAppJson(url.href)];
    }),
  );
  for (const [area, tree] of files) flatten(area, tree, into);
  return into;
}

/** Load `lang` (a language of LANGUAGES) and make it current; listeners hear of a change. */
export async function setLanguage(lang) {
  const next = LANGUAGES.includes(lang) ? lang : "en";
  const loaded = await loadCatalogue(next);
  const changed = next !== language;
  language = next;
  messages = loaded;
  pluralRules = new Intl.PluralRules(next);
  document.documentElement.lang = next;
  if (changed) for (const listener of listeners) listener(next);
}

/** Before the first render: the language the user chose (settings), else the system's. */
export async function startI18n(preference = "system") {
  await setLanguage(resolveLanguage(preference));
}

/** Call `listener(lang)` after every change of language; returns a function that stops it. */
export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The text of `key` in the current language, its `{name}` parameters filled from `params`. */
export function t(key, params = {}) {
  const entry = messages.get(key);
  if (entry === undefined) {
    console.warn(`i18n: no text for ${key} in ${language}`);
    return key;
  }
  const text = typeof entry === "string" ? entry : entry[pluralRules.select(Number(params.count))] || entry.other;
  return fill(text, params);
}

/** Whether `key` has a text (for optional keys such as the advice of an unknown error code). */
export function hasText(key) {
  return messages.has(key);
}

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in params)) return whole;
    const value = params[name];
    return typeof value === "number" ? formatNumber(value) : String(value);
  });
}

/** A number in the current language ("1,234.5"); `options` are Intl.NumberFormat's. */
export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(language, options).format(value);
}

/** A date, a time or both, as Intl.DateTimeFormat gives them for `options`. */
export function formatDate(value, options = { dateStyle: "medium" }) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(language, options).format(date);
}

const RELATIVE_UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["week", 7 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

/** "5 minutes ago", "in 2 hours", "5 分钟前", from a time (ISO text, Date or ms). */
export function formatRelative(value, now = Date.now(), options = { numeric: "auto", style: "long" }) {
  const then = value instanceof Date ? value.getTime() : typeof value === "number" ? value : Date.parse(value);
  if (Number.isNaN(then)) return "";
  const seconds = Math.round((then - now) / 1000);
  const format = new Intl.RelativeTimeFormat(language, options);
  for (const [unit, size] of RELATIVE_UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") return format.format(Math.round(seconds / size), unit);
  }
  return "";
}

/** "A, B and C" / "A、B和C". */
export function formatList(items, options = { type: "conjunction" }) {
  return new Intl.ListFormat(language, options).format(items.map(String));
}

/**
 * Translate the static markup under `root`: `data-i18n` sets the text, and
 * `data-i18n-title`, `data-i18n-placeholder`, `data-i18n-aria-label` set those attributes.
 */
export function applyTranslations(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const [data, attribute] of [
    ["i18nTitle", "title"],
    ["i18nPlaceholder", "placeholder"],
    ["i18nAriaLabel", "aria-label"],
  ]) {
    const selector = `[data-${attribute === "aria-label" ? "i18n-aria-label" : `i18n-${attribute}`}]`;
    for (const element of root.querySelectorAll(selector)) element.setAttribute(attribute, t(element.dataset[data]));
  }
}
