"""The conversation form of the chat routes: history from the store, the reply saved as it streams.

A body with a `conversationId` key (docs/API.md, "Conversation form") names a stored
conversation instead of carrying its history. `ConversationChat` then, in this order: validates
the body, claims the conversation (one stream at a time per conversation: a second request gets
`BAD_REQUEST` before anything is saved), resolves the parent and the provider, saves the user
message, creates the reply row ("streaming"), builds the history from the stored path, and opens
the upstream stream. The reply is saved as it streams (`backend.chat.replies`): kept up to date
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

from backend.chat.failover import Report, Target, Targets
from backend.chat.relay import FinishCallback, collect_chat, sse_events
from backend.chat.replies import SAVE_INTERVAL, ReplyRecorder, ReplySaver
from backend.errors import BadRequest, InternalError, InvalidConfig, MiaodaError, NotFound
from backend.i18n import tr
from backend.models import (
    ChatMessage,
    ChatRequest,
    ConversationTurn,
    ToolCall,
)
from backend.redact import REDACTOR
from backend.schemas import load_conversation_turn
from backend.storage import Conversation, ConversationStore, Message

log = logging.getLogger("miaoda.chat")

# Said in place of a tool's result, as the frontend did when it kept the history (its
# TOOL_NOT_RUN): the app shows tool calls but does not run them yet, and providers refuse a
# history where an assistant's tool call has no answer.
TOOL_NOT_RUN = "This tool was not run: MiaoDa Chat shows tool calls but does not execute them."


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
    ) -> None:
        self._store = store
        self._targets = targets
        self._record = record
        self._heartbeat = heartbeat
        self._saver = ReplySaver(save_interval)
        self._lock = threading.Lock()
        self._claims: dict[str, _Claim] = {}

    @property
    def store(self) -> ConversationStore:
        return self._store

    def close(self) -> None:
        """Stop the saver thread."""
        self._saver.close()

    # --- the chat routes -------------------------------------------------------------

    def stream(self, body: Any, is_disconnected: Callable[[], bool]) -> Iterator[bytes]:
        """The SSE body of `POST /api/chat/stream` in the conversation form."""
        turn = self._begin(load_conversation_turn(body))
        conversation_id = turn.conversation.id
        with self._failing(turn, time.perf_counter()):
            stream = self._targets.open_stream(turn.target, turn.request)
        turn.report = stream.report
        with self._lock:
            claim = self._claims[conversation_id]
            claim.cancel = stream.cancel
            stop_now = claim.cancelled
        if stop_now:  # deleted while the request was being opened
            stream.cancel()
        self._saver.add(turn.reply)

        def finish(record: dict[str, Any]) -> None:
            self._end(turn, lambda: self._close(turn, lambda: turn.reply.close(record)))
            self._record(record)

        target = turn.target
        return sse_events(
            stream,
            provider_id=None if target.provider is None else target.provider.id,
            model=target.model,
            request_id=uuid.uuid4().hex,
            is_disconnected=is_disconnected,
            heartbeat=self._heartbeat,
            on_finish=finish,
            on_batch=turn.reply.observe,
            start_fields={**turn.ids(), **({"routeId": target.route_id} if target.route else {})},
            answered=lambda: stream.report,
        )

    def complete(self, body: Any) -> dict[str, Any]:
        """The answer of `POST /api/chat` in the conversation form: the stateless answer and
        the three ids."""
        turn = self._begin(load_conversation_turn(body))
        started = time.perf_counter()
        with self._failing(turn, started):
            result = collect_chat(
                lambda: self._targets.complete(turn.target, turn.request, turn.report),
                turn.report,
                request_id=uuid.uuid4().hex,
                on_finish=self._record,
            )
        elapsed = _ms_since(started)
        self._end(turn, lambda: self._close(turn, lambda: turn.reply.close_whole(result, elapsed)))
        if turn.target.route is not None:
            result["attempts"] = turn.report.attempts
        return {**result, **turn.ids()}

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
            if request.content is None and parent.role != "user":
                # Regenerate with no parentId: the reply to the current leaf's user message.
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
        conversation = store.update_conversation(
            conversation.id, {"provider_id": target.id, "model": model}
        )
        chat = ChatRequest(
            provider_id=target.id,
            messages=history,
            parameters=dict(request.parameters),  # over the provider's own (merged_parameters)
            model=None if config is None else config.model,
        )
        reply_recorder = ReplyRecorder(store, reply.id)
        report = self._targets.report_for(target)
        return _Turn(conversation, target, chat, user.id, reply_recorder, report)

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
    and tool calls, each call answered by a `tool` message saying it was not run (unless the
    path stores that answer itself); a reply with neither text nor tool calls (a failed turn)
    is left out, as the frontend did.
    """
    messages: list[ChatMessage] = []
    if system_prompt:
        messages.append(ChatMessage("system", system_prompt))
    answered = {m.tool_call_id for m in path if m.role == "tool"}
    for message in path:
        if message.role == "user":
            messages.append(ChatMessage("user", message.content))
        elif message.role == "tool":
            messages.append(ChatMessage("tool", message.content, tool_call_id=message.tool_call_id))
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


def _unexpected(turn: _Turn) -> InternalError:
    """A bug while opening the request (called in the `except` block, which it logs)."""
    log.exception("chat for conversation %s failed before streaming", turn.conversation.id)
    return InternalError(tr("conversations.notSent"))


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
