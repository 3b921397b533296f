// Building DOM without HTML strings. Every piece of text handed to `h()` becomes a text node,
// so provider names, URLs, model names and error messages can never turn into markup.
// This is the frontend's one gate for untrusted text: nothing in js/ uses innerHTML.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an HTML element: `h("button", {class: "btn", on: {click}}, "Save")`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

/** Create an SVG element; attributes are set verbatim (numbers and our own strings only). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Append children: strings and numbers as text, nodes as they are; null/false skipped. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `parent`. */
export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** A link that may only point to http(s) or inside the app; external ones open outside. */
export function link(href, text, { external = false, className } = {}) {
  const a = h("a", { class: className }, text);
  a.href = safeHref(href);
  if (external) {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  return a;
}

// Only http(s) and blob: URLs survive; script URLs and anything odd become "#".
function safeHref(value) {
  const text = String(value ?? "");
  if (text.startsWith("#")) return text;
  try {
    const url = new URL(text, window.location.href);
    if (["http:", "https:", "blob:"].includes(url.protocol)) return url.href;
  } catch {
    /* not a URL at all */
  }
  return "#";
}

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    switch (key) {
      case "class":
        el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
        break;
      case "text":
        el.textContent = String(value);
        break;
      case "on":
        for (const [type, handler] of Object.entries(value)) el.addEventListener(type, handler);
        break;
      case "dataset":
        Object.assign(el.dataset, value);
        break;
      case "href":
        el.setAttribute("href", safeHref(value));
        break;
      case "style":
        throw new Error("Use classes or CSS custom properties, not inline styles (CSP).");
      default:
        if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || key === "for" || key === "list") {
          el.setAttribute(key, value === true ? "true" : String(value));
        } else if (key in el) {
          el[key] = value;
        } else {
          el.setAttribute(key, value === true ? "" : String(value));
        }
    }
  }
}

let counter = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix = "md") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Elements inside `root` that take keyboard focus, in tab order of the DOM. */
export function focusables(root) {
  const selector = [
    "a[href]",
    "button:not([disabled])",
    "input:not([disabled]):not([type=hidden])",
    "select:not([disabled])",
    "textarea:not([disabled])",
    "summary",
    "[tabindex]:not([tabindex='-1'])",
  ].join(",");
  return [...root.querySelectorAll(selector)].filter(
    (el) => el.getClientRects().length > 0 && !el.closest("[hidden], [inert]"),
  );
}
