// The conversation as the chat view holds it: turns built from stored messages (CONTRACT §9) or
// from a reply streaming now, and the little the browser itself remembers. Conversations live in
// the app's database, never in browser storage; what stays here is convenience only: the draft
// in the composer (per conversation, "new" for one not stored yet), the provider chosen last, the
// conversation open last (the nav's "Chat" goes back to it), and each provider's model list with
// when it was fetched.
//
// A turn is {id, parentId, siblingIds, stored, role: "user", content} or
// {id, parentId, siblingIds, stored, role: "assistant", content, reasoning, toolCalls: [call],
//  rounds: [{content, calls: [call], closed}], leafId, requestId,
//  status: "streaming" | "done" | "stopped" | "interrupted" | "error" | "pending", error, usage,
//  ttftMs, elapsedMs, finishReason, model, providerId, providerName, reasoningMs, routeId, routeName,
//  attempts}.
// A reply that ran tools is one turn however many rounds it took: the app stores it as a chain
// (assistant with `toolCalls` → a `tool` message per call → assistant … → the final answer), and
// the thread shows each round's text and calls in order (`rounds`), then the final text
// (`content`). `toolCalls` lists every call of every round; a call is {id, name, arguments,
// callId, serverId, serverName, approval: null | "pending" | "allowed" | "always" | "denied" |
// "expired", answering, result: null | {content, isError, declined, elapsedMs}, startedAt}. The turn's `id` is the
// chain's first message (its siblings, regenerate and delete work on it); `leafId` the chain's
// last, which the next message answers. `requestId` names the stream (answerToolApproval).
// A reply through a route (docs/API.md, Routes) has `routeId` and `routeName`, and `attempts`: what
// happened to each member tried ({providerId, providerName, model, outcome: "skipped" | "failed" |
// "answering", code, message}, route-attempts.js); `providerId`/`providerName`/`model` are then
// the member that answered (empty until one does). A reply asked of a provider has
// `routeId: null` and `attempts: null`.
// "pending" is a stored reply still being written (another tab, or a stream the server is
// closing); "interrupted" is one the app closed at start after a crash (error INTERNAL).
// `stored` is false until the server has named the message (the `start` event). An `error` is
// {code, message, retryAfter, httpStatus (the provider's), responseStatus (the app's own, when it
// refused the request), gone ("conversation" when a NOT_FOUND was the conversation), at}.

import { attemptOf } from "./route-attempts.js";

const PROVIDER_KEY = "miaoda.chat.provider";
const DRAFT_PREFIX = "miaoda.chat.draft.";
const MODELS_PREFIX = "miaoda.chat.models.";
const LAST_KEY = "miaoda.chat.last";
/** The draft key of a conversation not stored yet. */
export const NEW_DRAFT = "new";

let counter = 0;
/** A temporary turn id, unique in this page, until the server names the message. */
export function turnId() {
  counter += 1;
  return `t${Date.now().toString(36)}-${counter}`;
}

/** A new user turn answering `parentId`. */
export function userTurn(content, parentId = null) {
  return { id: turnId(), parentId, siblingIds: [], stored: false, role: "user", content };
}

/**
 * A new assistant turn about to stream from `provider` with `model`. `provider` may be a route
 * (`isRoute`, as chat-view-providers.js offers it): who answers is known once a member does.
 */
export function assistantTurn(provider, model, parentId = null) {
  const route = Boolean(provider && provider.isRoute);
  return {
    id: turnId(),
    parentId,
    siblingIds: [],
    stored: false,
    role: "assistant",
    content: "",
    reasoning: "",
    toolCalls: [],
    rounds: [],
    leafId: null,
    requestId: null,
    status: "streaming",
    error: null,
    usage: null,
    ttftMs: null,
    elapsedMs: null,
    reasoningMs: null,
    finishReason: null,
    model: route ? "" : model || (provider ? provider.model : ""),
    providerId: provider && !route ? provider.id : "",
    providerName: provider && !route ? provider.displayName : "",
    routeId: route ? provider.id : null,
    routeName: route ? provider.displayName : "",
    attempts: route ? [] : null,
  };
}

