// ConversationService: the conversation operations the views use (docs/API.md, Conversations).
// Thin over bridge.js: every method resolves to the envelope; it never rejects.
//
// `conversationEvents` is how views tell each other that stored conversations changed (the
// sidebar refreshes its list): dispatch `new CustomEvent("changed", {detail: {id}})` after a
// send starts or ends, a rename, a pin, a delete. Which conversation is open lives in the URL
// hash: `#/chat/<conversationId>` (optionally `?m=<messageId>` to show that message), and
// `#/chat` (or `#/chat/new`) is a new, still empty conversation, stored only when its first
// message is sent or a system prompt is saved for it (the chat view then names it in the hash).
import { call } from "../bridge.js";

/** Fires "changed" ({detail: {id}}) when a conversation was created, changed or deleted. */
export const conversationEvents = new EventTarget();

/** Tell every view that conversation `id` (or, with none, the list) changed. */
export function conversationsChanged(id = null) {
  conversationEvents.dispatchEvent(new CustomEvent("changed", { detail: { id } }));
}

/** The hash that opens conversation `id` (and shows `messageId`, when given). */
export function conversationHash(id, messageId = null) {
  if (!id) return "#/chat";
  const base = `#/chat/${encodeURIComponent(id)}`;
  return messageId ? `${base}?m=${encodeURIComponent(messageId)}` : base;
}

/** `{id, messageId}` of the conversation the current URL hash opens (nulls for a new one). */
export function conversationFromHash(hash = window.location.hash) {
  const match = /^#\/?chat(?:\/([^?&/]*))?(?:\?(.*))?$/.exec(hash || "");
  if (!match) return { id: null, messageId: null };
  let id = match[1] ? safeDecode(match[1]) : null;
  if (id === "new") id = null;
  const params = new URLSearchParams(match[2] || "");
  return { id, messageId: params.get("m") };
}

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export class ConversationService {
  /** `caller(method, ...args)` defaults to the real bridge; tests may pass another. */
  constructor(caller = call) {
    this._call = caller;
  }

  create(fields = {}) {
    return this._call("createConversation", fields);
  }

  /** `{limit?, cursor?}` → `{conversations, nextCursor}`: pinned first, then newest. */
  list(options = {}) {
    return this._call("listConversations", options);
  }

  /** `{conversation, messages}`: the path root → `options.leafId` or the current leaf. */
  get(id, options = {}) {
    return this._call("getConversation", id, options);
  }

  update(id, changes) {
    return this._call("updateConversation", id, changes);
  }

  remove(id) {
    return this._call("deleteConversation", id);
  }

  /** Delete a message and everything that answers it. */
  removeMessage(id) {
    return this._call("deleteMessage", id);
  }

  /** `{hits: [{conversationId, messageId, title, snippet: [{text, match}], createdAt}]}`. */
  search(query, options = {}) {
    return this._call("searchConversations", query, options);
  }

  /** `{format: "markdown" | "json", path?}` → `{path}` (desktop) or `{filename, content}`. */
  export(id, options) {
    return this._call("exportConversation", id, options);
  }
}

/** The instance the app uses. */
export const conversationService = new ConversationService();
