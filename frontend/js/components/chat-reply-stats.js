// <chat-reply-stats>: what one reply cost — time to first token, tokens in and out (with "≈"
// when the provider did not report them and they were estimated), and the total time.
import { h } from "../lib/dom.js";
import { formatMs } from "../lib/format.js";

export class ChatReplyStats extends HTMLElement {
  /** An assistant turn (see chat-store.js); shows only what it knows. */
  set turn(turn) {
    const items = [];
    if (turn.ttftMs != null)
      items.push(stat("ttft", "First token", formatMs(turn.ttftMs), "Time from sending to the first token"));
    if (turn.usage) {
      const approx = turn.usage.source === "estimated" ? "≈" : "";
      const help = approx
        ? "Estimated by MiaoDa Chat: the provider did not report token counts"
        : "Token counts reported by the provider";
      items.push(
        stat(
          "tokens",
          "Tokens",
          `${approx}${count(turn.usage.inputTokens)} in · ${approx}${count(turn.usage.outputTokens)} out`,
          help,
        ),
      );
    }
    if (turn.elapsedMs != null)
      items.push(stat("elapsed", "Total", formatMs(turn.elapsedMs), "Time from sending to the end of the reply"));
    this.replaceChildren(...(items.length ? [h("dl", { class: "reply-stats" }, items)] : []));
  }
}

function stat(kind, label, value, help) {
  return h("div", { class: ["reply-stat", `stat-${kind}`], title: help }, h("dt", {}, label), h("dd", {}, value));
}

function count(value) {
  return value == null ? "?" : Number(value).toLocaleString("en");
}

customElements.define("chat-reply-stats", ChatReplyStats);
