// <provider-card>: one provider in the list — health badge, sparkline, last response time,
// actions, and an expandable detail with the health history chart.
// Data flows down (`provider`, `status`, `history`, `fullHistory`, `busy`); user intent goes up as
// bubbling events: edit-provider, delete-provider, check-provider, expand-provider ({detail: {id}}).
import { h, replaceChildren, uid } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { formatMs, fullTime, relativeTime } from "../lib/format.js";
import { adviceFor } from "../lib/advice.js";
import { describeAuth, typeLabel } from "../lib/provider-rules.js";
import { latencySparkline } from "./latency-sparkline.js";
import "./health-badge.js";
import "./health-chart.js";

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
    this._checkLabel.textContent = this._busy ? "Checking…" : "Check now";
    this.toggleAttribute("aria-busy", this._busy);
    this._renderStatus();
  }

  get busy() {
    return this._busy;
  }

  get expanded() {
    return this._expanded;
  }

  /** Re-render relative times ("2 min ago") without new data. */
  tick() {
    if (this._built) this._renderStatus();
  }

  _ensureBuilt() {
    if (this._built) return;
    this._built = true;
    this.classList.add("card");
    this.setAttribute("role", "listitem");
    const detailId = uid("detail");

    this._badge = h("health-badge");
    this._title = h("h3", { class: "card-title" });
    this._nameCode = h("code", { class: "card-name" });
    this._typeText = h("span", { class: "card-type" });
    this._modelText = h("span", { class: "card-model" });
    this._url = h("p", { class: "card-url mono" });
    this._spark = h("div", { class: "card-spark" });
    this._latency = h("span", { class: "card-latency" });
    this._when = h("span", { class: "card-when muted" });
    this._checkLabel = h("span", {}, "Check now");
    this._checkBtn = h("button", { type: "button", class: "btn btn-sm check-btn", on: { click: () => this._emit("check-provider") } }, h("span", { class: "btn-icon" }, icon("pulse", { size: 16 })), this._checkLabel);
    this._editBtn = h("button", { type: "button", class: "icon-btn edit-btn", on: { click: () => this._emit("edit-provider") } }, icon("edit"));
    this._deleteBtn = h("button", { type: "button", class: "icon-btn danger delete-btn", on: { click: () => this._emit("delete-provider") } }, icon("trash"));
    this._expandBtn = h("button", { type: "button", class: "icon-btn expand-btn", "aria-expanded": "false", "aria-controls": detailId, on: { click: () => this._toggle() } }, icon("chevron"));
    this._error = h("div", { class: "card-error", hidden: true });
    this._facts = h("dl", { class: "facts" });
    this._chart = h("health-chart");
    this._detail = h(
      "div",
      { class: "card-detail", id: detailId, hidden: true },
      h("section", { class: "detail-facts" }, h("h4", {}, "Configuration"), this._facts),
      h("section", { class: "detail-health" }, h("h4", {}, "Health, last 24 hours"), this._chart),
    );

    this.append(
      h(
        "div",
        { class: "card-row" },
        h("div", { class: "card-status" }, this._badge),
        h("div", { class: "card-ident" }, this._title, h("p", { class: "card-meta" }, this._nameCode, this._typeText, this._modelText), this._url),
        h("div", { class: "card-health" }, this._spark, h("div", { class: "card-numbers" }, this._latency, this._when)),
        h("div", { class: "card-actions" }, this._checkBtn, this._editBtn, this._deleteBtn, this._expandBtn),
      ),
      this._error,
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
    this._url.title = `Chat requests go to ${p.requestURL}`;
    for (const [btn, verb] of [[this._checkBtn, "Check the health of"], [this._editBtn, "Edit"], [this._deleteBtn, "Delete"], [this._expandBtn, "Show details of"]]) {
      btn.setAttribute("aria-label", `${verb} ${p.displayName}`);
      if (btn !== this._checkBtn) btn.title = `${verb} ${p.displayName}`;
    }
    replaceChildren(
      this._facts,
      fact("Request URL", h("span", { class: "mono wrap" }, p.requestURL)),
      fact("Model", p.model),
      fact("API key", p.hasApiKey ? `Saved (${p.apiKeyHint || "hidden"})` : "None"),
      fact("Auth", describeAuth(p.auth)),
      fact("Headers", Object.keys(p.headers || {}).length ? Object.keys(p.headers).join(", ") : "None"),
      fact("Parameters", Object.entries(p.parameters || {}).map(([k, v]) => `${k} ${v}`).join(" · ") || "Provider defaults"),
      Object.keys(p.endpoints || {}).length ? fact("Endpoints", Object.entries(p.endpoints).map(([k, v]) => `${k}: ${v}`).join(" · ")) : null,
      fact("Updated", fullTime(p.updatedAt)),
    );
  }

  _renderStatus() {
    const st = this._status;
    const state = this._busy ? "checking" : (st && st.status) || "unknown";
    this._badge.state = state;
    this.dataset.health = (st && st.status) || "unknown";
    const failed = st && st.status === "unhealthy";
    this._latency.textContent = failed ? "failed" : st && st.responseTime != null ? formatMs(st.responseTime) : "—";
    this._latency.classList.toggle("is-failed", Boolean(failed));
    this._latency.title = st && st.checkKind ? `Response time of the last ${st.checkKind === "chat" ? "chat test" : "models check"}` : "";
    this._when.textContent = st && st.lastChecked ? relativeTime(st.lastChecked) : "not checked";
    this._when.title = st && st.lastChecked ? `Last checked ${fullTime(st.lastChecked)}` : "";
    const showError = st && st.error && (st.status === "unhealthy" || st.status === "degraded");
    this._error.hidden = !showError;
    this._error.classList.toggle("is-degraded", Boolean(st && st.status === "degraded"));
    if (showError) {
      // The server's message already says what to do; the title names the kind of failure.
      const { title } = adviceFor({ code: st.errorCode });
      replaceChildren(
        this._error,
        icon("alert", { size: 16 }),
        h("div", {}, h("strong", {}, title), st.errorCode ? h("code", { class: "error-code" }, st.errorCode) : null, " ", h("span", { class: "card-error-msg" }, st.error)),
      );
    }
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
    this.dispatchEvent(new CustomEvent(type, { bubbles: true, detail: { id: this._provider.id, provider: this._provider } }));
  }
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value));
}

customElements.define("provider-card", ProviderCard);
