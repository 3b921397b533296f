// <provider-card>: one provider in the list — health badge and circuit state, sparkline, last
// response time, what was probed and when, its key pool in a word, actions, and an expandable
// detail with the health history chart; its monthly budget as a bar (when set) and, in the
// detail, the control that sets it (usage-budget.js).
// Data flows down (`provider`, `status`, `history`, `fullHistory`, `busy`); user intent goes up as
// bubbling events: edit-provider, delete-provider, check-provider, expand-provider ({detail: {id}}).
// `tick()` re-renders times; `counting` says whether a circuit countdown wants it every second.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { formatMs, fullTime, relativeTime } from "../lib/format.js";
import { adviceFor } from "../lib/advice.js";
import { KEY_STATES, currentKey, keysSummary } from "../lib/key-pool.js";
import { describeAuth, typeLabel } from "../lib/provider-rules.js";
import { latencySparkline } from "./latency-sparkline.js";
import { chatsFailedText, chatsFailing, probeText, shownState } from "./health-badge.js";
import { circuitNow, circuitSentence } from "./circuit-badge.js";
import "./health-chart.js";
import "./usage-budget.js";

export class ProviderCard extends HTMLElement {
  constructor() {
    super();
    this._provider = null;
    this._status = null;
    this._history = null;
    this._busy = false;
    this._expanded = false;
  }

  get providerId() {
    return this._provider ? this._provider.id : null;
  }

  set provider(value) {
    this._provider = value;
    this._ensureBuilt();
    this._renderProvider();
  }

  get provider() {
    return this._provider;
  }

  set status(value) {
    this._status = value;
    this._ensureBuilt();
    this._renderStatus();
  }

  get status() {
    return this._status;
  }

  /** Recent checks for the sparkline (a small getHealthHistory result). */
  set history(value) {
    this._history = value;
    this._ensureBuilt();
    replaceChildren(this._spark, latencySparkline(value));
  }

  get history() {
    return this._history;
  }

  /** The detail chart's history (24 hours). */
  set fullHistory(value) {
    this._ensureBuilt();
    this._chart.history = value;
  }

  set historyError(message) {
    this._ensureBuilt();
    this._chart.error = message;
  }

  set busy(value) {
    this._busy = Boolean(value);
    this._ensureBuilt();
    this._checkBtn.disabled = this._busy;
    this._checkBtn.classList.toggle("is-busy", this._busy);
    this._checkLabel.textContent = t(this._busy ? "providers.card.checking" : "providers.card.checkNow");
    this.toggleAttribute("aria-busy", this._busy);
    this._renderStatus();
  }

  get busy() {
    return this._busy;
  }

  get expanded() {
    return this._expanded;
  }

  /** Re-render relative times ("2 min ago") and countdowns without new data. */
  tick() {
    if (!this._built) return;
    this._renderStatus();
    this._renderKeys();
  }

  /** Whether an open circuit is counting down to its probe (worth a tick each second). */
  get counting() {
    return circuitNow(this._status && this._status.circuit).state === "open";
  }

  _ensureBuilt() {
    if (this._built) return;
    this._built = true;
    this.classList.add("card");
    this.setAttribute("role", "listitem");
    const detailId = uid("detail");

    this._badge = h("health-badge");
    this._circuitBadge = h("circuit-badge", { hidden: true });
    this._title = h("h3", { class: "card-title" });
    this._nameCode = h("code", { class: "card-name" });
    this._typeText = h("span", { class: "card-type" });
    this._modelText = h("span", { class: "card-model" });
    this._keysText = h("span", { class: "card-keys", hidden: true });
    this._url = h("p", { class: "card-url mono" });
    this._spark = h("div", { class: "card-spark" });
    this._latency = h("span", { class: "card-latency" });
    this._when = h("span", { class: "card-when muted" });
    this._checkLabel = h("span", {}, t("providers.card.checkNow"));
    this._checkBtn = h(
      "button",
      { type: "button", class: "btn btn-sm check-btn", on: { click: () => this._emit("check-provider") } },
      h("span", { class: "btn-icon" }, icon("pulse", { size: 16 })),
      this._checkLabel,
    );
    this._editBtn = h(
      "button",
      { type: "button", class: "icon-btn edit-btn", on: { click: () => this._emit("edit-provider") } },
      icon("edit"),
    );
    this._deleteBtn = h(
      "button",
      { type: "button", class: "icon-btn danger delete-btn", on: { click: () => this._emit("delete-provider") } },
      icon("trash"),
    );
    this._expandBtn = h(
      "button",
      {
        type: "button",
        class: "icon-btn expand-btn",
        "aria-expanded": "false",
        "aria-controls": detailId,
        on: { click: () => this._toggle() },
      },
      icon("chevron"),
    );
    this._error = h("div", { class: "card-error", hidden: true });
    this._circuit = h("div", { class: "card-circuit", hidden: true });
    this._facts = h("dl", { class: "facts" });
    this._circuitFact = h("dd");
    this._checkFact = h("dd");
    this._chart = h("health-chart");
    this._budgetBar = h("usage-budget-bar", { hidden: true });
    this._budgetControl = h("usage-budget-control");
    this._detail = h(
      "div",
      { class: "card-detail", id: detailId, hidden: true },
      h(
        "section",
        { class: "detail-facts" },
        h("h4", {}, t("providers.card.configuration")),
        this._facts,
        h("h4", { class: "detail-budget-title" }, t("providers.card.budget")),
        this._budgetControl,
      ),
      h("section", { class: "detail-health" }, h("h4", {}, t("providers.card.health24h")), this._chart),
    );

    this.append(
      h(
        "div",
        { class: "card-row" },
        h("div", { class: "card-status" }, this._badge, this._circuitBadge),
        h(
          "div",
          { class: "card-ident" },
          this._title,
          h("p", { class: "card-meta" }, this._nameCode, this._typeText, this._modelText),
          this._url,
        ),
        h(
          "div",
          { class: "card-health" },
          this._spark,
          h("div", { class: "card-numbers" }, this._latency),
          this._when,
          this._keysText,
        ),
        h("div", { class: "card-actions" }, this._checkBtn, this._editBtn, this._deleteBtn, this._expandBtn),
      ),
      this._error,
      this._circuit,
      this._budgetBar,
      this._detail,
    );
    replaceChildren(this._spark, latencySparkline(null));
  }

