// openShortcutsSheet(): a modal list of the keyboard shortcuts that work here — in the desktop
// window or in a browser (where the browser keeps Ctrl+N, so the sheet says what to press
// instead) — with the keys written for this computer, and the send key the settings chose.
import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { dialogHeader, openModal } from "../lib/modal.js";
import { browserReserved, sendKeys, shortcutList } from "../lib/shortcuts.js";
import { settingsService } from "../services/settings-service.js";

/** Show the sheet for `transport` ("pywebview" or "http"); resolves when it closes. */
export function openShortcutsSheet(transport) {
  const existing = document.querySelector("dialog.shortcuts-sheet[open]");
  if (existing) return Promise.resolve();
  return new Promise((resolve) => {
    const titleId = uid("shortcuts-title");
    const keys = sendKeys(settingsService.current?.sendKey);
    const rows = [
      ...shortcutList(transport),
      { id: "send", label: t("shell.shortcuts.send"), keys: keys.send },
      { id: "newLine", label: t("shell.shortcuts.newLine"), keys: keys.newLine },
    ];
    const header = dialogHeader({ titleId, title: t("shell.shortcuts.title"), onClose: () => dialog.close() });
    const reserved = browserReserved();
    const dialog = h(
      "dialog",
      { class: ["dialog", "dialog-narrow", "shortcuts-sheet"], "aria-labelledby": titleId },
      header.element,
      h(
        "div",
        { class: "dialog-body" },
        h(
          "dl",
          { class: "shortcut-list" },
          rows.map((row) =>
            h(
              "div",
              { class: "shortcut-row", dataset: { shortcut: row.id } },
              h("dt", {}, row.label),
              h("dd", {}, h("kbd", {}, row.keys)),
            ),
          ),
        ),
        transport === "http"
          ? h("p", { class: "muted shortcut-note" }, t("shell.shortcuts.browserNote", reserved))
          : null,
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve();
    });
    openModal(dialog, { focus: header.close });
  });
}
