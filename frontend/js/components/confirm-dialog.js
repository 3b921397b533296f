// confirmDialog(): a modal yes/no question; resolves true only when the user confirms.
// The safe answer (Cancel) has the focus, so Enter or Esc never destroys anything by accident.
import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { openModal } from "../lib/modal.js";

/** Ask; `title` and `message` may be strings or nodes (untrusted text is set as text). */
export function confirmDialog({ title, message, confirmLabel = t("common.ok"), danger = false }) {
  return new Promise((resolve) => {
    const titleId = uid("confirm-title");
    const messageId = uid("confirm-msg");
    const cancel = h("button", { type: "button", class: "btn", value: "cancel", autofocus: true }, t("common.cancel"));
    const confirm = h(
      "button",
      { type: "button", class: ["btn", danger ? "btn-danger" : "btn-primary"], value: "confirm" },
      confirmLabel,
    );
    const dialog = h(
      "dialog",
      {
        class: ["dialog", "dialog-narrow", "confirm-dialog"],
        "aria-labelledby": titleId,
        "aria-describedby": messageId,
      },
      h(
        "div",
        { class: "dialog-body confirm-body" },
        h(
          "span",
          { class: ["confirm-icon", danger ? "is-danger" : ""] },
          icon(danger ? "trash" : "question", { size: 22 }),
        ),
        h(
          "div",
          {},
          h("h2", { class: "dialog-title", id: titleId }, title),
          h("p", { class: "confirm-message", id: messageId }, message),
        ),
      ),
      h("footer", { class: "dialog-footer" }, h("span", { class: "spacer" }), cancel, confirm),
    );
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    confirm.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    openModal(dialog, { focus: cancel });
  });
}
