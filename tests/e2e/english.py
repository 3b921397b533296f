"""Finding English left in a Chinese page: the visible text nodes and the text attributes
(title, aria-label, placeholder, alt) of visible elements, split into Latin words, minus what
stays English in a Chinese UI (docs/TRANSLATION.md): provider names, model ids, codes, URLs,
paths, units, currency codes, key names and what the test itself typed or seeded."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Visible text: text nodes under elements that render (checkVisibility), in the document and in
# open shadow roots, and the text attributes of visible elements. Form values are what the user
# typed, so they are left out; <option> labels of a visible <select> are in.
VISIBLE_TEXT = """(attributes) => {
  const out = [];
  const skipped = ["SCRIPT", "STYLE", "TEMPLATE", "NOSCRIPT"];
  const options = { checkOpacity: true, checkVisibilityCSS: true };
  const visible = (el) => !el.closest("[hidden]") && el.checkVisibility(options);
  const classes = (el) =>
    typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".")
      : "";
  const where = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + classes(el);
  const roots = [document.body];
  for (let i = 0; i < roots.length; i += 1) {
    const show = NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT;
    const walker = document.createTreeWalker(roots[i], show);
    for (let node = walker.currentNode; node; node = walker.nextNode()) {
      if (node.nodeType === Node.ELEMENT_NODE) {
        if (node.shadowRoot) roots.push(node.shadowRoot);
        if (skipped.includes(node.tagName)) continue;
        if (!visible(node)) continue;
        for (const attr of attributes) {
          const value = node.getAttribute(attr);
          if (value) out.push([`${where(node)} @${attr}`, value]);
        }
        if (node instanceof HTMLSelectElement) {
          for (const option of node.options) out.push([`${where(node)} option`, option.label]);
        }
        continue;
      }
      const parent = node.parentElement;
      const text = node.textContent.trim();
      if (!text || !parent || [...skipped, "OPTION"].includes(parent.tagName)) continue;
      if (parent.closest("textarea")) continue;
      if (!visible(parent)) continue;
      out.push([where(parent), text]);
    }
  }
  out.push(["document.title", document.title]);
  return out;
}"""

TEXT_ATTRIBUTES = ["title", "aria-label", "placeholder", "alt"]

# Words that stay English in the Chinese UI (docs/TRANSLATION.md, "What stays English").
ALLOWED = {
    # provider and product names the app shows, technical names
    "OpenAI",
    "Anthropic",
    "DeepSeek",
    "Groq",
    "OpenRouter",
    "Mistral",
    "Together",
    "Fireworks",
    "xAI",
    "Gemini",
    "Google",
    "Azure",
    "Ollama",
    "LM",
    "Studio",
    "vLLM",
    "llama",
    "cpp",
    "SiliconFlow",
    "Moonshot",
    "Kimi",
    "Zhipu",
    "GLM",
    "Qwen",
    "Alibaba",
    "Perplexity",
    "Cerebras",
    "Hugging",
    "Face",
    "LiteLLM",
    "One",
    "New",
    "MiaoDa",
    "Chat",
    # apps whose files the import reads (docs/IMPORT-FROM-OTHER-APPS.md)
    "Cherry",
    "Chatbox",
    "LobeChat",
    "GNOME",
    "Keyring",
    "KWallet",
    "Secret",
    "Service",
    "SecretService",
    "keyring",
    "Windows",
    "macOS",
    "Linux",
    "Keychain",
    "Credential",
    "Manager",
    "MCP",
    "Markdown",
    "JSON",
    "CSV",
    "SSE",
    "English",
    "uPlot",
    "KaTeX",
    "Chromium",
    "Qt",
    "Python",
    "Flask",
    "SQLite",
    # protocols, units, keys and the like
    "Token",
    "Tokens",
    "token",
    "tokens",
    "Base",
    "URL",
    "API",
    "HTTP",
    "HTTPS",
    "SOCKS",
    "ms",
    "s",
    "min",
    "h",
    "KB",
    "MB",
    "GB",
    "B",
    "k",
    "M",
    "p",
    "Ctrl",
    "Cmd",
    "Shift",
    "Alt",
    "Enter",
    "Esc",
    "Tab",
    "Option",
    "Bearer",
    "Authorization",
    "header",
    "query",
    "x",
    "api",
    "key",
    "v",
    "ttft",
    "TTFT",
    "ID",
    "id",
    "http",
    "https",
    "socks",
    "localhost",
    "OK",
    "openai",
    "anthropic",
    "compatible",
    # sampling parameters keep their usual names: "Top P", "Top K"
    "Top",
}


def english_words(
    entries: Iterable[tuple[str, str]], allowed: Iterable[str]
) -> list[tuple[str, str]]:
    """(where, word) for each Latin word not allowed: URLs, paths, e-mail-like text, codes in
    capitals (with digits or underscores), model-id-like words (with digits) are allowed."""
    extra = set(allowed)
    found: list[tuple[str, str]] = []
    for where, text in entries:
        cleaned = re.sub(r"\b[a-z][a-z0-9+.-]*://\S+", " ", text)  # URLs
        cleaned = re.sub(r"\S*[/\\]\S*", " ", cleaned)  # paths, "1 / 3"
        cleaned = re.sub(r"\S+@\S+", " ", cleaned)
        cleaned = re.sub(r"\{\w+\}", " ", cleaned)  # a URL's placeholder: {host}, {deployment}
        for phrase in extra:
            if " " in phrase or "-" in phrase or "." in phrase:
                cleaned = cleaned.replace(phrase, " ")
        for word in re.findall(r"[A-Za-z][A-Za-z0-9_'.-]*", cleaned):
            word = word.strip(".-'")
            if not word or _allowed(word, extra):
                continue
            found.append((where, word))
    return found


def _allowed(word: str, extra: set[str]) -> bool:
    if word in ALLOWED or word in extra or len(word) == 1:
        return True
    if re.fullmatch(r"[A-Z0-9_]+", word):  # codes, units, currency codes: RATE_LIMITED, USD
        return True
    if re.search(r"\d", word):  # model ids and versions: gpt-5-mini, v1, 4o
        return True
    if re.fullmatch(r"[a-z]+(-[a-z]+)+", word):  # ids and names: fake-model, groq-work
        return True
    if "_" in word or "." in word:  # identifiers, file and domain names: top_p, Z.ai, a.json
        return True
    parts = re.split(r"[-_.]", word)
    return len(parts) > 1 and all(
        not p or p in ALLOWED or p in extra or _allowed(p, extra) for p in parts
    )


# The scan leaves out what is transparent, so a dialog still fading in would hide its text from
# it: first let the open dialogs' own (finite, short) animations end, waiting 2 s at most.
DIALOGS_SETTLED = """() => Promise.race([
  Promise.all([...document.querySelectorAll("dialog[open]")]
    .flatMap((d) => d.getAnimations({ subtree: true }))
    .filter((a) => a.effect && a.effect.getComputedTiming().iterations !== Infinity)
    .map((a) => a.finished.then(() => null, () => null))),
  new Promise((resolve) => setTimeout(resolve, 2000)),
]).then(() => true)"""


def page_english(page: Any, allowed: Iterable[str]) -> list[tuple[str, str]]:
    """The English words left on `page` (see `english_words`)."""
    page.evaluate(DIALOGS_SETTLED)
    entries = [(where, text) for where, text in page.evaluate(VISIBLE_TEXT, TEXT_ATTRIBUTES)]
    return english_words(entries, allowed)


# The text an element shows and the text attributes of the elements in it, as (where, text).
ELEMENT_TEXT = """(root) => [["text", root.innerText],
  ...[...root.querySelectorAll("[title], [aria-label], [placeholder]")].flatMap((el) =>
    ["title", "aria-label", "placeholder"].filter((a) => el.getAttribute(a))
      .map((a) => [`${el.tagName.toLowerCase()} @${a}`, el.getAttribute(a)]))]"""


def element_english(elements: Any, allowed: Iterable[str]) -> list[tuple[str, str]]:
    """The English words left in the elements of a Playwright locator (see `english_words`): one
    screen's part of the page, where `page_english` reads it all."""
    entries = [
        (where, text)
        for element in elements.all()
        for where, text in element.evaluate(ELEMENT_TEXT)
    ]
    return english_words(entries, allowed)
