"""The conversation form of the chat routes: history from the store, the reply saved as it streams.

A body with a `conversationId` key (docs/API.md, "Conversation form") names a stored
conversation instead of carrying its history. `ConversationChat` then, in this order: validates
the body, claims the conversation (one stream at a time per conversation: a second request gets
`BAD_REQUEST` before anything is saved), resolves the parent and the provider, saves the user
message, creates the reply row ("streaming"), builds the history from the stored path, and opens
the upstream stream. A conversation whose `toolServers` offer tools runs the tool loop
(`backend.chat.tools`): the reply is then a chain, user → assistant (tool calls) → tool → … →
assistant (the answer), each round's reply and each tool result stored as the loop runs
(`_Chain`). The reply is saved as it streams (`backend.chat.replies`): kept up to date
in memory from the relay's batches, written by a saver thread while it changes, and once more
when the outcome is known (before `done` is sent). A reply cut short by a stop, an error or a
client that went away is left with its `finishReason`; one cut short by a killed app is closed
at the next start by `ConversationStore.close_interrupted()`.

Text on its way to the database (the user message, the reply, its reasoning, an error message)
goes through `REDACTOR.redact()` first: an upstream that echoes a key back must not get it
stored.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from backend.chat.failover import FailoverStream, Report, Target, Targets
from backend.chat.relay import FinishCallback, collect_chat, sse_events
from backend.chat.replies import SAVE_INTERVAL, ReplyRecorder, ReplySaver
from backend.chat.tools import Offer, ToolApprovals, ToolBox, ToolLoop, ToolResult, complete_loop
from backend.errors import BadRequest, InternalError, InvalidConfig, MiaodaError, NotFound
from backend.i18n import tr
from backend.models import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    ConversationTurn,
    ToolCall,
)
from backend.redact import REDACTOR
from backend.schemas import load_conversation_turn
from backend.storage import Conversation, ConversationStore, Message

log = logging.getLogger("miaoda.chat")

# Said to the model in place of the result of a stored call that has none (the reply was
# stopped before it ran, the tool round limit was reached, or tools were off): providers refuse
# a history where an assistant's tool call has no answer. English: it is for the model.
TOOL_NOT_RUN = "This tool was not run: the reply ended before it ran, so there is no result."


class StreamBusy(BadRequest):
    """A second request for a conversation that is still streaming."""

    http_status = 409
    default_key = "conversations.busy"


@dataclass
class _Claim:
    """A conversation that has a request running: which messages it writes, how to stop it."""

    message_ids: set[str] = field(default_factory=set)
    cancel: Callable[[], None] | None = None
    cancelled: bool = False


@dataclass
class _Turn:
    """Everything one request decided before the upstream is called."""

    conversation: Conversation
    target: Target
    request: ChatRequest
    user_message_id: str
    reply: ReplyRecorder
    report: Report
    offer: Offer | None = None

    def ids(self) -> dict[str, str]:
        return {
            "conversationId": self.conversation.id,
            "userMessageId": self.user_message_id,
            "messageId": self.reply.message_id,
        }


class ConversationChat:
    """`stream()` and `complete()` for the conversation form; the deletes that stop streams."""

    def __init__(
        self,
        store: ConversationStore,
        targets: Targets,
        record: FinishCallback,
        *,
        heartbeat: float = 15.0,
        save_interval: float = SAVE_INTERVAL,
        tools: ToolBox | None = None,
    ) -> None:
        self._store = store
        self._targets = targets
        self._tools = tools or ToolBox()
        self._record = record
        self._heartbeat = heartbeat
        self._saver = ReplySaver(save_interval)
        self._lock = threading.Lock()
        self._claims: dict[str, _Claim] = {}

    @property
    def store(self) -> ConversationStore:
        return self._store

    @property
    def tool_approvals(self) -> ToolApprovals:
        """The tool calls of every chat request waiting for the user (answerToolApproval)."""
        return self._tools.approvals

    def close(self) -> None:
        """Stop the saver thread."""
        self._saver.close()

    # --- the chat routes -------------------------------------------------------------

    def stream(self, body: Any, is_disconnected: Callable[[], bool]) -> Iterator[bytes]:
        """The SSE body of `POST /api/chat/stream` in the conversation form."""
        turn = self._begin(load_conversation_turn(body))
        conversation_id = turn.conversation.id
        request_id = uuid.uuid4().hex
        loop: ToolLoop | None = None
        stream: FailoverStream | ToolLoop
        with self._failing(turn, time.perf_counter()):
            if turn.offer is None:
                stream = self._targets.open_stream(turn.target, turn.request)
            else:
                stream = loop = ToolLoop(
                    self._tools,
                    turn.offer,
                    turn.request,
                    lambda request: self._targets.open_stream(turn.target, request),
                    request_id=request_id,
                    ledger=_Chain(self, turn),
                )
        turn.report = stream.report
        with self._lock:
            claim = self._claims[conversation_id]
            claim.cancel = stream.cancel
            stop_now = claim.cancelled
        if stop_now:  # deleted while the request was being opened
            stream.cancel()
        self._saver.add(turn.reply)

        def finish(record: dict[str, Any]) -> None:
            saved = record
            if loop is not None and loop.rounds > 1:  # the last reply's own times
                ttft, elapsed = loop.round_times()
                saved = {**record, "ttftMs": ttft, "elapsedMs": elapsed}
            self._end(turn, lambda: self._close(turn, lambda: turn.reply.close(saved)))
            self._record(record)

        target = turn.target
        return sse_events(
            stream,
            provider_id=None if target.provider is None else target.provider.id,
            model=target.model,
            request_id=request_id,
            is_disconnected=is_disconnected,
            heartbeat=self._heartbeat,
            on_finish=finish,
            # The loop hands each round's events to the reply of that round itself.
            on_batch=turn.reply.observe if loop is None else _ignore,
            start_fields={**turn.ids(), **({"routeId": target.route_id} if target.route else {})},
            answered=lambda: stream.report,
        )

    def complete(self, body: Any) -> dict[str, Any]:
        """The answer of `POST /api/chat` in the conversation form: the stateless answer and
        the three ids."""
        turn = self._begin(load_conversation_turn(body))
        started = time.perf_counter()
        saved: dict[str, Any] | None = None
        with self._failing(turn, started):
            if turn.offer is None:
                result = collect_chat(
                    lambda: self._targets.complete(turn.target, turn.request, turn.report),
                    turn.report,
                    request_id=uuid.uuid4().hex,
                    on_finish=self._record,
                )
            else:
                result, saved = self._complete_with_tools(turn)
        elapsed = _ms_since(started)
        last = result if saved is None else saved
        if saved is not None:
            elapsed = saved.pop("elapsedMs")
        self._end(turn, lambda: self._close(turn, lambda: turn.reply.close_whole(last, elapsed)))
        if turn.target.route is not None:
            result["attempts"] = turn.report.attempts
        return {**result, **turn.ids()}

    def _complete_with_tools(self, turn: _Turn) -> tuple[dict[str, Any], dict[str, Any]]:
        """The whole answer of a tool loop, and what its last reply stores (its own usage
        and time)."""
        assert turn.offer is not None
        offer = turn.offer
        chain = _Chain(self, turn)
        answered = _CurrentReport(turn)
        round_started = time.perf_counter()

        def send(request: ChatRequest) -> dict[str, Any]:
            nonlocal round_started
            round_started = time.perf_counter()
            return self._targets.complete(turn.target, request, turn.report)

        answer = None

        def run() -> dict[str, Any]:
            nonlocal answer
            answer = complete_loop(self._tools, offer, turn.request, send, ledger=chain)
            return answer.result

        result = collect_chat(run, answered, request_id=uuid.uuid4().hex, on_finish=self._record)
        assert answer is not None
        last = {**result, "usage": answer.last_usage, "elapsedMs": _ms_since(round_started)}
        return result, last

    # --- deletes that stop streams ------------------------------------------------------

    def delete_message(self, message_id: str) -> list[str]:
        """Delete a message and its subtree; a stream writing one of them is cancelled."""
        conversation_id, ids = self._store.delete_message(message_id)
        self._cancel(conversation_id, set(ids))
        return ids

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation; its stream, if one is running, is cancelled."""
        self._store.delete_conversation(conversation_id)
        self._cancel(conversation_id, None)

    def _cancel(self, conversation_id: str, ids: set[str] | None) -> None:
        with self._lock:
            claim = self._claims.get(conversation_id)
            if claim is None or (ids is not None and not claim.message_ids & ids):
                return
            claim.cancelled = True
            cancel = claim.cancel
        if cancel is not None:
            cancel()  # the relay sends `done` cancelled; the final save finds nothing to save

    # --- one request's set-up -----------------------------------------------------------

    def _begin(self, request: ConversationTurn) -> _Turn:
        """Claim the conversation, save the user message and the empty reply (see the module
        docstring for the order); everything that can be refused is refused before a save."""
        if request.conversation_id is None:
            target, model = self._provider(request, None)
            conversation = self._store.create_conversation(
                provider_id=target.id, model=request.model
            )
            self._claim(conversation.id)
            try:
                return self._write(request, conversation, None, target, model)
            except BaseException:
                self._release(conversation.id)
                raise
        conversation = self._store.get_conversation(request.conversation_id)
        self._claim(conversation.id)
        try:
            conversation = self._store.get_conversation(conversation.id)  # as of the claim
            parent = self._parent(request, conversation)
            target, model = self._provider(request, conversation)
            return self._write(request, conversation, parent, target, model)
        except BaseException:
            self._release(conversation.id)
            raise

    def _claim(self, conversation_id: str) -> None:
        with self._lock:
            if conversation_id in self._claims:
                raise StreamBusy(fields={"conversationId": [tr("conversations.busyField")]})
            self._claims[conversation_id] = _Claim()

    def _release(self, conversation_id: str) -> None:
        with self._lock:
            self._claims.pop(conversation_id, None)

    def _parent(self, request: ConversationTurn, conversation: Conversation) -> Message | None:
        """The message to answer from (None: a new root), checked against the contract."""
        if request.parent_given:
            parent = None if request.parent_id is None else self._own(request, conversation)
        elif conversation.current_leaf_id is None:
            parent = None
        else:
            parent = self._store.get_message(conversation.current_leaf_id)
            while request.content is None and parent is not None and parent.role != "user":
                # Regenerate with no parentId: the reply to the user message the current leaf
                # answers (a tool loop's reply is a chain of replies and tool results).
                parent = (
                    None if parent.parent_id is None else self._store.get_message(parent.parent_id)
                )
        if request.content is None and (parent is None or parent.role != "user"):
            raise InvalidConfig(
                tr("conversations.regenerateNeedsUser"),
                fields={"parentId": [tr("conversations.regenerateNeedsUserField")]},
            )
        return parent

    def _own(self, request: ConversationTurn, conversation: Conversation) -> Message:
        assert request.parent_id is not None
        problem = InvalidConfig(
            tr("conversations.parentGone"),
            fields={"parentId": [tr("conversations.parentGoneField")]},
        )
        try:
            parent = self._store.get_message(request.parent_id)
        except NotFound:
            raise problem from None
        if parent.conversation_id != conversation.id:
            raise problem
        return parent

    def _provider(
        self, request: ConversationTurn, conversation: Conversation | None
    ) -> tuple[Target, str | None]:
        """The provider or route (with the request's parameters and model) and the model to
        remember: the request's, else the conversation's when the provider stays, else none
        (the provider's own; a route has none)."""
        stored_provider = conversation.provider_id if conversation else None
        provider_id = request.provider_id or stored_provider
        if provider_id is None:
            raise InvalidConfig(
                tr("conversations.providerNeeded"),
                fields={"providerId": [tr("conversations.providerNeededField")]},
            )
        model = request.model
        if model is None and conversation is not None and provider_id == stored_provider:
            model = conversation.model
        target = self._targets.resolve(provider_id, model=model)
        return target, model

    def _write(
        self,
        request: ConversationTurn,
        conversation: Conversation,
        parent: Message | None,
        target: Target,
        model: str | None,
    ) -> _Turn:
        store = self._store
        servers = conversation.tool_servers
        if request.tool_servers is not None:
            servers = request.tool_servers
        offer = self._tools.offer(servers)
        if request.content is not None:
            user = store.add_message(
                conversation.id,
                parent_id=None if parent is None else parent.id,
                role="user",
                content=REDACTOR.redact(request.content),
            )
        else:
            assert parent is not None  # _parent refuses a regenerate without one
            user = parent
        with self._lock:
            self._claims[conversation.id].message_ids.add(user.id)
        history = self._history(conversation, user.id)
        config = target.provider
        reply = store.start_reply(
            conversation.id,
            parent_id=user.id,
            provider_id=target.id if config is None else config.id,
            model=None if config is None else config.model,
            route_id=target.route_id,
        )
        with self._lock:
            self._claims[conversation.id].message_ids.add(reply.id)
        changes: dict[str, Any] = {"provider_id": target.id, "model": model}
        if request.tool_servers is not None:
            changes["tool_servers"] = list(servers)
        conversation = store.update_conversation(conversation.id, changes)
        chat = ChatRequest(
            provider_id=target.id,
            messages=history,
            parameters=dict(request.parameters),  # over the provider's own (merged_parameters)
            model=None if config is None else config.model,
        )
        reply_recorder = ReplyRecorder(store, reply.id)
        report = self._targets.report_for(target)
        return _Turn(conversation, target, chat, user.id, reply_recorder, report, offer)

    def _history(self, conversation: Conversation, last_id: str) -> tuple[ChatMessage, ...]:
        """The messages sent upstream: the system prompt, then the stored path up to
        `last_id` (see `history_messages`)."""
        path = self._store.path(conversation.id, last_id)
        cut = next(i for i, m in enumerate(path) if m.id == last_id)
        return history_messages(conversation.system_prompt, path[: cut + 1])

    # --- ends -------------------------------------------------------------------------

    def _end(self, turn: _Turn, save: Callable[[], None]) -> None:
        """The final save, then the conversation is free for its next request."""
        self._saver.remove(turn.reply)
        try:
            save()
        except MiaodaError:
            log.warning("could not save the end of reply %s", turn.reply.message_id)
        finally:
            self._release(turn.conversation.id)

    @contextmanager
    def _failing(self, turn: _Turn, started: float) -> Iterator[None]:
        """Store a failure in the block on the turn's reply, then raise it naming the stored
        messages (a bug as INTERNAL, logged; an interrupt as itself)."""
        try:
            yield
        except MiaodaError as error:
            self._fail(turn, error, _ms_since(started))
            raise error.stored_as(turn.ids()) from None
        except Exception as error:
            self._fail(turn, None)
            raise _unexpected(turn).stored_as(turn.ids()) from error
        except BaseException:
            self._fail(turn, None)
            raise

    def _fail(self, turn: _Turn, error: MiaodaError | None, elapsed_ms: int | None = None) -> None:
        shown = error or InternalError(tr("conversations.notSent"))
        self._end(
            turn, lambda: self._close(turn, lambda: turn.reply.close_failed(shown, elapsed_ms))
        )

    def _close(self, turn: _Turn, save: Callable[[], None]) -> None:
        """The reply's final save, and for a route who answered it (or was tried)."""
        save()
        report = turn.report
        if report.route_id is not None:
            self._store.save_answered(
                turn.reply.message_id,
                provider_id=report.provider_id or report.route_id,
                model=report.model,
                attempts=report.attempts,
            )


