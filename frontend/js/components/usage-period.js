// <usage-period>: which days the Usage screen sums up — Today, 7 days, 30 days, This month, or
// Custom (two date fields, first and last day included). A radio group of buttons (arrow keys
// move, as in any radio group); the choice is kept for the next visit.
//
// Event (bubbling): `period-change` {range} with range from periodRange() (lib/usage-format.js).
import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { PRESETS, localDay, periodRange } from "../lib/usage-format.js";

const STORE_KEY = "miaoda.usage.period";

export class UsagePeriod extends HTMLElement {
  connectedCallback() {
    if (this._buttons) return;
    this.classList.add("usage-period");
    const saved = readSaved();
    this._preset = PRESETS.some((p) => p.id === saved.preset) ? saved.preset : "7d";
    const today = localDay(new Date());
    const fromId = uid("usage-from");
    const toId = uid("usage-to");
    this._from = h("input", {
      type: "date",
      id: fromId,
      class: "input usage-date",
      max: today,
      value: saved.from || today,
    });
    this._to = h("input", { type: "date", id: toId, class: "input usage-date", max: today, value: saved.to || today });
    this._msg = h("p", { class: "field-msg", "aria-live": "polite" });
    this._buttons = PRESETS.map((p) =>
      h(
        "button",
        {
          type: "button",
          class: "seg-btn",
          role: "radio",
          dataset: { preset: p.id },
          on: { click: () => this._choose(p.id, p.id === "custom" ? this._from : null) },
        },
        t(p.label),
      ),
    );
    const group = h("div", { class: "seg", role: "radiogroup", "aria-label": t("usage.period.group") }, this._buttons);
    group.addEventListener("keydown", (event) => this._onKey(event));
    this._custom = h(
      "form",
      { class: "usage-custom", hidden: true, noValidate: true },
      h("label", { for: fromId }, t("usage.period.from")),
      this._from,
      h("label", { for: toId }, t("usage.period.to")),
      this._to,
      h("button", { type: "submit", class: "btn btn-sm" }, t("usage.period.apply")),
      this._msg,
    );
    this._custom.addEventListener("submit", (event) => {
      event.preventDefault();
      this._emit();
    });
    this.append(group, this._custom);
    this._mark();
  }

  /** The period chosen now (null for a custom one not filled in). */
  get range() {
    return periodRange(this._preset, { from: this._from.value, to: this._to.value });
  }

  get preset() {
    return this._preset;
  }

  _choose(preset, focus) {
    this._preset = preset;
    this._mark();
    if (focus) focus.focus();
    this._emit();
  }

  _mark() {
    for (const button of this._buttons) {
      const on = button.dataset.preset === this._preset;
      button.setAttribute("aria-checked", String(on));
      button.tabIndex = on ? 0 : -1;
    }
    this._custom.hidden = this._preset !== "custom";
  }

  _onKey(event) {
    const keys = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (!(event.key in keys)) return;
    event.preventDefault();
    const at = PRESETS.findIndex((p) => p.id === this._preset);
    const next = PRESETS[(at + keys[event.key] + PRESETS.length) % PRESETS.length].id;
    this._choose(
      next,
      this._buttons.find((b) => b.dataset.preset === next),
    );
  }

  _emit() {
    const range = this.range;
    this._msg.textContent = range ? "" : t("usage.period.invalid");
    if (!range) return;
    try {
      localStorage.setItem(
        STORE_KEY,
        JSON.stringify({ preset: this._preset, from: this._from.value, to: this._to.value }),
      );
    } catch {
      /* not kept: the next visit starts at 7 days */
    }
    this.dispatchEvent(new CustomEvent("period-change", { bubbles: true, detail: { range, preset: this._preset } }));
  }
}

function readSaved() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "{}");
    return saved && typeof saved === "object" ? saved : {};
  } catch {
    return {};
  }
}

customElements.define("usage-period", UsagePeriod);
