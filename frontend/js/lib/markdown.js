// Model output as markdown: parsed by the vendored `marked` (with math from js/lib/math.js and
// code highlighted by js/lib/highlight.js), cleaned by the vendored DOMPurify, and handed over as
// DOM nodes (DOMPurify's RETURN_DOM_FRAGMENT) — no HTML string of ours is ever assigned to the
// page.
//
// Model output is untrusted, so the pipeline is strict at every step:
// - raw HTML in the markdown is shown as text (a model writing `<img src=x onerror=…>` shows
//   exactly that); only a handful of bare formatting tags such as `<br>` or `<sub>` pass through;
// - images are never loaded: `![alt](url)` becomes a link to the image;
// - DOMPurify keeps a short list of tags and attributes, no `style`, no ids; classes only of the
//   `language-x` form on <code>, highlight.js's `hljs-*` on <span>, and our math wrappers; MathML
//   elements with presentation attributes only, and only inside <math>; links only to http(s)
//   and mailto (a javascript: or data: link loses its href); links open outside with
//   `rel="noopener noreferrer"`.
//
// `MarkdownStream` renders a growing text in time linear in its length: blocks that can no
// longer change are lexed and rendered once, and each update re-lexes only the source from the
// start of the last, unfinished block (see `#openFrom` for what "can no longer change" means).
import { Lexer, Marked } from "../../vendor/marked-18.2.1/marked.esm.js";
import createDOMPurify from "../../vendor/dompurify-3.4.18/purify.es.mjs";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { icon } from "./icons.js";
import { copyText } from "./clipboard.js";
import { highlightCode, isHighlightClass } from "./highlight.js";
import { MATH_ATTRS, MATH_CLASSES, MATH_TAGS, mathExtensions } from "./math.js";

const BARE_TAG = /^<\/?(?:br|b|i|u|s|em|strong|del|sub|sup|kbd|mark)\s*\/?>$/i;
const LANGUAGE_CLASS = /^language-[\w#+.-]{1,40}$/;
// An open fence still streaming is highlighted once the text has not grown for this long (the
// reply stopped mid-block); a closed one at once.
const IDLE_HIGHLIGHT_MS = 400;

const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({
  extensions: mathExtensions,
  renderer: {
    html(token) {
      const raw = token.text;
      if (!token.block && BARE_TAG.test(raw.trim())) return raw.trim();
      return token.block ? `<p>${escapeHtml(raw.trim())}</p>\n` : escapeHtml(raw);
    },
    image(token) {
      const label = token.text || token.href;
      return `<a href="${escapeHtml(token.href)}">${escapeHtml(t("chat.markdown.image", { label }))}</a>`;
    },
    code(token) {
      const language = (token.lang || "").match(/^\S*/)[0];
      const text = token.text ? `${token.text.replace(/\n$/, "")}\n` : "";
      const highlighted = token.plain ? null : highlightCode(text, language);
      const attr = language ? ` class="language-${escapeHtml(language)}"` : "";
      return `<pre><code${attr}>${highlighted ?? escapeHtml(text)}</code></pre>\n`;
    },
  },
});
const LEXER_OPTIONS = marked.defaults;

const purify = createDOMPurify(window);
const MATH_ONLY_ATTRS = new Set(MATH_ATTRS);
const SANITIZE = {
  ALLOWED_TAGS: [
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "input",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    ...MATH_TAGS,
  ],
  ALLOWED_ATTR: ["href", "title", "class", "align", "start", "type", "checked", "disabled", ...MATH_ATTRS],
  ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
  // Values that are words or numbers, never URLs: exempt from the URI check above, which would
  // otherwise drop `align="center"`, `start="3"` and every MathML attribute.
  ADD_URI_SAFE_ATTR: ["align", "start", "type", "checked", "disabled", ...MATH_ATTRS],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};
const MATHML = "http://www.w3.org/1998/Math/MathML";
purify.addHook("uponSanitizeAttribute", (node, data) => {
  if (data.attrName === "class") data.keepAttr = allowedClass(node, data.attrValue);
  else if (node.namespaceURI === MATHML) data.keepAttr = data.attrName !== "href" && data.keepAttr;
  else if (MATH_ONLY_ATTRS.has(data.attrName)) data.keepAttr = false;
});
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
  if (node.tagName === "INPUT") {
    // Only GFM task-list boxes come from marked; keep them as read-only ticks.
    node.setAttribute("type", "checkbox");
    node.setAttribute("disabled", "");
  }
});

