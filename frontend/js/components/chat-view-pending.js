// Stored replies that are still being written when <chat-view> shows them — by another tab or
// window, or a stream the server is still closing after a reload — say "Still being written…"
// and are read again until they end, however long that takes: soon at first, then less and less
// often (at most every MAX_MS), so a long reply elsewhere costs little. Reading stops as soon
// as the view shows another conversation.
import { turnFromMessage } from "../lib/chat-store.js";

const FIRST_MS = 400;
const MAX_MS = 3000;
const GROWTH = 1.5;

export class PendingReplies {
  /** `view` is the <chat-view> (see its header for what is used of it). */
  constructor(view) {
    this._view = view;
    this._following = null; // the thread being read again, if any
  }

  /** Read the pending replies of the conversation shown again until none is left. */
  follow() {
    const thread = this._view.thread;
    if (this._following === thread) return; // shown again (another branch): the loop reads the new turns
    this._following = thread;
    this._poll(thread).finally(() => {
      if (this._following === thread) this._following = null;
    });
  }

  async _poll(thread) {
    const view = this._view;
    let wait = FIRST_MS;
    while (thread === view.thread && view.turns.some((t) => t.status === "pending")) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(MAX_MS, wait * GROWTH);
      // While this page streams a reply here it holds the turns; the next round reads again.
      if (thread !== view.thread || view.replies.current()) continue;
      const result = await view.conversations.get(view.conversationId);
      if (thread !== view.thread) return;
      if (!result.success) {
        if (result.error.code === "NOT_FOUND") return; // deleted: nothing left to wait for
        continue;
      }
      this._update(result.messages);
    }
  }

  _update(messages) {
    const view = this._view;
    for (const message of messages) {
      const turn = view.turns.find((t) => t.id === message.id);
      if (!turn || turn.status !== "pending") continue;
      Object.assign(
        turn,
        turnFromMessage(message, (id) => view.providers.name(id)),
      );
      const element = view.list.messageById(turn.id);
      if (element) element.refresh();
    }
    view.list.follow();
  }
}