def history_messages(system_prompt: str, path: list[Message]) -> tuple[ChatMessage, ...]:
    """A stored path as the upstream's messages.

    The system prompt goes first when it is not empty. An assistant reply goes with its text
    and tool calls; a call whose result the path stores is answered by that `tool` message (a
    failed or declined one as an error), any other by one saying it was not run. A reply with
    neither text nor tool calls (a failed turn) is left out, as the frontend did.
    """
    messages: list[ChatMessage] = []
    if system_prompt:
        messages.append(ChatMessage("system", system_prompt))
    answered = {m.tool_call_id for m in path if m.role == "tool"}
    for message in path:
        if message.role == "user":
            messages.append(ChatMessage("user", message.content))
        elif message.role == "tool":
            messages.append(
                ChatMessage(
                    "tool",
                    message.content,
                    tool_call_id=message.tool_call_id,
                    is_error=message.error is not None,
                )
            )
        else:
            calls = tuple(
                ToolCall(str(c.get("id")), str(c.get("name")), str(c.get("arguments") or ""))
                for c in message.tool_calls
            )
            if not message.content and not calls:
                continue
            messages.append(ChatMessage("assistant", message.content, tool_calls=calls))
            messages.extend(
                ChatMessage("tool", TOOL_NOT_RUN, tool_call_id=call.id)
                for call in calls
                if call.id not in answered
            )
    return tuple(messages)