// Which classes an element may keep: each kind of element has its own short list.
function allowedClass(node, value) {
  switch (node.nodeName) {
    case "CODE":
      return LANGUAGE_CLASS.test(value);
    case "SPAN":
      return MATH_CLASSES.has(value) || isHighlightClass(value);
    case "DIV":
      return value === "math-display";
    default:
      return false;
  }
}

/** Render markdown to a sanitized DocumentFragment with decorated code blocks. */
export function renderMarkdown(text) {
  return renderTokens(lex(normalize(text)));
}

/** Renders a growing markdown text into `container`, lexing only its unfinished tail. */
export class MarkdownStream {
  #container;
  #text = ""; // what was last shown (normalized)
  #blocks = []; // {raw, type, lang, nodes, code, plain}: the final blocks, then the open ones
  #final = 0; // how many of #blocks are final
  #finalLength = 0; // how much of #text the final blocks cover
  #links = Object.create(null); // reference definitions in the final blocks
  #renderedLinks = Object.create(null); // definitions the final blocks were rendered with
  #tailLinks = "{}"; // the definitions the open blocks were rendered with
  #timer = 0;

  constructor(container) {
    this.#container = container;
  }

  /** Show `text` (the whole text so far). */
  update(text) {
    const source = normalize(text);
    if (source === this.#text) return;
    if (!source.startsWith(this.#text)) this.clear(); // an edit, not growth: start over
    this.#text = source;
    let tokens = lex(source.slice(this.#finalLength), this.#links);
    if (this.#finalLength > 0 && this.#referencesChanged(tokens.links)) {
      this.clear();
      this.#text = source;
      tokens = lex(source, this.#links);
    }
    const open = this.#openFrom(tokens, source.slice(this.#finalLength));
    this.#show(tokens, open);
    this.#settle(tokens, open);
  }

  /** Forget what was rendered (the container is emptied by the caller or here). */
  clear() {
    clearTimeout(this.#timer);
    this.#timer = 0;
    for (const block of this.#blocks) for (const node of block.nodes) node.remove();
    this.#blocks = [];
    this.#final = 0;
    this.#finalLength = 0;
    this.#text = "";
    this.#links = Object.create(null);
    this.#renderedLinks = Object.create(null);
    this.#tailLinks = "{}";
  }

  // The index of the first token that may still change as text is appended. That is the last
  // token that is not blank space, with the blocks right before it that no blank line separates
  // from it (marked splits "text\n2. x\n-" into a paragraph and two lists, and one more
  // character joins them again; a setext underline or a lazy line does the same), stopping at a
  // closed fence, a formula or an ATX heading, which nothing after them changes. Then the list
  // before the blank line too, since a later `2.` or indented line continues it; and every
  // token from the one holding a `$$` or `\[` after the last blank line (an unclosed display
  // formula is lexed as paragraphs, lists and rules until its end arrives; it cannot span a
  // blank line). A blank line fixes every other boundary: appending text never merges blocks
  // it separates. When the token sizes do not add up to the source (never seen; a safety net),
  // nothing is final.
  #openFrom(tokens, source) {
    if (!tokens.complete) return 0;
    let open = tokens.length - 1;
    while (open > 0 && tokens[open].type === "space") open -= 1;
    const joined = (index) => index > 0 && tokens[index - 1].type !== "space" && !isFixed(tokens[index - 1]);
    while (joined(open)) open -= 1;
    let before = open - 1;
    while (before >= 0 && tokens[before].type === "space") before -= 1;
    if (before >= 0 && tokens[before].type === "list") for (open = before; joined(open);) open -= 1;
    open = Math.max(open, 0);
    const math = openMathAt(source);
    if (math < 0) return open;
    let offset = 0;
    for (let index = 0; index < open; index += 1) {
      offset += tokens[index].raw.length;
      if (offset > math) return index;
    }
    return open;
  }

  // A reference definition in the tail that the final blocks may use (`[label]` appears in
  // their source) and that they were not rendered with: those blocks must be lexed again.
  #referencesChanged(links) {
    let prefix = null;
    for (const [label, definition] of Object.entries(links)) {
      if (label in this.#links || sameLink(this.#renderedLinks[label], definition)) continue;
      prefix ??= this.#text.slice(0, this.#finalLength).replace(/\s+/g, " ").toLowerCase();
      if (prefix.includes(`[${label}`)) return true;
    }
    return false;
  }

  // Bring the open blocks in line with `tokens`: unchanged ones stay, a still-open fence that
  // only grew keeps its frame, the rest are rendered again.
  #show(tokens, open) {
    const shown = this.#blocks.slice(this.#final);
    const links = JSON.stringify(tokens.links);
    let keep = 0;
    // A definition that arrived or changed may turn text in any open block into a link.
    if (links === this.#tailLinks)
      while (keep < tokens.length && keep < shown.length && shown[keep].raw === tokens[keep].raw) keep += 1;
    this.#tailLinks = links;
    const last = tokens.length - 1;
    const fence = last >= open ? tokens[last] : null;
    if (fence) fence.plain = isOpenFence(fence);
    if (keep === last && keep === shown.length - 1 && fence.plain && growCode(shown[keep], fence)) return;
    for (const block of this.#blocks.splice(this.#final + keep)) for (const node of block.nodes) node.remove();
    for (const token of tokens.slice(keep)) this.#blocks.push(this.#render(token, tokens.links));
  }

  #render(token, links) {
    const list = [token];
    list.links = links;
    const fragment = renderTokens(list);
    const nodes = [...fragment.childNodes];
    const code = token.type === "code" ? fragment.querySelector("pre > code") : null;
    this.#container.append(fragment);
    return { raw: token.raw, type: token.type, lang: token.lang || "", nodes, code, plain: Boolean(token.plain) };
  }

  // Make the blocks before `open` final, and keep the reference definitions they hold.
  #settle(tokens, open) {
    for (const token of tokens.slice(0, open)) {
      this.#finalLength += token.raw.length;
      if (token.type === "def" && !(token.tag in this.#links))
        this.#links[token.tag] = { href: token.href, title: token.title };
    }
    this.#final += open;
    Object.assign(this.#renderedLinks, tokens.links);
    clearTimeout(this.#timer);
    this.#timer = 0;
    const tail = this.#blocks.at(-1);
    if (tail?.plain) this.#timer = setTimeout(() => this.#highlightTail(tail), IDLE_HIGHLIGHT_MS);
  }

  // The reply paused inside a fence (stopped, cut off, or a slow model): highlight what is there.
  #highlightTail(block) {
    this.#timer = 0;
    if (this.#blocks.at(-1) !== block) return;
    const tokens = lex(this.#text.slice(this.#finalLength), this.#links);
    const index = this.#blocks.length - 1 - this.#final;
    if (tokens.length !== index + 1 || tokens[index].raw !== block.raw) return;
    for (const node of block.nodes) node.remove();
    this.#blocks[this.#blocks.length - 1] = this.#render(tokens[index], tokens.links);
  }
}

// A fenced block still streaming keeps its frame (label, copy button): only its text grows.
function growCode(block, token) {
  if (!block.code || !block.plain || block.type !== "code" || (token.lang || "") !== block.lang) return false;
  block.code.textContent = token.text ? `${token.text.replace(/\n$/, "")}\n` : "";
  block.raw = token.raw;
  return true;
}

// A block that later text cannot change or join to what follows.
function isFixed(token) {
  if (token.type === "code") return !isOpenFence(token) && /^ {0,3}(?:`{3,}|~{3,})/.test(token.raw);
  return token.type === "mathBlock" || (token.type === "heading" && /^ {0,3}#/.test(token.raw));
}

// A fenced code token whose closing fence has not arrived yet.
function isOpenFence(token) {
  if (token.type !== "code") return false;
  const opening = /^ {0,3}(`{3,}|~{3,})/.exec(token.raw);
  if (!opening) return false; // indented code: no language, nothing to highlight
  const lines = token.raw.replace(/\n+$/, "").split("\n");
  if (lines.length < 2) return true;
  const closing = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(lines.at(-1));
  return !closing || closing[1][0] !== opening[1][0] || closing[1].length < opening[1].length;
}

// Where a display formula may start after the last blank line of `source`, or -1.
function openMathAt(source) {
  let from = 0;
  for (const blank of source.matchAll(/\n[ \t]*\n/g)) from = blank.index + blank[0].length;
  const start = /\$\$|\\\[/.exec(source.slice(from));
  return start ? from + start.index : -1;
}

function sameLink(a, b) {
  return a !== undefined && a.href === b.href && a.title === b.title;
}

// Carriage returns become newlines here rather than in the lexer, so token sizes are offsets
// into the text the stream keeps.
function normalize(text) {
  return String(text ?? "").replace(/\r\n?/g, "\n");
}

// Tokens of `source`, knowing the reference definitions in `links` (from text before it);
// `tokens.complete` says the token sizes add up to the source.
function lex(source, links = null) {
  let tokens;
  try {
    const lexer = new Lexer({ ...LEXER_OPTIONS });
    if (links) Object.assign(lexer.tokens.links, links);
    tokens = lexer.lex(source);
  } catch {
    tokens = [
      {
        type: "paragraph",
        raw: source,
        text: source,
        tokens: [{ type: "text", raw: source, text: escapeHtml(source) }],
      },
    ];
    tokens.links = Object.create(null);
  }
  let length = 0;
  for (const token of tokens) length += token.raw.length;
  tokens.complete = length === source.length;
  return tokens;
}

function renderTokens(tokens) {
  let html;
  try {
    html = marked.parser(tokens);
  } catch {
    html = `<p>${escapeHtml(tokens.map((token) => token.raw).join(""))}</p>`;
  }
  const fragment = purify.sanitize(html, SANITIZE);
  decorateCodeBlocks(fragment);
  return fragment;
}

// Each <pre><code> gets a header with its language and a Copy button.
function decorateCodeBlocks(root) {
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector(":scope > code");
    if (!code) continue;
    const match = /(?:^|\s)language-([\w#+.-]+)/.exec(code.className);
    const language = match ? match[1] : "";
    const label = h("span", { class: "code-lang" }, language || t("chat.markdown.plainLanguage"));
    const name = language ? t("chat.markdown.copyLanguage", { language }) : t("chat.markdown.copyCode");
    const button = h(
      "button",
      { type: "button", class: "code-copy", title: t("chat.markdown.copyCode"), "aria-label": name },
      icon("copy", { size: 14 }),
      h("span", { class: "copy-label" }, t("common.copy")),
    );
    button.addEventListener("click", () => copyFeedback(button, code.textContent));
    const frame = h("div", { class: "code-block" }, h("div", { class: "code-head" }, label, button));
    pre.replaceWith(frame);
    frame.append(pre);
    pre.tabIndex = 0; // long lines scroll sideways: let the keyboard reach it
  }
}

/** Copy `text` and let `button` say so for a moment (in its `.copy-label`, when it has one). */
export async function copyFeedback(button, text) {
  const ok = await copyText(text);
  const label = button.querySelector(".copy-label");
  if (label) {
    label.dataset.idle ??= label.textContent;
    label.textContent = ok ? t("common.copied") : t("chat.markdown.copyFailed");
  }
  button.dataset.copied = ok ? "yes" : "no";
  clearTimeout(button._copyTimer);
  button._copyTimer = setTimeout(() => {
    delete button.dataset.copied;
    if (label) label.textContent = label.dataset.idle;
  }, 1600);
  return ok;
}

function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}