/**
 * The turn for a stored message; `providerName(id)` names its provider or route (either may be gone).
 * Tool messages are not turns: the caller skips them.
 */
export function turnFromMessage(message, providerName = () => "") {
  const base = {
    id: String(message.id),
    parentId: message.parentId ?? null,
    siblingIds: siblings(message),
    role: message.role,
    content: String(message.content ?? ""),
    stored: true,
  };
  if (message.role !== "assistant") return base;
  const reason = message.finishReason || null;
  const error = message.error
    ? { code: String(message.error.code || "INTERNAL"), message: String(message.error.message || "") }
    : null;
  const calls = (message.toolCalls || []).map((call, index) => toolCall(call, index));
  return {
    ...base,
    // A message with calls is a round (its text came before them); without, the answer.
    content: calls.length ? "" : base.content,
    rounds: calls.length ? [{ content: base.content, calls, closed: true }] : [],
    leafId: base.id,
    requestId: null,
    reasoning: String(message.reasoning ?? ""),
    toolCalls: calls,
    status: statusOf(reason, error),
    error,
    usage: message.usage || null,
    ttftMs: message.ttftMs ?? null,
    elapsedMs: message.elapsedMs ?? null,
    reasoningMs: null,
    finishReason: reason,
    model: String(message.model || ""),
    providerId: String(message.providerId || ""),
    providerName: providerName(message.providerId) || "",
    routeId: message.routeId ? String(message.routeId) : null,
    routeName: message.routeId ? providerName(message.routeId) || "" : "",
    attempts: Array.isArray(message.attempts) ? message.attempts.map(attemptOf) : null,
  };
}

// A crash leaves `error` with INTERNAL (closed at the next start): "Interrupted", not a failure
// the user could act on. No finishReason yet: still being written.
function statusOf(reason, error) {
  if (!reason) return "pending";
  if (reason === "cancelled") return "stopped";
  if (reason === "error") return error && error.code === "INTERNAL" ? "interrupted" : "error";
  return "done";
}

function siblings(message) {
  const ids = Array.isArray(message.siblingIds) ? message.siblingIds.map(String) : [];
  return ids.length ? ids : [String(message.id)];
}

/** A tool call as a turn keeps it: arguments as a string, an id always. */
export function toolCall(data, index) {
  const args = typeof data.arguments === "string" ? data.arguments : JSON.stringify(data.arguments ?? {});
  const id = String(data.id || `call_${data.index ?? index}`);
  return {
    id,
    name: String(data.name || ""),
    arguments: args,
    callId: id,
    serverId: null,
    serverName: "",
    approval: null,
    answering: false,
    result: null,
    startedAt: null,
  };
}

/**
 * A tool's result as a call keeps it: from a `tool_result` event, or a stored `tool` message
 * (a failed one has an `error`: TOOL_DECLINED when the user declined it or did not answer).
 */
export function toolResult(data) {
  const code = data.error ? String(data.error.code || "") : "";
  return {
    content: String(data.content ?? ""),
    isError: Boolean(data.isError ?? data.error),
    declined: Boolean(data.declined) || code === "TOOL_DECLINED",
    elapsedMs: Number.isFinite(data.elapsedMs) ? data.elapsedMs : null,
  };
}

/**
 * The turns of a stored path. Tool messages are shown through their call (paired by
 * `toolCallId`), and the assistant messages of one tool loop make one turn (see the header).
 */
export function turnsFromMessages(messages, providerName) {
  const turns = [];
  let loop = null; // the reply a tool loop is adding rounds to
  let afterTools = false; // the message before was a tool result
  for (const message of messages) {
    if (message.role === "tool") {
      if (loop) {
        answer(loop, message);
        loop.leafId = String(message.id);
        afterTools = true;
      }
      continue;
    }
    if (message.role === "assistant" && loop && afterTools) {
      addRound(loop, turnFromMessage(message, providerName));
    } else if (message.role === "user" || message.role === "assistant") {
      const turn = turnFromMessage(message, providerName);
      turns.push(turn);
      loop = turn.role === "assistant" ? turn : null;
    }
    afterTools = false;
  }
  return turns;
}

