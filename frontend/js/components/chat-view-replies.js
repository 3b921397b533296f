// Sending and the streaming reply, for <chat-view>. A send, an edit, a regenerate and a retry
// each post the conversation form to /api/chat/stream (js/lib/chat-client.js): the server builds
// the history from storage and saves the reply as it streams. Events update the turn object at
// once; the DOM catches up at most once per animation frame. Stop (or Esc) aborts the request,
// which makes the server close the upstream and store the partial reply as "cancelled".
//
// A send names the message it answers (`parentId`): the last stored one shown, so the reply
// follows the branch on screen. When that branch was chosen a moment ago, the request waits for
// its save as the current leaf (`thread.leafSaving`), so the save cannot land after the reply's
// own leaf and undo it.
//
// A reply keeps streaming when the view opens another conversation (the server keeps saving
// it); coming back re-attaches the live turn (`adopt`).
//
// Through a route (the picker's choice is a route: `isRoute`), the body names the route and no
// model (the server refuses a model with a route), and each `attempt` event is kept on the turn
// (`attempts`); the one `answering` names the member whose reply this is.
//
// Tools (docs/API.md, "Tools (MCP)"): the conversation's `toolServers` decide which tools the
// model is offered, so a new conversation with servers chosen (chat-tool-servers.js) is created
// with them before its first message goes. A reply that runs tools is one turn of several rounds
// (chat-store.js): `tool_call` starts a round (the text so far is that round's), `tool_approval`
// marks a call as waiting for the user (its card answers through `answerApproval`), and
// `tool_result` gives a call its result. After such a reply the stored chain is read again, so
// the next message answers its last message.
import { adviceFor } from "../lib/advice.js";
import { streamChat } from "../lib/chat-client.js";
import { t } from "../lib/i18n.js";
import {
  assistantTurn,
  saveDraft,
  toolCall,
  toolResult,
  turnFromMessage,
  turnsFromMessages,
  userTurn,
} from "../lib/chat-store.js";
import { attemptOf } from "../lib/route-attempts.js";
import { mcpService } from "../services/mcp-service.js";
import { toast } from "./toast-region.js";

export class ReplyController {
  /** `view` is the <chat-view> whose thread the replies go into (see its header). */
  constructor(view) {
    this._view = view;
    this._runs = new Set(); // replies streaming now, in this conversation or others
    this._frame = 0;
  }

  /** The reply streaming in the conversation shown, if any. */
  current() {
    return [...this._runs].find((r) => r.thread === this._view.thread) || null;
  }

  /**
   * The reply still streaming for the conversation just opened, its live turn put in `turns` in
   * place of the stored copy; null when there is none.
   */
  adopt(turns) {
    const view = this._view;
    const run = [...this._runs].find((r) => r.conversationId === view.conversationId);
    if (!run) return null;
    run.thread = view.thread;
    const at = turns.findIndex((turn) => turn.id === run.turn.id);
    if (at >= 0) turns[at] = run.turn;
    else if (!run.user || turns.some((turn) => turn.id === run.user.id)) turns.push(run.turn);
    return run;
  }

  /** Send `text` as the user's next turn and stream the reply. */
  send(text) {
    const view = this._view;
    const provider = view.providers.current();
    const content = String(text).trim();
    if (!provider || this.current() || !content || view.state === "loading" || view.state === "missing") return;
    const answering = parentFields(view);
    const user = userTurn(content, answering.parentId ?? null);
    view.composer.value = "";
    saveDraft(view.draftKey(), "");
    this._reply(provider, { ...answering, message: { role: "user", content } }, user);
  }

  /** Stop the streaming reply, keeping what arrived; whether there was one. */
  stop() {
    const run = this.current();
    if (!run || run.controller.signal.aborted) return false;
    run.controller.abort();
    return true;
  }

  /** An edited user message is sent as a new sibling: same parent, new text. */
  edit(turn, text) {
    const provider = this._view.providers.current();
    if (!provider || this.current()) return;
    this._view.cut(turn);
    const user = userTurn(text, turn.parentId);
    user.siblingIds = [...turn.siblingIds, user.id];
    this._reply(provider, { parentId: turn.parentId, message: { role: "user", content: text } }, user);
  }

