// <chat-error>: a failed reply, inline where the answer would be — the classified error as a
// headline that says what to do ("Rate limited — retry in 20 s", "Key rejected — edit
// provider"), the server's message, the usual fix (js/lib/advice.js) and the actions that fit:
// Retry, Edit provider, New conversation. A rate limit counts its retryAfter down.
//
// Two codes mean more than one thing, and the card tells them apart by what came with them, not
// by the message's words: BAD_REQUEST refused with HTTP 409 is a conversation still answering in
// another window or tab, and a NOT_FOUND the view found to be the conversation (`gone`) is a
// conversation deleted meanwhile, where NOT_FOUND alone is a provider removed.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { adviceFor } from "../lib/advice.js";

// kind → the keys of [what happened, what to do] for the headline, and which actions help
// (first = main). Retry is offered on the last reply wherever it can help: after editing the
// key, or picking another model, the same turn can go again.
const HEADLINES = {
  AUTH_FAILED: ["chat.error.authFailed.what", "chat.error.authFailed.todo", ["edit", "retry"]],
  RATE_LIMITED: ["chat.error.rateLimited.what", "chat.error.rateLimited.todo", ["retry"]],
  QUOTA_EXCEEDED: ["chat.error.quotaExceeded.what", "chat.error.quotaExceeded.todo", ["retry"]],
  MODEL_NOT_FOUND: ["chat.error.modelNotFound.what", "chat.error.modelNotFound.todo", ["retry", "edit"]],
  CONTEXT_LENGTH_EXCEEDED: ["chat.error.contextTooLong.what", "chat.error.contextTooLong.todo", ["new", "retry"]],
  BAD_REQUEST: ["chat.error.badRequest.what", "chat.error.badRequest.todo", ["edit", "retry"]],
  BUSY: ["chat.error.busy.what", "chat.error.busy.todo", ["retry"]],
  CONNECTION_FAILED: ["chat.error.connectionFailed.what", "chat.error.connectionFailed.todo", ["retry", "edit"]],
  TIMEOUT: ["chat.error.timeout.what", "chat.error.timeout.todo", ["retry"]],
  UPSTREAM_ERROR: ["chat.error.upstreamError.what", "chat.error.upstreamError.todo", ["retry"]],
  INVALID_RESPONSE: ["chat.error.invalidResponse.what", "chat.error.invalidResponse.todo", ["edit", "retry"]],
  NOT_FOUND: ["chat.error.providerGone.what", "chat.error.providerGone.todo", ["retry"]],
  CONVERSATION_GONE: ["chat.error.conversationGone.what", "chat.error.conversationGone.todo", ["new"]],
  INVALID_CONFIG: ["chat.error.invalidConfig.what", "chat.error.invalidConfig.todo", ["retry"]],
  INTERNAL: ["chat.error.internal.what", "chat.error.internal.todo", ["retry"]],
};
// The usual fix for the kinds that are not codes (advice.js knows the codes); "" for none.
const KIND_ADVICE = {
  BUSY: "",
  CONVERSATION_GONE: "chat.error.conversationGoneAdvice",
};

export class ChatError extends HTMLElement {
  constructor() {
    super();
    this._timer = null;
  }

  disconnectedCallback() {
    this._stopCountdown();
  }

  /** Show `error` ({code, message, retryAfter?, responseStatus?, gone?, at?}); `providerId` for "Edit provider"; `canRetry` when this is the last reply. */
  show({ error, providerId, canRetry }) {
    this._stopCountdown();
    const code = error.code || "INTERNAL";
    const kind = kindOf(error);
    const [what, todo, actions] = headline(kind, error);
    // The countdown already says what a rate limit's advice would.
    const advice =
      code === "RATE_LIMITED"
        ? ""
        : kind in KIND_ADVICE
          ? KIND_ADVICE[kind] && t(KIND_ADVICE[kind])
          : adviceFor({ code }).advice;
    this._what = what;
    this._headline = h("strong", { class: "chat-error-title" });
    const buttons = [];
    for (const action of actions) {
      if (action === "retry" && canRetry) buttons.push(button("retry", t("chat.error.retry"), "retry"));
      if (action === "edit" && providerId)
        buttons.push(
          h(
            "a",
            { class: "btn btn-sm chat-error-edit", href: `#/providers?edit=${encodeURIComponent(providerId)}` },
            icon("edit", { size: 14 }),
            t("chat.error.editProvider"),
          ),
        );
      if (action === "new") buttons.push(button("new-conversation", t("chat.view.newTitle"), "new-chat"));
    }
    this.replaceChildren(
      h(
        "div",
        { class: "chat-error", dataset: { code, kind } },
        h("span", { class: "chat-error-icon" }, icon("alert", { size: 18 })),
        h(
          "div",
          { class: "chat-error-body" },
          h("div", { class: "chat-error-head" }, this._headline, h("span", { class: "error-code" }, code)),
          error.message ? h("p", { class: "chat-error-message" }, error.message) : null,
          advice && advice !== error.message ? h("p", { class: "chat-error-advice" }, advice) : null,
          buttons.length ? h("div", { class: "chat-error-actions" }, buttons) : null,
        ),
      ),
    );
    const wait = Number(error.retryAfter);
    // `at` is when the error arrived, so a redraw (or a reload) keeps counting from there.
    if (code === "RATE_LIMITED" && wait > 0) this._countdown((error.at ?? Date.now()) + Math.ceil(wait) * 1000);
    else this._headline.textContent = t("chat.error.headline", { what, todo });
  }

  // "Rate limited — retry in 20 s", once a second, then "you can retry now".
  _countdown(until) {
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        this._headline.textContent = t("chat.error.retryNow", { what: this._what });
        this._stopCountdown();
        return;
      }
      this._headline.textContent = t("chat.error.retryIn", { what: this._what, wait: duration(left) });
    };
    tick();
    this._timer = setInterval(tick, 1000);
  }

  _stopCountdown() {
    clearInterval(this._timer);
    this._timer = null;
  }
}

// [what happened, what to do, actions] for `kind`, in words; a code this card does not know
// takes advice.js's title.
function headline(kind, error) {
  const known = HEADLINES[kind];
  if (!known) return [adviceFor(error).title, t("chat.error.fallbackTodo"), ["retry"]];
  const [what, todo, actions] = known;
  return [t(what), t(todo), actions];
}

// Which card: the error's code, or for the two ambiguous ones what came with it (see the header).
function kindOf(error) {
  const code = error.code || "INTERNAL";
  if (code === "BAD_REQUEST" && error.responseStatus === 409) return "BUSY";
  if (code === "NOT_FOUND" && error.gone === "conversation") return "CONVERSATION_GONE";
  return code;
}

function button(action, label, iconName) {
  const el = h(
    "button",
    { type: "button", class: "btn btn-sm", dataset: { action } },
    icon(iconName, { size: 14 }),
    label,
  );
  el.addEventListener("click", () =>
    el.dispatchEvent(new CustomEvent("chat-action", { bubbles: true, detail: { action } })),
  );
  return el;
}

/** "20 s", "1 min 30 s", "2 min" (in the language in use). */
export function duration(seconds) {
  if (seconds < 60) return t("chat.error.seconds", { seconds });
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return rest ? t("chat.error.minutesSeconds", { minutes, seconds: rest }) : t("chat.error.minutes", { minutes });
}

customElements.define("chat-error", ChatError);