// A stored tool message: the result of the call it names.
function answer(turn, message) {
  const id = String(message.toolCallId || "");
  const call = turn.toolCalls.find((one) => one.id === id && !one.result);
  if (call) call.result = toolResult(message);
}

// The next assistant message of a tool loop joins the reply: its calls as a round, or its text
// as the answer; what the reply ended with (status, error, model) is the last message's.
function addRound(turn, next) {
  turn.rounds.push(...next.rounds);
  turn.toolCalls.push(...next.toolCalls);
  turn.content = next.content;
  if (next.reasoning) turn.reasoning = turn.reasoning ? `${turn.reasoning}\n\n${next.reasoning}` : next.reasoning;
  turn.usage = sumUsage(turn.usage, next.usage);
  turn.elapsedMs = sumMs(turn.elapsedMs, next.elapsedMs);
  turn.leafId = next.id;
  for (const key of ["status", "error", "finishReason", "model", "providerId", "providerName"])
    if (next[key] || key === "error") turn[key] = next[key];
  if (next.attempts) turn.attempts = next.attempts;
}

function sumUsage(a, b) {
  if (!a || !b) return a || b || null;
  const add = (x, y) => (x == null && y == null ? null : (x || 0) + (y || 0));
  return {
    inputTokens: add(a.inputTokens, b.inputTokens),
    outputTokens: add(a.outputTokens, b.outputTokens),
    source: a.source === "estimated" || b.source === "estimated" ? "estimated" : a.source || b.source,
  };
}

function sumMs(a, b) {
  return a == null ? (b ?? null) : b == null ? a : a + b;
}

/** All the text of a reply: each round's, then the answer's. */
export function replyText(turn) {
  const parts = [...(turn.rounds || []).map((round) => round.content), turn.content];
  return parts.filter((text) => text && text.trim()).join("\n\n");
}

// --- what the browser remembers --------------------------------------------------------------

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage off: nothing remembered, nothing breaks
  }
}

function write(key, value) {
  try {
    if (value === null || value === "") localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* full or off: the value still lives in the page */
  }
}

/** The provider id chosen last time, if any. */
export function rememberedProvider() {
  return read(PROVIDER_KEY);
}

/** Remember the chosen provider for the next new conversation. */
export function rememberProvider(id) {
  if (id) write(PROVIDER_KEY, id);
}

/** The id of the stored conversation open last, or null (a new one was, or none yet). */
export function lastConversation() {
  return read(LAST_KEY);
}

/** Remember conversation `id` as the one open last; null forgets it. */
export function rememberConversation(id) {
  write(LAST_KEY, id || null);
}

/** The unsent text of conversation `key` (an id, or NEW_DRAFT). */
export function loadDraft(key) {
  return read(DRAFT_PREFIX + key) || "";
}

/** Keep the unsent text of `key` for a reload; an empty text forgets it. */
export function saveDraft(key, text) {
  write(DRAFT_PREFIX + key, text.trim() ? text : null);
}

/** `{models: [id], at: ms}` cached for `providerId`, or null. */
export function cachedModels(providerId) {
  try {
    const saved = JSON.parse(read(MODELS_PREFIX + providerId) || "null");
    if (saved && Array.isArray(saved.models) && Number.isFinite(saved.at))
      return { models: saved.models.map(String), at: saved.at };
  } catch {
    /* unreadable: fetch again */
  }
  return null;
}

/** Cache `models` of `providerId`, timestamped now. */
export function cacheModels(providerId, models) {
  write(MODELS_PREFIX + providerId, JSON.stringify({ models, at: Date.now() }));
}