class _Chain:
    """A tool loop's reply chain in the store (`backend.chat.tools.Ledger`): each round's reply
    closed when its calls start, each result a `tool` message under the message before it, the
    next round's reply under the last result. Tool messages keep the result as `content`, the
    call's time as `elapsedMs` and, when the result is a failure, an `error` (`TOOL_DECLINED`
    when the user declined it or did not answer, else `TOOL_ERROR`); they are not indexed for
    search."""

    def __init__(self, chat: ConversationChat, turn: _Turn) -> None:
        self._chat = chat
        self._turn = turn
        self._last_id = turn.reply.message_id

    def observe(self, batch: list[ChatEvent]) -> None:
        self._turn.reply.observe(batch)

    def end_streamed_round(self, record: dict[str, Any]) -> None:
        turn = self._turn
        reply = turn.reply
        self._chat._saver.remove(reply)
        self._chat._close(turn, lambda: reply.close(record))

    def end_whole_round(self, result: dict[str, Any], elapsed_ms: int) -> None:
        turn = self._turn
        reply = turn.reply
        self._chat._close(turn, lambda: reply.close_whole(result, elapsed_ms))

    def tool_result(self, result: ToolResult) -> None:
        turn = self._turn
        store = self._chat.store
        conversation_id = turn.conversation.id
        message = store.add_message(
            conversation_id,
            parent_id=self._last_id,
            role="tool",
            content=result.content,
            tool_call_id=result.call_id,
        )
        self._claimed(message.id)
        error = None
        if result.declined:
            error = {"code": "TOOL_DECLINED", "message": tr("toolLoop.declined")}
        elif result.is_error:
            error = {"code": "TOOL_ERROR", "message": tr("toolLoop.failed")}
        store.save_reply(
            message.id,
            content=result.content,
            finish_reason="stop",
            error=error,
            elapsed_ms=result.elapsed_ms,
        )

    def next_round(self) -> None:
        turn = self._turn
        target = turn.target
        config = target.provider
        reply = self._chat.store.start_reply(
            turn.conversation.id,
            parent_id=self._last_id,
            provider_id=target.id if config is None else config.id,
            model=None if config is None else config.model,
            route_id=target.route_id,
        )
        self._claimed(reply.id)
        turn.reply = ReplyRecorder(self._chat.store, reply.id)
        turn.report = self._chat._targets.report_for(target)
        self._chat._saver.add(turn.reply)

    def opened(self, report: Report) -> None:
        self._turn.report = report

    def _claimed(self, message_id: str) -> None:
        """A message this request writes (a delete of it stops the request)."""
        self._last_id = message_id
        with self._chat._lock:
            claim = self._chat._claims.get(self._turn.conversation.id)
            if claim is not None:
                claim.message_ids.add(message_id)


class _CurrentReport:
    """Who answers the round being sent (`Answered`): the turn's report of the moment."""

    def __init__(self, turn: _Turn) -> None:
        self._turn = turn

    @property
    def route_id(self) -> str | None:
        return self._turn.report.route_id

    @property
    def provider_id(self) -> str | None:
        return self._turn.report.provider_id

    @property
    def model(self) -> str | None:
        return self._turn.report.model

    @property
    def key_id(self) -> str | None:
        return self._turn.report.key_id


def _ignore(batch: list[ChatEvent]) -> None:
    """An `on_batch` that only asks the relay to report the outcome before `done`."""


def _unexpected(turn: _Turn) -> InternalError:
    """A bug while opening the request (called in the `except` block, which it logs)."""
    log.exception("chat for conversation %s failed before streaming", turn.conversation.id)
    return InternalError(tr("conversations.notSent"))


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
