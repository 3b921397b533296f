// <template-note>: what the chosen template says (notes, a docs link that opens outside the app)
// above the add form. Set `.template` (null: a blank, custom provider); emits "change-template".
import { h, link, replaceChildren } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";

export class TemplateNote extends HTMLElement {
  set template(template) {
    this.classList.add("template-note");
    const text = template
      ? h(
          "div",
          { class: "note-text" },
          h("strong", {}, template.displayName),
          template.notes ? h("p", { class: "muted" }, template.notes) : null,
          template.docsURL
            ? link(template.docsURL, h("span", {}, t("providers.templates.docs"), icon("external", { size: 14 })), {
                external: true,
                className: "docs-link",
              })
            : null,
        )
      : h(
          "div",
          { class: "note-text" },
          h("strong", {}, t("providers.templates.custom")),
          h("p", { class: "muted" }, t("providers.templates.customNote")),
        );
    const change = h(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-ghost",
        on: { click: () => this.dispatchEvent(new CustomEvent("change-template", { bubbles: true })) },
      },
      t("providers.templates.change"),
    );
    replaceChildren(this, text, change);
  }
}

customElements.define("template-note", TemplateNote);
