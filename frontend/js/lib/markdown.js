// Model output as markdown: parsed by the vendored `marked`, cleaned by the vendored DOMPurify,
// and handed over as DOM nodes (DOMPurify's RETURN_DOM_FRAGMENT) — no HTML string of ours is
// ever assigned to the page.
//
// Model output is untrusted, so the pipeline is strict at every step:
// - raw HTML in the markdown is shown as text (a model writing `<img src=x onerror=…>` shows
//   exactly that); only a handful of bare formatting tags such as `<br>` or `<sub>` pass through;
// - images are never loaded: `![alt](url)` becomes a link to the image;
// - DOMPurify keeps a short list of tags and attributes, no `style`, no ids, classes only of
//   the `language-x` form, and links only to http(s) and mailto (a javascript: or data:
//   link loses its href); links that stay open outside with `rel="noopener noreferrer"`.
//
// `MarkdownStream` renders a growing text block by block: blocks whose source did not change
// keep their nodes, so streaming repaints only the tail of the answer.
import { Marked } from "../../vendor/marked-18.2.1/marked.esm.js";
import createDOMPurify from "../../vendor/dompurify-3.4.18/purify.es.mjs";
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { copyText } from "./clipboard.js";

const BARE_TAG = /^<\/?(?:br|b|i|u|s|em|strong|del|sub|sup|kbd|mark)\s*\/?>$/i;
const LANGUAGE_CLASS = /^language-[\w#+.-]{1,40}$/;

const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({
  renderer: {
    html(token) {
      const raw = token.text;
      if (!token.block && BARE_TAG.test(raw.trim())) return raw.trim();
      return token.block ? `<p>${escapeHtml(raw.trim())}</p>\n` : escapeHtml(raw);
    },
    image(token) {
      const label = token.text || token.href;
      return `<a href="${escapeHtml(token.href)}">${escapeHtml(`Image: ${label}`)}</a>`;
    },
  },
});

const purify = createDOMPurify(window);
const SANITIZE = {
  ALLOWED_TAGS: [
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "input", "kbd", "li", "mark", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "u", "ul",
  ],
  ALLOWED_ATTR: ["href", "title", "class", "align", "start", "type", "checked", "disabled"],
  ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};
purify.addHook("uponSanitizeAttribute", (node, data) => {
  if (data.attrName === "class" && !LANGUAGE_CLASS.test(data.attrValue)) data.keepAttr = false;
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

/** Render markdown to a sanitized DocumentFragment with decorated code blocks. */
export function renderMarkdown(text) {
  return renderTokens(lex(text));
}

/** Renders a growing markdown text into `container`, re-rendering only changed blocks. */
export class MarkdownStream {
  constructor(container) {
    this._container = container;
    this._blocks = []; // {raw, type, lang, nodes, code}
    this._links = "{}";
  }

  /** Show `text` (the whole text so far). */
  update(text) {
    const tokens = lex(text);
    const links = JSON.stringify(tokens.links || {});
    let keep = 0;
    // A reference definition arriving later can change earlier links: then redo everything.
    if (links === this._links) {
      while (keep < tokens.length && keep < this._blocks.length && this._blocks[keep].raw === tokens[keep].raw) keep += 1;
    }
    this._links = links;
    const last = tokens.length - 1;
    if (keep === last && keep === this._blocks.length - 1 && this._growCode(this._blocks[keep], tokens[keep])) return;
    for (const block of this._blocks.splice(keep)) for (const node of block.nodes) node.remove();
    for (const token of tokens.slice(keep)) {
      const list = [token];
      list.links = tokens.links;
      const fragment = renderTokens(list);
      const nodes = [...fragment.childNodes];
      const code = token.type === "code" ? fragment.querySelector("pre > code") : null;
      this._container.append(fragment);
      this._blocks.push({ raw: token.raw, type: token.type, lang: token.lang || "", nodes, code });
    }
  }

  /** Forget what was rendered (the container is emptied by the caller or here). */
  clear() {
    for (const block of this._blocks) for (const node of block.nodes) node.remove();
    this._blocks = [];
    this._links = "{}";
  }

  // A fenced block still streaming keeps its frame (label, copy button): only its text grows.
  _growCode(block, token) {
    if (!block.code || token.type !== "code" || block.type !== "code" || (token.lang || "") !== block.lang) return false;
    block.code.textContent = `${token.text.replace(/\n$/, "")}\n`;
    block.raw = token.raw;
    return true;
  }
}

function lex(text) {
  try {
    return marked.lexer(String(text ?? ""));
  } catch {
    const tokens = [{ type: "paragraph", raw: String(text ?? ""), text: String(text ?? ""), tokens: [{ type: "text", raw: String(text ?? ""), text: escapeHtml(String(text ?? "")) }] }];
    tokens.links = {};
    return tokens;
  }
}

function renderTokens(tokens) {
  let html;
  try {
    html = marked.parser(tokens);
  } catch {
    html = `<p>${escapeHtml(tokens.map((t) => t.raw).join(""))}</p>`;
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
    const label = h("span", { class: "code-lang" }, language || "text");
    const button = h("button", { type: "button", class: "code-copy", title: "Copy code", "aria-label": language ? `Copy ${language} code` : "Copy code" }, icon("copy", { size: 14 }), h("span", { class: "copy-label" }, "Copy"));
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
    label.textContent = ok ? "Copied" : "Copy failed";
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
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
