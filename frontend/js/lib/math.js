// TeX math in model output: the delimiters (as `marked` extensions) and the rendering (the
// vendored KaTeX, MathML output). markdown.js sanitizes what this produces with the allow-lists
// exported here.
//
// Delimiters: `$…$` and `\(…\)` inline; `$$…$$` and `\[…\]` display, as a block of their own
// or inside a paragraph. A single `$` follows Pandoc's rule so prices stay text: the opening `$`
// has a non-space character right after it, the closing `$` (the next unescaped one) has a
// non-space character right before it and no digit right after it. So `$5 and $10` is text and
// `$x$` is math; `\$` is always a dollar sign. No delimiter spans a blank line, so a block of
// math is one markdown block and streaming can treat it like a paragraph.
//
// KaTeX runs with `output: "mathml"`: the browser lays out MathML natively, so no KaTeX fonts or
// stylesheet are needed (our CSP allows neither inline styles nor remote fonts). `trust: false`
// turns \href, \url, \htmlId, \htmlClass, \htmlStyle and \includegraphics into red text;
// bad TeX is shown as red source; maxSize/maxExpand keep a hostile formula
// from growing huge or looping through macros.
import katex from "../../vendor/katex-0.19.1/katex.mjs";
import { onLanguageChange, t } from "./i18n.js";

const KATEX = {
  output: "mathml",
  throwOnError: true, // bad TeX is shown as its source by renderTex (KaTeX's own error
  // markup carries an inline style, which our CSP refuses even in DOMPurify's inert document)
  trust: false,
  strict: "ignore",
  maxSize: 20, // em: \rule{9999em}{9999em} is capped
  maxExpand: 500, // macro expansions per formula
};
// Longer formulas are shown as their source: KaTeX's time grows with them.
const MAX_TEX = 8_000;
const CACHE_LIMIT = 400;
const cache = new Map();
onLanguageChange(() => cache.clear()); // a formula that failed says why in the language in use

/** MathML markup for `tex` (to be sanitized by the caller). */
export function mathMarkup(tex, display) {
  const key = `${display ? "D" : "I"}${tex}`;
  let markup = cache.get(key);
  if (markup === undefined) {
    markup = tex.length > MAX_TEX ? `<span class="katex-error">${escapeHtml(tex)}</span>` : renderTex(tex, display);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value);
    cache.set(key, markup);
  }
  return display ? `<div class="math-display">${markup}</div>` : `<span class="math-inline">${markup}</span>`;
}

function renderTex(tex, display) {
  try {
    return katex.renderToString(tex, { ...KATEX, displayMode: display });
  } catch (error) {
    // KaTeX's reason is English whatever the language: the tooltip only says the TeX is wrong.
    const title = error instanceof katex.ParseError ? ` title="${escapeHtml(t("chat.markdown.mathError"))}"` : "";
    return `<span class="katex-error"${title}>${escapeHtml(tex)}</span>`;
  }
}

// --- delimiters -------------------------------------------------------------------------------

const BLANK_LINE = /\n[ \t]*\n/;
const BLOCK_RULES = [
  /^ {0,3}\$\$((?:[^$\\]|\\[\s\S]|\$(?!\$))+?)\$\$[ \t]*(?:\n|$)/,
  /^ {0,3}\\\[([\s\S]+?)\\\][ \t]*(?:\n|$)/,
];
const BLOCK_START = /\n {0,3}(?:\$\$|\\\[)/;
const INLINE_RULES = [
  { rule: /^\$\$((?:[^$\\]|\\[\s\S]|\$(?!\$))+?)\$\$/, display: true },
  { rule: /^\\\[([\s\S]+?)\\\]/, display: true },
  { rule: /^\\\(([\s\S]+?)\\\)/, display: false },
  // Pandoc's rule: no space after the opening `$`, none before the closing one, no digit after.
  { rule: /^\$(?![\s$])((?:[^$\\]|\\[\s\S])+?)(?<!\s)\$(?!\d)/, display: false },
];
const INLINE_START = /\$|\\[([]/;

const mathBlock = {
  name: "mathBlock",
  level: "block",
  start(src) {
    const match = BLOCK_START.exec(src);
    return match ? match.index + 1 : undefined;
  },
  tokenizer(src) {
    for (const rule of BLOCK_RULES) {
      const match = rule.exec(src);
      if (match && match[1].trim() && !BLANK_LINE.test(match[1])) {
        return { type: "mathBlock", raw: match[0], text: match[1].trim() };
      }
    }
    return undefined;
  },
  renderer(token) {
    return `${mathMarkup(token.text, true)}\n`;
  },
};

const mathInline = {
  name: "mathInline",
  level: "inline",
  start(src) {
    const match = INLINE_START.exec(src);
    return match ? match.index : undefined;
  },
  tokenizer(src) {
    for (const { rule, display } of INLINE_RULES) {
      const match = rule.exec(src);
      if (match && match[1].trim() && !BLANK_LINE.test(match[1])) {
        return { type: "mathInline", raw: match[0], text: match[1].trim(), display };
      }
    }
    return undefined;
  },
  renderer(token) {
    return mathMarkup(token.text, token.display);
  },
};

/** The `marked` extensions for the four delimiters. */
export const mathExtensions = [mathBlock, mathInline];

// --- what the sanitizer keeps -------------------------------------------------------------------

/** MathML elements KaTeX produces. No `annotation-xml` (it can carry HTML), no `maction`. */
export const MATH_TAGS = [
  "math",
  "semantics",
  "annotation",
  "mrow",
  "mi",
  "mn",
  "mo",
  "ms",
  "mtext",
  "mspace",
  "msup",
  "msub",
  "msubsup",
  "mfrac",
  "msqrt",
  "mroot",
  "mtable",
  "mtr",
  "mtd",
  "mover",
  "munder",
  "munderover",
  "mstyle",
  "mpadded",
  "mphantom",
  "menclose",
  "mglyph",
  "mprescripts",
  "none",
];

/** Presentation attributes of those elements: values, never URLs or CSS. */
export const MATH_ATTRS = [
  "display",
  "displaystyle",
  "scriptlevel",
  "mathvariant",
  "mathcolor",
  "mathbackground",
  "encoding",
  "stretchy",
  "fence",
  "separator",
  "symmetric",
  "largeop",
  "movablelimits",
  "accent",
  "accentunder",
  "lspace",
  "rspace",
  "minsize",
  "maxsize",
  "form",
  "linethickness",
  "width",
  "height",
  "depth",
  "voffset",
  "notation",
  "columnalign",
  "rowalign",
  "columnspacing",
  "rowspacing",
  "columnlines",
  "rowlines",
  "frame",
  "framespacing",
  "equalrows",
  "equalcolumns",
  "side",
  "rowspan",
  "columnspan",
];

/** Classes of the wrappers above and of KaTeX's own. */
export const MATH_CLASSES = new Set(["math-inline", "math-display", "katex", "katex-display", "katex-error"]);

function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch],
  );
}
