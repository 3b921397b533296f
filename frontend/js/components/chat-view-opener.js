// Which conversation <chat-view> shows, and getting it on screen: the URL hash names it
// (`#/chat/<id>`, `?m=<messageId>` to show a message, `#/chat` or `#/chat/new` for a new one),
// `getConversation` reads its current path (or, for a message on another branch, that branch,
// which becomes the current one), and a conversation that is gone says so. The one open last is
// remembered in the browser: `resume()` (the nav's "Chat") goes back to it, or to a new one when
// it has been deleted meanwhile. Another view changing the open conversation (a rename, a
// delete) is picked up here too.
import { lastConversation, rememberConversation } from "../lib/chat-store.js";
import { t } from "../lib/i18n.js";
import { conversationFromHash, conversationHash } from "../services/conversation-service.js";

/** A hash that routes to the chat view. */
export const CHAT_HASH = /^#\/?chat(?:[/?]|$)/;

export class ConversationOpener {
  /** `view` is the <chat-view> (see its header for what is used of it). */
  constructor(view) {
    this._view = view;
    this._resuming = null; // the conversation resume() asked for: if it is gone, a new one opens
    this.failure = null; // why the conversation could not be opened (state "failed")
  }

  /** Open what the hash names, unless it is shown already (`force`: open it again anyway). */
  fromHash(force = false) {
    const view = this._view;
    const { id, messageId } = conversationFromHash();
    if (!force && !messageId && id === view.conversationId && ["ready", "new", "loading"].includes(view.state)) return;
    this.open(id, messageId);
  }

  /** Go to the conversation open last, or to a new one when there is none or it is gone. */
  resume() {
    const id = lastConversation();
    const hash = conversationHash(id);
    if (window.location.hash === hash) return;
    this._resuming = id;
    window.location.hash = hash;
  }

  /** Show conversation `id` (null: a new one), with `messageId` in view when given. */
  async open(id, messageId = null) {
    const view = this._view;
    const resuming = Boolean(id) && id === this._resuming;
    this._resuming = null;
    this.failure = null;
    const thread = view.clearThread(id);
    if (!id) {
      // A new conversation the user went to is the one to come back to (not the one the view
      // holds behind another view when the page starts there).
      if (CHAT_HASH.test(window.location.hash)) rememberConversation(null);
      view.state = "new";
      view.providers.apply(null);
      view.renderState();
      view.announce(t("chat.view.newTitle"));
      if (view.active) view.composer.focus(); // a new conversation is for writing
      return;
    }
    view.state = "loading";
    view.renderState();
    let result = await view.conversations.get(id);
    if (thread !== view.thread) return;
    if (result.success && messageId && !result.messages.some((m) => m.id === messageId)) {
      // The message is on another branch: open that branch and make it the current one.
      const branch = await view.conversations.get(id, { leafId: messageId });
      if (thread !== view.thread) return;
      if (branch.success) {
        result = branch;
        view.saveLeaf(id, messageId);
      }
    }
    if (!result.success) return this._failed(id, result.error, resuming);
    rememberConversation(id);
    view.show(result, { focusId: messageId });
  }

  _failed(id, error, resuming) {
    const view = this._view;
    const gone = error.code === "NOT_FOUND";
    if (gone && lastConversation() === id) rememberConversation(null);
    if (gone && resuming) {
      window.history.replaceState(window.history.state, "", conversationHash(null));
      return this.open(null);
    }
    view.state = gone ? "missing" : "failed";
    this.failure = error;
    view.renderState();
  }

  /** Another view changed stored conversation `id`: the open one may have been renamed or deleted. */
  async changedElsewhere(id) {
    const view = this._view;
    if (!id || id !== view.conversationId || view.state !== "ready") return;
    const thread = view.thread;
    const result = await view.conversations.get(id);
    if (thread !== view.thread || view.replies.current()) return;
    if (!result.success && result.error.code === "NOT_FOUND") {
      view.state = "missing";
      view.turns = [];
      view.list.clear();
    } else if (result.success) view.conversation = result.conversation;
    view.renderState();
  }
}
