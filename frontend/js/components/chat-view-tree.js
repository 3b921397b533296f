// The stored tree behind the thread <chat-view> shows, changed from the thread: `‹ 1/2 ›`
// switches to another version of a message (getConversation with a leafId, then the choice saved
// as the current leaf), a failed turn is deleted, the system prompt is saved, and the
// conversation is exported. Edits, regenerates and retries make replies: chat-view-replies.js.
import { h } from "../lib/dom.js";
import { saveDraft } from "../lib/chat-store.js";
import { t } from "../lib/i18n.js";
import { toast } from "./toast-region.js";

export class TreeActions {
  /** `view` is the <chat-view> whose conversation this changes (see its header). */
  constructor(view) {
    this._view = view;
  }

  /** Show the path through `siblingId`, from the arrows in `nav`, and store it as the current branch. */
  async switchTo(siblingId, nav) {
    const view = this._view;
    const id = view.conversationId;
    if (!id || view.replies.current()) return;
    const thread = view.thread;
    const wentBack = nav.querySelector(".sibling-prev") === document.activeElement;
    const result = await view.conversations.get(id, { leafId: siblingId });
    if (thread !== view.thread || !result.success) return;
    // The switched message stays in view; the focus stays on the arrows.
    view.show(result, { anchorId: siblingId, keep: () => this._keepInPlace(siblingId, wentBack) });
    const saved = await view.saveLeaf(id, siblingId);
    if (saved.success) view.changed(id);
  }

  _keepInPlace(id, wentBack) {
    const list = this._view.list;
    const element = list.messageById(id);
    if (!element) return list.scrollToEnd();
    element.scrollIntoView({ block: "nearest" });
    const nav = element.querySelector("chat-sibling-nav");
    const button =
      nav &&
      (nav.querySelector(wentBack ? ".sibling-prev:not(:disabled)" : ".sibling-next:not(:disabled)") ||
        nav.querySelector(".sibling-btn:not(:disabled)"));
    if (button) button.focus();
  }

  /**
   * Delete a failed turn: the user message with it when the reply was its only one (its text
   * comes back into an empty composer), else the reply alone.
   */
  async deleteTurn(turn) {
    const view = this._view;
    const id = view.conversationId;
    if (!id || view.replies.current()) return;
    const at = view.turns.indexOf(turn);
    const user = view.turns[at - 1];
    const whole = user && user.role === "user" && turn.siblingIds.length <= 1;
    if (!turn.stored || (whole && !user.stored)) {
      // Refused before anything was stored: there is nothing to delete but what is shown.
      view.cut(whole ? user : turn);
      if (whole && !view.composer.value.trim()) view.composer.value = user.content;
      return view.renderState();
    }
    const thread = view.thread;
    const result = await view.conversations.removeMessage(whole ? user.id : turn.id);
    if (thread !== view.thread) return;
    if (!result.success)
      return toast({ kind: "error", title: t("chat.tree.deleteFailed"), message: result.error.message });
    if (whole && !view.composer.value.trim()) {
      view.composer.value = user.content;
      saveDraft(view.draftKey(), user.content);
    }
    view.changed(id);
    view.announce(t("chat.tree.deleted"));
    const again = await view.conversations.get(id);
    if (thread !== view.thread) return;
    if (again.success) view.show(again);
    view.composer.focus();
  }

  /** Save the system prompt; a new conversation is stored now, so the prompt is there for its first message. */
  async saveSystemPrompt(value) {
    const view = this._view;
    const thread = view.thread;
    if (view.conversationId) {
      const id = view.conversationId;
      const result = await view.conversations.update(id, { systemPrompt: value });
      if (!result.success)
        return toast({ kind: "error", title: t("chat.view.saveFailed"), message: result.error.message });
      if (thread === view.thread) view.conversation = result.conversation;
      return view.changed(id);
    }
    const fields = { systemPrompt: value };
    if (view.toolServers.length) fields.toolServers = view.toolServers;
    if (view.providers.id) Object.assign(fields, { providerId: view.providers.id, model: view.providers.model });
    const result = await view.conversations.create(fields);
    if (!result.success)
      return toast({ kind: "error", title: t("chat.view.saveFailed"), message: result.error.message });
    if (thread !== view.thread) return view.changed(result.conversation.id);
    const draft = view.composer.value;
    view.adoptConversation(result.conversation.id, result.conversation);
    saveDraft(view.draftKey(), draft);
    view.changed(result.conversation.id);
  }

  /** Export the conversation as "markdown" or "json". */
  async export(format) {
    const id = this._view.conversationId;
    if (!id) return;
    const result = await this._view.conversations.export(id, { format });
    if (!result.success) {
      if (result.error.code !== "CANCELLED")
        toast({ kind: "error", title: t("chat.tree.exportFailed"), message: result.error.message });
      return;
    }
    // The window saved it through a native dialog; a browser gets the file to download.
    if (result.path)
      return toast({
        kind: "success",
        title: t("chat.tree.exported"),
        message: t("chat.tree.exportedTo", { path: result.path }),
      });
    download(result.filename || `conversation.${format === "json" ? "json" : "md"}`, result.content || "", format);
  }
}

/** Save text as a file through a temporary Blob link (the browser's download). */
function download(filename, content, format) {
  const type = format === "json" ? "application/json" : "text/markdown";
  const url = URL.createObjectURL(new Blob([content], { type: `${type};charset=utf-8` }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