  _renderProvider() {
    const p = this._provider;
    this.dataset.providerId = p.id;
    this.dataset.name = p.name;
    this._title.textContent = p.displayName;
    this._nameCode.textContent = p.name;
    this._typeText.textContent = typeLabel(p.type);
    this._modelText.textContent = p.model;
    this._url.textContent = p.requestURL;
    this._url.title = t("providers.card.urlTitle", { url: p.requestURL });
    this._budgetBar.provider = p;
    this._budgetControl.provider = p;
    for (const [btn, key] of [
      [this._checkBtn, "providers.card.action.check"],
      [this._editBtn, "providers.card.action.edit"],
      [this._deleteBtn, "providers.card.action.delete"],
      [this._expandBtn, "providers.card.action.details"],
    ]) {
      const label = t(key, { name: p.displayName });
      btn.setAttribute("aria-label", label);
      if (btn !== this._checkBtn) btn.title = label;
    }
    const keys = p.keys || [];
    this._keysFact = h("dd");
    replaceChildren(
      this._facts,
      fact(t("providers.card.fact.url"), h("span", { class: "mono wrap" }, p.requestURL)),
      fact(t("providers.card.fact.model"), p.model),
      keys.length > 1
        ? h("div", { class: "fact" }, h("dt", {}, t("providers.card.fact.keys")), this._keysFact)
        : fact(
            t("providers.card.fact.key"),
            p.hasApiKey
              ? t("providers.card.fact.keySaved", { hint: p.apiKeyHint || t("providers.keys.hidden") })
              : t("common.none"),
          ),
      h("div", { class: "fact" }, h("dt", {}, t("providers.card.fact.check")), this._checkFact),
      h("div", { class: "fact" }, h("dt", {}, t("providers.card.fact.circuit")), this._circuitFact),
      fact(t("providers.card.fact.auth"), describeAuth(p.auth)),
      fact(
        t("providers.card.fact.headers"),
        Object.keys(p.headers || {}).length ? Object.keys(p.headers).join(", ") : t("common.none"),
      ),
      fact(
        t("providers.card.fact.parameters"),
        Object.entries(p.parameters || {})
          .map(([k, v]) => `${k} ${v}`)
          .join(" · ") || t("providers.card.fact.parametersDefault"),
      ),
      Object.keys(p.endpoints || {}).length
        ? fact(
            t("providers.card.fact.endpoints"),
            Object.entries(p.endpoints)
              .map(([k, v]) => `${k}: ${v}`)
              .join(" · "),
          )
        : null,
      fact(t("providers.card.fact.updated"), fullTime(p.updatedAt)),
    );
    this._renderKeys();
    if (this._status !== null) this._renderStatus();
    else this._checkFact.textContent = checkKindText(p.checkKind);
  }

  /** The pool in a word on the card ("3 keys · 1 cooling"), each key in the detail. */
  _renderKeys() {
    const p = this._provider;
    if (!p) return;
    const now = Date.now();
    const summary = keysSummary(p.keys, now);
    this._keysText.hidden = !summary;
    this._keysText.textContent = summary;
    const keys = (p.keys || []).map((k) => currentKey(k, now));
    this._keysText.classList.toggle(
      "has-idle",
      keys.some((k) => k.state !== "active"),
    );
    if (keys.length > 1)
      this._keysFact.textContent = keys
        .map((k) =>
          t("providers.card.fact.keyState", {
            hint: k.hint || t("providers.keys.hidden"),
            state: t((KEY_STATES[k.state] || KEY_STATES.active).label).toLocaleLowerCase(),
          }),
        )
        .join(" · ");
  }