  /** A new reply to the user message before `turn`, kept beside the old one. */
  regenerate(turn) {
    const view = this._view;
    const provider = view.providers.current();
    const at = view.turns.indexOf(turn);
    const parent = view.turns[at - 1];
    if (!provider || this.current() || !parent || parent.role !== "user") return;
    view.cut(turn);
    this._reply(provider, { parentId: parent.id }, null, [...turn.siblingIds]);
  }

  /**
   * Ask again after a failed reply. One with nothing in it is replaced (deleted, then asked
   * again); one with some text stays as a sibling of the new one. A turn refused before
   * anything was stored is sent again as new.
   */
  async retry(turn) {
    const view = this._view;
    if (this.current() || view.turns.indexOf(turn) < 1) return;
    const user = view.turns[view.turns.indexOf(turn) - 1];
    if (!user.stored) return this._resend(user);
    if (turn.stored && !turn.content && turn.toolCalls.length === 0) {
      const thread = view.thread;
      const result = await view.conversations.removeMessage(turn.id);
      if (thread !== view.thread) return;
      if (result.success) turn.siblingIds = turn.siblingIds.filter((id) => id !== turn.id);
    }
    this.regenerate(turn);
  }

  // A turn refused before anything was stored (no `start`): its text goes again as new.
  _resend(user) {
    const view = this._view;
    const provider = view.providers.current();
    if (!provider) return;
    view.cut(user);
    const answering = parentFields(view);
    const again = userTurn(user.content, answering.parentId ?? null);
    this._reply(provider, { ...answering, message: { role: "user", content: user.content } }, again);
  }

  async _reply(provider, fields, user, siblings = []) {
    const view = this._view;
    const model = provider.isRoute ? null : view.providers.model || provider.model;
    const body = { conversationId: view.conversationId, ...fields, providerId: provider.id };
    if (model) body.model = model;
    if (user) {
      view.turns.push(user);
      view.list.add(user);
    }
    const turn = assistantTurn(provider, model, user ? user.id : fields.parentId);
    turn.siblingIds = [...siblings, turn.id];
    view.turns.push(turn);
    const message = view.list.add(turn);
    view.list.scrollToEnd();
    const run = {
      controller: new AbortController(),
      turn,
      user,
      message,
      thread: view.thread,
      conversationId: view.conversationId,
      sentAt: performance.now(),
      firstAt: null,
      reasoningAt: null,
    };
    this._runs.add(run);
    view.renderState();
    view.announce(t("chat.replies.replying", { name: provider.displayName }));

    await run.thread.leafSaving; // the branch just chosen is stored first (see the header)
    // A reply that ran tools learns where its chain ends once it is read again (`_finish`).
    const parent = body.parentId ? view.turns.find((one) => one.id === body.parentId) : null;
    if (parent && parent.leafId) body.parentId = parent.leafId;
    if (!body.conversationId && !(await this._createWithTools(run, body))) return this._finish(run);
    run.sentAt = performance.now();
    const outcome = await streamChat(body, {
      signal: run.controller.signal,
      onEvents: (events) => this._apply(run, events),
    });
    if (outcome === "aborted" || turn.status === "streaming") {
      turn.status = "stopped";
      turn.finishReason = "cancelled";
      // Stopped while a call waited for approval: it was not run (the server denies it).
      for (const call of turn.toolCalls) if (call.approval === "pending") call.approval = null;
      // No `done` came: time the reply here (first token too, if one arrived).
      turn.elapsedMs = Math.round(performance.now() - run.sentAt);
      if (run.firstAt != null) turn.ttftMs = Math.round(run.firstAt - run.sentAt);
    }
    if (run.reasoningAt != null && turn.reasoningMs == null)
      turn.reasoningMs = Math.round(performance.now() - run.reasoningAt);
    this._finish(run);
  }

