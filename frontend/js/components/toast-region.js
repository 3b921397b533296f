// <toast-region>: short-lived result messages (role=status, announced politely).
// Lives in the top layer (popover) so toasts stay visible above open dialogs.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";

const ICONS = { success: "check", error: "alert", info: "info", warn: "alert" };
const LIFETIME = { success: 4500, info: 4500, error: 9000, warn: 12000 };

export class ToastRegion extends HTMLElement {
  connectedCallback() {
    if (this._list) return;
    this.classList.add("toast-region");
    if ("popover" in HTMLElement.prototype) this.popover = "manual";
    this._list = h("div", { class: "toast-list", role: "status", "aria-live": "polite", "aria-relevant": "additions" });
    this.append(this._list);
  }

  /** Show a toast: {kind: success|error|info|warn, title, message}. */
  show({ kind = "info", title, message = "" }) {
    const text = h(
      "div",
      { class: "toast-text" },
      title ? h("strong", { class: "toast-title" }, title) : null,
      message ? h("span", { class: "toast-message" }, message) : null,
    );
    const close = h(
      "button",
      {
        type: "button",
        class: "icon-btn toast-close",
        "aria-label": t("shell.toast.dismiss"),
        title: t("shell.toast.dismiss"),
      },
      icon("x", { size: 16 }),
    );
    const toast = h(
      "div",
      { class: ["toast", `toast-${kind}`], dataset: { kind } },
      h("span", { class: "toast-icon" }, icon(ICONS[kind] || "info")),
      text,
      close,
    );
    let timer = null;
    const dismiss = () => {
      clearTimeout(timer);
      toast.classList.add("leaving");
      setTimeout(() => {
        toast.remove();
        if (!this._list.childElementCount && this.popover) this._hidePopover();
      }, 180);
    };
    const arm = () => {
      timer = setTimeout(dismiss, LIFETIME[kind] || 5000);
    };
    close.addEventListener("click", dismiss);
    toast.addEventListener("mouseenter", () => clearTimeout(timer));
    toast.addEventListener("mouseleave", arm);
    toast.addEventListener("focusin", () => clearTimeout(timer));
    this._list.append(toast);
    while (this._list.childElementCount > 4) this._list.firstElementChild.remove();
    this._raise();
    arm();
  }

  clear() {
    replaceChildren(this._list);
  }

  // A popover shown again goes above dialogs opened since, so toasts are never hidden.
  _raise() {
    if (!this.popover) return;
    this._hidePopover();
    try {
      this.showPopover();
    } catch {
      /* not supported: the region still shows under dialogs */
    }
  }

  _hidePopover() {
    try {
      if (this.matches(":popover-open")) this.hidePopover();
    } catch {
      /* ignore */
    }
  }
}

customElements.define("toast-region", ToastRegion);

/** Show a toast in the page's region. */
export function toast(options) {
  const region = document.querySelector("toast-region");
  if (region) region.show(options);
}
