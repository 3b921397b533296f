// <test-result>: the outcome of a connection test under the provider form — running, connected
// (time to first token), or the classified failure with advice and, after a refused save,
// a "Save anyway" button (emits "save-anyway").
import { h, replaceChildren } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { adviceFor } from "../lib/advice.js";
import { formatMs } from "../lib/format.js";

export class TestResult extends HTMLElement {
  connectedCallback() {
    this.setAttribute("aria-live", "polite");
    if (!this.className) this.clear();
  }

  clear() {
    this.hidden = true;
    this.className = "test-panel";
    replaceChildren(this);
  }

  running(host) {
    this._show(
      "is-running",
      h("span", { class: "spinner", "aria-hidden": "true" }),
      h("span", {}, t("providers.test.running", { host })),
    );
  }

  success(status) {
    this._show(
      "is-ok",
      h("span", { class: "test-icon" }, icon("check", { size: 18 })),
      h(
        "div",
        { class: "test-text" },
        h("strong", {}, t("providers.test.connected", { time: formatMs(status.responseTime) })),
        h("span", { class: "muted" }, ` ${t("providers.test.answered")}`),
      ),
    );
  }

  /** Show a failed test; `refusedSave` adds the explanation and the "Save anyway" button. */
  failure(error, { refusedSave = false } = {}) {
    const { title, advice } = adviceFor(error);
    const anyway = refusedSave
      ? h(
          "button",
          {
            type: "button",
            class: "btn btn-sm save-anyway",
            on: { click: () => this.dispatchEvent(new CustomEvent("save-anyway", { bubbles: true })) },
          },
          t("providers.test.saveAnyway"),
        )
      : null;
    this._show(
      "is-failed",
      h("span", { class: "test-icon" }, icon("alert", { size: 18 })),
      h(
        "div",
        { class: "test-text" },
        h(
          "strong",
          {},
          refusedSave ? t("providers.test.notSaved", { title }) : title,
          " ",
          h("code", { class: "error-code" }, error.code),
        ),
        h("p", { class: "test-message" }, error.message),
        advice ? h("p", { class: "muted" }, advice) : null,
        refusedSave ? h("p", { class: "muted" }, t("providers.test.refusedHelp")) : null,
      ),
      anyway,
    );
  }

  _show(state, ...children) {
    this.hidden = false;
    this.className = `test-panel ${state}`;
    replaceChildren(this, ...children);
  }
}

customElements.define("test-result", TestResult);
