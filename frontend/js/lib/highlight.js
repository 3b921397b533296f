// Syntax highlighting for fenced code blocks: the vendored highlight.js core with a fixed set of
// common languages (each grammar is one vendored file; see frontend/vendor/README.md).
//
// The output is an HTML string of `<span class="hljs-…">` around escaped text. highlight.js
// escapes the code itself; markdown.js still passes the result through DOMPurify, which keeps
// only those spans, so a grammar bug cannot put markup on the page.
//
// Only a fence that names a language is highlighted. There is no auto-detection: it runs every
// grammar over the block (tens of milliseconds for a long one), guesses wrong on short snippets,
// and models nearly always name the language.
import hljs from "../../vendor/highlightjs-cdn-assets-11.12.0/core.js";
import bash from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/bash.min.js";
import c from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/c.min.js";
import cpp from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/cpp.min.js";
import csharp from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/csharp.min.js";
import css from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/css.min.js";
import diff from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/diff.min.js";
import dockerfile from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/dockerfile.min.js";
import go from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/go.min.js";
import ini from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/ini.min.js";
import java from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/java.min.js";
import javascript from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/javascript.min.js";
import json from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/json.min.js";
import kotlin from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/kotlin.min.js";
import markdown from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/markdown.min.js";
import php from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/php.min.js";
import plaintext from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/plaintext.min.js";
import python from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/python.min.js";
import ruby from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/ruby.min.js";
import rust from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/rust.min.js";
import shell from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/shell.min.js";
import sql from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/sql.min.js";
import swift from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/swift.min.js";
import typescript from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/typescript.min.js";
import xml from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/xml.min.js";
import yaml from "../../vendor/highlightjs-cdn-assets-11.12.0/languages/yaml.min.js";

const GRAMMARS = {
  bash,
  c,
  cpp,
  csharp,
  css,
  diff,
  dockerfile,
  go,
  ini,
  java,
  javascript,
  json,
  kotlin,
  markdown,
  php,
  plaintext,
  python,
  ruby,
  rust,
  shell,
  sql,
  swift,
  typescript,
  xml,
  yaml,
};
for (const [name, grammar] of Object.entries(GRAMMARS)) hljs.registerLanguage(name, grammar);

// Beyond this a block is shown plain: highlighting is roughly linear but a 100 kB paste would
// still hold the main thread for a noticeable moment.
const MAX_CHARS = 30_000;

/** The language highlight.js knows by `name` or one of its aliases (`py`, `sh`, `html`…). */
export function hasLanguage(name) {
  return Boolean(name) && hljs.getLanguage(name) !== undefined;
}

/** Highlighted HTML for `code` (escaped spans only), or null to show it plain. */
export function highlightCode(code, language) {
  if (!hasLanguage(language) || code.length > MAX_CHARS) return null;
  try {
    return hljs.highlight(code, { language, ignoreIllegals: true }).value;
  } catch {
    return null;
  }
}

// The classes highlight.js puts on its spans: `hljs-keyword`, and for sub-scopes a plain word
// with trailing underscores (`hljs-title function_`, `hljs-title class_ inherited__`).
const HLJS_CLASS = /^(?:hljs-[a-z][\w-]{0,40}|[a-z]{1,20}_{1,3})$/;

/** Whether every class in `value` is one highlight.js produces (what the sanitizer keeps). */
export function isHighlightClass(value) {
  const names = value.trim().split(/\s+/);
  return names.length <= 4 && names.every((name) => HLJS_CLASS.test(name));
}
