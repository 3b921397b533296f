// <conversation-item>: one conversation in the sidebar — its title as a link that opens it, and
// buttons to rename it (inline), pin it and delete it. It only shows and asks: the sidebar does
// the work. Emits "conversation-rename" ({detail: {id, title}}), "conversation-pin"
// ({detail: {id, pinned}}) and "conversation-delete" ({detail: {id}}), all bubbling.
import { h, replaceChildren } from "../lib/dom.js";
import { formatDate, t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { conversationHash } from "../services/conversation-service.js";

export class ConversationItem extends HTMLElement {
  #conversation = null;
  #link;
  #title;
  #pinMark;
  #pinBtn;
  #renameBtn;
  #deleteBtn;
  #editor = null;

  connectedCallback() {
    if (this.#link) return;
    this.classList.add("conv-item");
    this.setAttribute("role", "listitem");
    this.#title = h("span", { class: "conv-title" });
    this.#pinMark = h(
      "span",
      { class: "conv-pin-mark", hidden: true },
      icon("pin", { size: 13 }),
      h("span", { class: "sr-only" }, t("chat.item.pinned")),
    );
    this.#link = h("a", { class: "conv-link" }, this.#pinMark, this.#title);
    this.#renameBtn = this.#button("edit", () => this.startRename());
    this.#pinBtn = this.#button("pin", () => this.#emit("conversation-pin", { pinned: !this.#conversation.pinned }));
    this.#deleteBtn = this.#button("trash", () => this.#emit("conversation-delete", {}));
    this.#deleteBtn.classList.add("danger");
    this.append(this.#link, h("span", { class: "conv-actions" }, this.#renameBtn, this.#pinBtn, this.#deleteBtn));
    this.#link.addEventListener("keydown", (event) => {
      if (event.key === "F2") {
        event.preventDefault();
        this.startRename();
      }
    });
    if (this.#conversation) this.#render();
  }

  get conversation() {
    return this.#conversation;
  }

  /** The conversation to show; a rename in progress keeps its input. */
  set conversation(value) {
    this.#conversation = value;
    if (this.#link) this.#render();
  }

  /** Whether this is the open conversation. */
  set current(on) {
    this.classList.toggle("is-current", Boolean(on));
    if (on) this.#link.setAttribute("aria-current", "page");
    else this.#link.removeAttribute("aria-current");
  }

  get editing() {
    return this.#editor !== null;
  }

  /** Focus the link (after the list changed around it). */
  focus() {
    (this.#editor ? this.#editor.input : this.#link).focus();
  }

  /** Turn the title into an input: Enter saves, Esc or leaving it unchanged cancels. */
  startRename() {
    if (this.#editor) return this.#editor.input.focus();
    const input = h("input", {
      type: "text",
      class: "input conv-rename-input",
      value: this.#conversation.title || "",
      maxLength: 200,
      "aria-label": t("chat.item.renameLabel"),
      spellcheck: false,
    });
    const note = h("span", { class: "conv-rename-note", "aria-live": "polite" }, t("chat.item.renameHelp"));
    const box = h("div", { class: "conv-rename" }, input, note);
    this.#editor = { input, note, box };
    this.classList.add("is-renaming");
    input.addEventListener("keydown", (event) => {
      event.stopPropagation(); // Esc here cancels the rename, not the drawer or the stream
      if (event.key === "Enter") {
        event.preventDefault();
        this.#commitRename();
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.#endRename(true);
      }
    });
    input.addEventListener("blur", () => {
      if (this.#editor && this.#editor.input === input) this.#commitRename({ quiet: true });
    });
    this.#link.hidden = true;
    this.prepend(box);
    input.focus();
    input.select();
  }

  #commitRename({ quiet = false } = {}) {
    const title = this.#editor.input.value.trim();
    if (!title) {
      if (quiet) return this.#endRename(false);
      this.#editor.input.setAttribute("aria-invalid", "true");
      this.#editor.note.textContent = t("chat.item.emptyTitle");
      this.#editor.note.classList.add("is-error");
      return;
    }
    const changed = title !== this.#conversation.title;
    this.#endRename(!quiet);
    if (!changed) return;
    this.#conversation = { ...this.#conversation, title };
    this.#render();
    this.#emit("conversation-rename", { title });
  }

  #endRename(refocus) {
    const editor = this.#editor;
    this.#editor = null;
    this.classList.remove("is-renaming");
    editor.box.remove();
    this.#link.hidden = false;
    if (refocus) this.#link.focus();
  }

  #render() {
    const c = this.#conversation;
    const title = c.title || t("chat.view.newTitle");
    const updated = formatDate(c.updatedAt, { dateStyle: "medium", timeStyle: "short" });
    this.dataset.id = c.id;
    this.#link.href = conversationHash(c.id);
    this.#link.title = `${title}\n${t("chat.item.updated", { when: updated })}`;
    if (this.#title.textContent !== title) this.#title.textContent = title;
    this.#pinMark.hidden = !c.pinned;
    this.classList.toggle("is-pinned", Boolean(c.pinned));
    this.#label(this.#renameBtn, t("chat.item.rename", { title }));
    this.#label(this.#pinBtn, c.pinned ? t("chat.item.unpin", { title }) : t("chat.item.pin", { title }));
    this.#pinBtn.setAttribute("aria-pressed", String(Boolean(c.pinned)));
    replaceChildren(this.#pinBtn, icon(c.pinned ? "pin-off" : "pin", { size: 15 }));
    this.#label(this.#deleteBtn, t("chat.item.remove", { title }));
  }

  #button(name, onClick) {
    return h(
      "button",
      { type: "button", class: "icon-btn conv-action", on: { click: onClick } },
      icon(name, { size: 15 }),
    );
  }

  #label(button, text) {
    button.setAttribute("aria-label", text);
    button.title = text;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { bubbles: true, detail: { id: this.#conversation.id, ...detail } }));
  }
}

customElements.define("conversation-item", ConversationItem);
