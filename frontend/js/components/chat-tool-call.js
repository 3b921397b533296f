// <chat-tool-call>: one tool call the model asked for — its name and its arguments, pretty
// printed when they are JSON. Shown as text only; MiaoDa Chat does not run tools.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";

export class ChatToolCall extends HTMLElement {
  /** `{id, name, arguments}` as the `tool_call` event gave it. */
  set call(value) {
    this._call = value;
    this.replaceChildren(
      h(
        "div",
        { class: "tool-call" },
        h(
          "div",
          { class: "tool-head" },
          icon("tool", { size: 15 }),
          h("span", { class: "tool-kind" }, t("chat.tool.kind")),
          h("code", { class: "tool-name" }, value.name || t("chat.tool.unnamed")),
        ),
        h(
          "pre",
          {
            class: "tool-args",
            tabIndex: 0,
            "aria-label": value.name ? t("chat.tool.arguments", { name: value.name }) : t("chat.tool.argumentsUnnamed"),
          },
          prettyArguments(value.arguments),
        ),
      ),
    );
  }

  get call() {
    return this._call;
  }
}

/** JSON arguments indented by two spaces; anything else exactly as sent. */
export function prettyArguments(text) {
  const raw = String(text ?? "");
  if (!raw.trim()) return "{}";
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

customElements.define("chat-tool-call", ChatToolCall);