  // A new conversation with tool servers chosen is stored with them first (the servers are the
  // conversation's, not the request's); false when that failed (the turn shows why).
  async _createWithTools(run, body) {
    const view = this._view;
    const servers = view.toolServers;
    if (!servers.length) return true;
    const fields = { toolServers: servers };
    if (view.providers.id) Object.assign(fields, { providerId: view.providers.id, model: view.providers.model });
    const result = await view.conversations.create(fields);
    if (!result.success) {
      this._apply(run, [
        { type: "error", data: result.error },
        { type: "done", data: { finishReason: "error" } },
      ]);
      return false;
    }
    const id = result.conversation.id;
    body.conversationId = id;
    run.conversationId = id;
    if (run.thread === view.thread) view.adoptConversation(id, result.conversation);
    view.changed(id);
    return true;
  }

  /**
   * Answer a call's approval card: "allow" (once), "always" (allow, and the tool's policy
   * becomes "always allow") or "deny". The call comes from the card (`call` of the turn).
   */
  async answerApproval(call, decision) {
    const run = [...this._runs].find((one) => one.turn.toolCalls.includes(call));
    if (!run || call.approval !== "pending" || call.answering) return;
    call.answering = true;
    this._repaint(run);
    const result = await mcpService.answerApproval(
      run.turn.requestId,
      call.callId,
      decision === "deny" ? "deny" : "allow",
    );
    call.answering = false;
    if (result.success) {
      call.approval = decision === "deny" ? "denied" : decision === "always" ? "always" : "allowed";
      if (call.approval !== "denied") call.startedAt = Date.now();
    } else if (result.error.code === "NOT_FOUND") {
      if (call.approval === "pending") call.approval = "expired"; // answered or timed out already
    } else {
      toast({ kind: "error", title: t("mcp.call.answerFailed"), message: result.error.message });
    }
    this._repaint(run);
    if (result.success && decision === "always") this._alwaysAllow(call);
  }

  // "Always allow": the tool's policy changes for every later call (this one is allowed already).
  // The approval names the tool as its server does.
  async _alwaysAllow(call) {
    const result = await mcpService.setToolPolicy(call.serverId, call.name, { approval: "always" });
    if (!result.success)
      toast({ kind: "error", title: t("mcp.call.policyFailed", { tool: call.name }), message: result.error.message });
  }

  _repaint(run) {
    if (run.message && run.thread === this._view.thread) run.message.refresh();
  }

  // Events change the turn now; the DOM follows on the next animation frame.
  _apply(run, events) {
    const turn = run.turn;
    for (const { type, data } of events) {
      // A retry notice stands until anything else arrives.
      turn.retrying = type === "retrying" ? retryState(data) : null;
      if (type === "start") this._started(run, data);
      else if (type === "attempt") this._attempted(turn, data);
      else if (type === "delta") {
        run.firstAt ??= performance.now();
        this._reasoningDone(run);
        turn.content += String(data.text ?? "");
      } else if (type === "reasoning") {
        run.reasoningAt ??= performance.now();
        run.firstAt ??= run.reasoningAt;
        turn.reasoning += String(data.text ?? "");
      } else if (type === "tool_call") {
        run.firstAt ??= performance.now();
        this._reasoningDone(run);
        this._called(turn, data);
      } else if (type === "tool_approval") {
        const call = callOf(turn, data);
        if (call) {
          Object.assign(call, {
            approval: "pending",
            serverId: data.serverId ?? null,
            serverName: String(data.serverName || ""),
            callId: String(data.callId),
          });
          this._closeRound(turn, call);
          this._view.announce(t("mcp.call.askAnnounce", { tool: call.name }));
        }
      } else if (type === "tool_result") {
        const call = callOf(turn, data);
        if (call) {
          call.result = toolResult(data);
          if (data.serverId) call.serverId = data.serverId;
          if (call.approval === "pending") call.approval = "expired";
          this._closeRound(turn, call);
        }
      } else if (type === "usage") {
        turn.usage = {
          inputTokens: data.inputTokens ?? null,
          outputTokens: data.outputTokens ?? null,
          source: data.source || "reported",
        };
      } else if (type === "error") {
        turn.error = errorOf(data);
      } else if (type === "done") {
        this._reasoningDone(run);
        const reason = data.finishReason || "stop";
        turn.finishReason = reason;
        turn.ttftMs = data.ttftMs ?? (run.firstAt != null ? Math.round(run.firstAt - run.sentAt) : null);
        turn.elapsedMs = data.elapsedMs ?? Math.round(performance.now() - run.sentAt);
        if (reason === "error" && !turn.error)
          turn.error = { code: "INTERNAL", message: t("chat.replies.failedWithoutReason"), at: Date.now() };
        if (data.providerId) turn.providerId = String(data.providerId);
        turn.status = turn.error ? "error" : reason === "cancelled" ? "stopped" : "done";
        // The server denies what is still waiting when the reply ends.
        for (const call of turn.toolCalls) if (call.approval === "pending") call.approval = "expired";
      }
    }
    if (!this._frame) this._frame = requestAnimationFrame(() => this._paint());
  }

