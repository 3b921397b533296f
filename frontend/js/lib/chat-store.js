// The conversation as data: its turns, what a request sends (docs/API.md, Chat request), and
// what survives a reload. The conversation lives in memory and is mirrored to sessionStorage
// (it is gone when the window or tab closes); the chosen provider is remembered in localStorage.
//
// A turn is {id, role: "user", content} or
// {id, role: "assistant", content, reasoning, toolCalls: [{id, name, arguments}],
//  status: "streaming" | "done" | "stopped" | "error", error, usage, ttftMs, elapsedMs,
//  finishReason, model, providerId, providerName, reasoningMs}.

const CONVERSATION_KEY = "miaoda.chat.conversation";
const PROVIDER_KEY = "miaoda.chat.provider";
// Said in place of a tool's result: the app shows tool calls but does not run tools. Providers
// refuse a history where an assistant's tool call has no answer, so each one gets this.
export const TOOL_NOT_RUN = "This tool was not run: MiaoDa Chat shows tool calls but does not execute them.";

let counter = 0;
/** A turn id unique in this page. */
export function turnId() {
  counter += 1;
  return `t${Date.now().toString(36)}-${counter}`;
}

/** A new user turn. */
export function userTurn(content) {
  return { id: turnId(), role: "user", content };
}

/** A new assistant turn about to stream from `provider`. */
export function assistantTurn(provider) {
  return {
    id: turnId(),
    role: "assistant",
    content: "",
    reasoning: "",
    toolCalls: [],
    status: "streaming",
    error: null,
    usage: null,
    ttftMs: null,
    elapsedMs: null,
    reasoningMs: null,
    finishReason: null,
    model: provider ? provider.model : "",
    providerId: provider ? provider.id : "",
    providerName: provider ? provider.displayName : "",
  };
}

/**
 * The `messages` of a request for the conversation `turns` (the full history, oldest first).
 * Assistant replies go back with their text and tool calls (each call answered by a `tool`
 * message, see TOOL_NOT_RUN); a reply that failed before producing anything is left out.
 */
export function requestMessages(turns) {
  const messages = [];
  for (const turn of turns) {
    if (turn.role === "user") {
      messages.push({ role: "user", content: turn.content });
      continue;
    }
    const calls = (turn.toolCalls || []).map((c) => ({ id: c.id, name: c.name, arguments: c.arguments }));
    if (!turn.content && calls.length === 0) continue;
    const message = { role: "assistant", content: turn.content };
    if (calls.length) message.toolCalls = calls;
    messages.push(message);
    for (const call of calls) messages.push({ role: "tool", toolCallId: call.id, content: TOOL_NOT_RUN });
  }
  return messages;
}

/** The saved conversation of this tab (streams cut by a reload count as stopped). */
export function loadConversation() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(CONVERSATION_KEY) || "null");
    if (!saved || !Array.isArray(saved.turns)) return [];
    return saved.turns.filter(isTurn).map((turn) => (turn.role === "assistant" && turn.status === "streaming" ? { ...turn, status: "stopped" } : turn));
  } catch {
    return [];
  }
}

/** Save the conversation for a reload of this tab (best effort: storage may be off or full). */
export function saveConversation(turns) {
  try {
    if (turns.length === 0) sessionStorage.removeItem(CONVERSATION_KEY);
    else sessionStorage.setItem(CONVERSATION_KEY, JSON.stringify({ version: 1, turns }));
  } catch {
    /* the conversation still lives in memory */
  }
}

/** The provider id chosen last time, if any. */
export function rememberedProvider() {
  try {
    return localStorage.getItem(PROVIDER_KEY);
  } catch {
    return null;
  }
}

/** Remember the chosen provider for next time. */
export function rememberProvider(id) {
  try {
    if (id) localStorage.setItem(PROVIDER_KEY, id);
  } catch {
    /* not remembered; nothing else breaks */
  }
}

function isTurn(turn) {
  return turn && typeof turn === "object" && typeof turn.id === "string" && (turn.role === "user" || turn.role === "assistant") && typeof turn.content === "string";
}
