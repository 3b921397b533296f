// <chat-reply-stats>: what one reply cost — time to first token, tokens in and out (with "≈"
// when the provider did not report them and they were estimated), and the total time.
import { h } from "../lib/dom.js";
import { formatMs } from "../lib/format.js";
import { formatNumber, t } from "../lib/i18n.js";

export class ChatReplyStats extends HTMLElement {
  /** An assistant turn (see chat-store.js); shows only what it knows. */
  set turn(turn) {
    const items = [];
    if (turn.ttftMs != null)
      items.push(stat("ttft", t("chat.stats.ttft"), formatMs(turn.ttftMs), t("chat.stats.ttftHelp")));
    if (turn.usage) {
      const approx = turn.usage.source === "estimated" ? "≈" : "";
      const help = approx ? t("chat.stats.estimatedHelp") : t("chat.stats.reportedHelp");
      const value = t("chat.stats.tokensValue", {
        input: `${approx}${count(turn.usage.inputTokens)}`,
        output: `${approx}${count(turn.usage.outputTokens)}`,
      });
      items.push(stat("tokens", t("chat.stats.tokens"), value, help));
    }
    if (turn.elapsedMs != null)
      items.push(stat("elapsed", t("chat.stats.total"), formatMs(turn.elapsedMs), t("chat.stats.totalHelp")));
    this.replaceChildren(...(items.length ? [h("dl", { class: "reply-stats" }, items)] : []));
  }
}

function stat(kind, label, value, help) {
  return h("div", { class: ["reply-stat", `stat-${kind}`], title: help }, h("dt", {}, label), h("dd", {}, value));
}

function count(value) {
  return value == null ? "?" : formatNumber(Number(value));
}

customElements.define("chat-reply-stats", ChatReplyStats);