  _renderStatus() {
    const st = this._status;
    const now = Date.now();
    const shown = shownState(st);
    const failingChats = chatsFailing(st);
    this._badge.state = this._busy ? "checking" : shown;
    this._badge.note = failingChats ? t("providers.card.chatsDecide", { failed: chatsFailedText(failingChats) }) : null;
    this.dataset.health = shown;
    // "failed" when the probe failed; when failing chats overrule a probe that passed, the
    // probe's own time stays (the notice says what failed).
    const failed = shown === "unhealthy" && !failingChats;
    this._latency.textContent = failed
      ? t("providers.card.failed")
      : st && st.responseTime != null
        ? formatMs(st.responseTime)
        : "—";
    this._latency.classList.toggle("is-failed", Boolean(failed));
    this._latency.title =
      st && st.checkKind
        ? t(st.checkKind === "chat" ? "providers.card.latencyTitle.chat" : "providers.card.latencyTitle.models")
        : "";
    this._renderWhen(st, failingChats, now);
    this._renderError(st, shown, failingChats, now);
    this._renderCircuit(st, now);
    this._checkFact.textContent = checkKindText((st && st.checkKind) || (this._provider && this._provider.checkKind));
  }

  // What was probed and when ("Checked model list 2 min ago"); when failing chats decide the
  // status instead, the notice below says so and this line still tells what the probe saw.
  _renderWhen(st, failingChats, now) {
    const probe = probeText(st, now);
    this._when.textContent = probe;
    const title = st && st.lastChecked ? `${probe} (${fullTime(st.lastChecked)})` : probe;
    this._when.title = failingChats ? t("providers.card.whenChatsDecide", { probe: title }) : title;
  }

  _renderError(st, shown, failingChats, now) {
    const chatError = failingChats
      ? (st.recentChats && st.recentChats.lastError) || { code: st.errorCode, message: st.error }
      : null;
    const showError = Boolean(chatError) || Boolean(st && st.error && (shown === "unhealthy" || shown === "degraded"));
    this._error.hidden = !showError;
    this._error.classList.toggle("is-degraded", shown === "degraded" && !chatError);
    if (!showError) {
      this._shownError = null;
      return;
    }
    const code = chatError ? chatError.code : st.errorCode;
    const message = chatError ? chatError.message : st.error;
    this._shownError = { code, message };
    // The server's message already says what to do; the title names the kind of failure.
    const title = chatError
      ? t("providers.card.chatsFailedTitle", { failed: chatsFailedText(failingChats) })
      : adviceFor({ code }).title;
    const lastAt = chatError && st.recentChats && st.recentChats.lastAt;
    replaceChildren(
      this._error,
      icon("alert", { size: 16 }),
      h(
        "div",
        {},
        h("strong", {}, title),
        code ? h("code", { class: "error-code" }, code) : null,
        " ",
        h("span", { class: "card-error-msg" }, message || ""),
        lastAt
          ? h(
              "span",
              { class: "muted card-error-when", title: fullTime(lastAt) },
              ` ${t("providers.card.latest", { when: relativeTime(lastAt, now) })}`,
            )
          : null,
      ),
    );
  }

  // Open: "Paused — reopens in 23 s" and why; half-open: "Probing". Closed says nothing here,
  // only "Closed" in the detail.
  _renderCircuit(st, now) {
    const view = circuitNow(st && st.circuit, now);
    this._circuitBadge.view = view;
    this.dataset.circuit = view.state;
    this._circuitFact.textContent =
      view.state === "closed"
        ? t("providers.card.circuitClosed")
        : view.since
          ? t("providers.card.circuitSince", { state: circuitSentence(view), since: fullTime(view.since) })
          : circuitSentence(view);
    this._circuit.hidden = view.state === "closed";
    if (view.state === "closed") return;
    const what = t(view.state === "open" ? "providers.card.circuitOpen" : "providers.card.circuitHalfOpen");
    // The reason is left out when the error above already says the same.
    const same =
      this._shownError &&
      view.reason &&
      this._shownError.code === view.reason.code &&
      this._shownError.message === view.reason.message;
    const reason =
      view.reason && !same
        ? [
            ` ${t("providers.card.openedBy")} `,
            h("code", { class: "error-code" }, view.reason.code),
            " ",
            h("span", { class: "card-error-msg" }, view.reason.message),
          ]
        : [];
    replaceChildren(
      this._circuit,
      icon(view.state === "open" ? "clock" : "pulse", { size: 16 }),
      h("div", {}, h("strong", { class: "circuit-headline" }, circuitSentence(view)), " ", h("span", {}, what), reason),
    );
  }

  _toggle() {
    this._expanded = !this._expanded;
    this._detail.hidden = !this._expanded;
    this._expandBtn.setAttribute("aria-expanded", String(this._expanded));
    this.classList.toggle("is-expanded", this._expanded);
    if (this._expanded) {
      this._chart.loading = true;
      this._emit("expand-provider");
    }
  }

  _emit(type) {
    this.dispatchEvent(
      new CustomEvent(type, { bubbles: true, detail: { id: this._provider.id, provider: this._provider } }),
    );
  }
}

function checkKindText(kind) {
  return t(kind === "chat" ? "providers.card.checkKind.chat" : "providers.card.checkKind.models");
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value));
}

customElements.define("provider-card", ProviderCard);
