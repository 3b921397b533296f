// Native <dialog> as a modal: Esc closes (the browser's own `cancel`), Tab stays inside,
// and focus goes back to where it was when the dialog closes.
import { focusables, h } from "./dom.js";
import { t } from "./i18n.js";
import { icon } from "./icons.js";

/** Show `dialog` modally; `focus` is the element to start on (default: [autofocus] or the first field). */
export function openModal(dialog, { focus } = {}) {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  if (!dialog.isConnected) document.body.append(dialog);
  const onKey = (event) => {
    if (event.key === "Tab") keepTabInside(event, dialog);
  };
  dialog.addEventListener("keydown", onKey);
  dialog.addEventListener(
    "close",
    () => {
      dialog.removeEventListener("keydown", onKey);
      restoreFocus(opener);
    },
    { once: true },
  );
  dialog.showModal();
  const target = focus || dialog.querySelector("[autofocus]") || focusables(dialog)[0];
  if (target) target.focus();
}

function keepTabInside(event, dialog) {
  const items = focusables(dialog);
  if (items.length === 0) return;
  const first = items[0];
  const last = items[items.length - 1];
  const active = document.activeElement;
  if (event.shiftKey && (active === first || !dialog.contains(active))) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (active === last || !dialog.contains(active))) {
    event.preventDefault();
    first.focus();
  }
}

function restoreFocus(opener) {
  // The opener may be gone (a deleted provider's button): fall back to the view's heading.
  const visible = (el) => el && el.isConnected && !el.closest("[hidden]");
  const fallback = [...document.querySelectorAll("[data-focus-fallback]")].find(visible);
  const target = visible(opener) ? opener : fallback;
  if (target) target.focus();
}

/**
 * A dialog's header: its title (an <h2> with `titleId`, which the dialog's `aria-labelledby`
 * names), a subtitle when one is given (even "", to be filled later), and the close button
 * (`closeTitle` its tooltip). A form that retitles itself between add and edit sets the text of
 * the returned `title` and `subtitle` elements.
 */
export function dialogHeader({ titleId, title = "", subtitle, closeTitle, onClose }) {
  const titleElement = h("h2", { class: "dialog-title", id: titleId }, title);
  const subtitleElement = subtitle === undefined ? null : h("p", { class: "dialog-subtitle" }, subtitle);
  const close = h(
    "button",
    {
      type: "button",
      class: "icon-btn",
      "aria-label": t("common.close"),
      title: closeTitle || t("common.close"),
      on: { click: onClose },
    },
    icon("x"),
  );
  const element = h("header", { class: "dialog-header" }, h("div", {}, titleElement, subtitleElement), close);
  return { element, title: titleElement, subtitle: subtitleElement, close };
}