  // A `tool_call`: the call joins the open round, or starts one with the text so far (the text a
  // model writes before its calls belongs before them).
  _called(turn, data) {
    const call = toolCall(data, turn.toolCalls.length);
    call.startedAt = Date.now();
    let round = turn.rounds[turn.rounds.length - 1];
    if (!round || round.closed || turn.content) {
      round = { content: turn.content, calls: [], closed: false };
      turn.rounds.push(round);
      turn.content = "";
    }
    round.calls.push(call);
    turn.toolCalls.push(call);
  }

  // Once its calls are being answered, a round takes no more calls: the next ones are a new round.
  _closeRound(turn, call) {
    const round = turn.rounds.find((one) => one.calls.includes(call));
    if (round) round.closed = true;
  }

  // `start` names what the server stored: the messages' ids and, for a new one, the conversation.
  // chat-client.js also makes one of a refusal that stored the turn before failing.
  _started(run, data) {
    const view = this._view;
    if (data.requestId) run.turn.requestId = String(data.requestId);
    if (data.model) run.turn.model = String(data.model);
    const shown = run.thread === view.thread;
    run.turn.stored = Boolean(data.messageId);
    if (data.userMessageId && run.user) {
      const old = run.user.id;
      run.user.stored = true;
      run.user.id = String(data.userMessageId);
      run.user.siblingIds = run.user.siblingIds.map((id) => (id === old ? run.user.id : id));
      if (!run.user.siblingIds.length) run.user.siblingIds = [run.user.id];
      run.turn.parentId = run.user.id;
      const element = shown && view.list.messageById(old);
      if (element) element.refresh();
    }
    if (data.messageId) {
      const old = run.turn.id;
      run.turn.id = String(data.messageId);
      run.turn.leafId = run.turn.id;
      run.turn.siblingIds = run.turn.siblingIds.map((id) => (id === old ? run.turn.id : id));
    }
    if (data.conversationId && !run.conversationId) {
      run.conversationId = String(data.conversationId);
      if (shown) view.adoptConversation(run.conversationId);
    }
    if (run.conversationId) view.changed(run.conversationId);
  }

  // A member of the route was skipped, failed before answering, or is answering now.
  _attempted(turn, data) {
    const attempt = attemptOf(data);
    turn.attempts = [...(turn.attempts || []), attempt];
    if (attempt.outcome !== "answering") return;
    turn.providerId = attempt.providerId;
    turn.providerName = attempt.providerName;
    turn.model = attempt.model;
  }

  _reasoningDone(run) {
    if (run.reasoningAt != null && run.turn.reasoningMs == null)
      run.turn.reasoningMs = Math.round(performance.now() - run.reasoningAt);
  }

  _paint() {
    this._frame = 0;
    const run = this.current();
    if (!run || !run.message) return;
    run.message.refresh();
    this._view.list.follow();
  }

