// Copying text: the async Clipboard API, with the older selection-and-copy route as a fallback
// for windows where the API is missing or refused (some embedded webviews).
import { h } from "./dom.js";

/** Copy `text`; resolves true when it reached the clipboard. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* refused or unavailable: try the fallback */
  }
  return copyWithSelection(text);
}

function copyWithSelection(text) {
  const active = document.activeElement;
  const area = h("textarea", { class: "clipboard-helper", readOnly: true, "aria-hidden": "true", tabIndex: -1 });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  if (active instanceof HTMLElement) active.focus({ preventScroll: true });
  return ok;
}
