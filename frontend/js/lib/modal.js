// Native <dialog> as a modal: Esc closes (the browser's own `cancel`), Tab stays inside,
// and focus goes back to where it was when the dialog closes.
import { focusables } from "./dom.js";

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
