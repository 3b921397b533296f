// <template-note>: what the chosen template says (notes, a docs link that opens outside the app)
// above the add form. Set `.template` (null: a blank, custom provider); emits "change-template".
import { h, link, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";

export class TemplateNote extends HTMLElement {
  set template(t) {
    this.classList.add("template-note");
    const text = t
      ? h(
          "div",
          { class: "note-text" },
          h("strong", {}, t.displayName),
          t.notes ? h("p", { class: "muted" }, t.notes) : null,
          t.docsURL
            ? link(t.docsURL, h("span", {}, "Provider docs", icon("external", { size: 14 })), {
                external: true,
                className: "docs-link",
              })
            : null,
        )
      : h(
          "div",
          { class: "note-text" },
          h("strong", {}, "Custom provider"),
          h("p", { class: "muted" }, "Any OpenAI- or Anthropic-compatible endpoint."),
        );
    const change = h(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-ghost",
        on: { click: () => this.dispatchEvent(new CustomEvent("change-template", { bubbles: true })) },
      },
      "Change template",
    );
    replaceChildren(this, text, change);
  }
}

customElements.define("template-note", TemplateNote);