  _finish(run) {
    const view = this._view;
    this._runs.delete(run);
    if (run.conversationId) view.changed(run.conversationId);
    if (run.thread !== view.thread) return; // another conversation is shown: its list will tell
    if (this._frame) cancelAnimationFrame(this._frame);
    this._frame = 0;
    if (run.message) run.message.refresh();
    view.list.follow();
    view.renderState();
    const turn = run.turn;
    if (turn.status === "error") {
      view.announce(t("chat.replies.failed", { title: adviceFor(turn.error).title, message: turn.error.message }));
      if (turn.error.code === "NOT_FOUND") this._notFound(run);
    } else if (turn.status === "stopped") view.announce(t("chat.replies.stopped"));
    else view.announce(t("chat.replies.complete"));
    if (!run.conversationId) return;
    const synced = this._syncTree(run.thread, turn.toolCalls.length ? turn : null);
    // The next message waits for it: it answers the end of this reply's chain.
    if (turn.toolCalls.length) run.thread.leafSaving = Promise.all([run.thread.leafSaving, synced]);
  }

  // NOT_FOUND does not say what is gone: the conversation (deleted, perhaps in another tab) or
  // the provider (removed). Asking for the conversation tells them apart without reading the
  // message's words; a provider gone makes the view reload the list, so the picker offers the rest.
  async _notFound(run) {
    const view = this._view;
    if (run.conversationId) {
      const found = await view.conversations.get(run.conversationId);
      if (!found.success && found.error.code === "NOT_FOUND") {
        run.turn.error = { ...run.turn.error, gone: "conversation" };
        if (run.thread === view.thread && run.message) run.message.refresh();
        return;
      }
    }
    view.load();
  }

  // After a reply: the stored tree knows the siblings an edit or a regenerate made, and the title;
  // after one that ran tools, where its chain ends (the next message answers that).
  async _syncTree(thread, ranTools = null) {
    const view = this._view;
    const result = await view.conversations.get(view.conversationId);
    if (thread !== view.thread || !result.success) return;
    const stored = ranTools && turnsFromMessages(result.messages).find((one) => one.id === ranTools.id);
    if (stored) ranTools.leafId = stored.leafId;
    if (this.current()) return;
    view.conversation = result.conversation;
    if (ranTools && !stored) return view.show(result, { keep: () => view.list.scrollToEnd() });
    for (const message of result.messages) {
      const turn = view.turns.find((one) => one.id === message.id);
      if (!turn) continue;
      const siblings = turnFromMessage(message).siblingIds;
      if (siblings.join() === turn.siblingIds.join()) continue;
      turn.siblingIds = siblings;
      const element = view.list.messageById(turn.id);
      if (element) element.refresh();
    }
    view.renderState();
  }
}

// What a new message answers: the last stored turn shown (null: a new root), when a stored
// conversation is shown; else nothing, and the server decides (a new conversation has no parent).
function parentFields(view) {
  if (!view.conversationId || view.state !== "ready") return {};
  const parent = view.turns.findLast((turn) => turn.stored);
  return { parentId: parent ? parent.leafId || parent.id : null };
}

// The call a `tool_approval` or `tool_result` is about: by the id the app gave it, else the
// first of that name still waiting (an event that names neither finds none).
function callOf(turn, data) {
  const id = String(data.callId ?? "");
  const byId = turn.toolCalls.find((call) => call.callId === id || call.id === id);
  if (byId) return byId;
  return turn.toolCalls.find((call) => call.name === data.name && !call.result && call.approval !== "pending") || null;
}

// An `error` event as the turn keeps it. `responseStatus` is the app's own HTTP status when it
// refused the request (409: the conversation is answering elsewhere); `httpStatus` the provider's.
function errorOf(data) {
  return {
    code: String(data.code || "INTERNAL"),
    message: String(data.message || ""),
    retryAfter: data.retryAfter ?? null,
    httpStatus: data.httpStatus ?? null,
    responseStatus: data.responseStatus ?? null,
    at: Date.now(),
  };
}

// What the reply shows while the server waits to retry: why, and when it tries again.
function retryState(data) {
  const seconds = Number(data.retryIn);
  return {
    code: String(data.code || ""),
    attempt: Number(data.attempt) || 1,
    attempts: Number(data.attempts) || 1,
    at: Date.now() + (Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0),
  };
}
