"""The chat routes' service: a request body becomes a provider stream, relayed and recorded.

It validates the body (`backend.schemas`), finds the provider and its key (`manager`), merges
per-request parameters over the provider's own (and a `model` override over its model), opens the
stream (`providers`), relays it as the contract's SSE bytes (`backend.chat.relay`) and stores one
analytics record per request (`storage`). A body in the conversation form (a `conversationId`
key, or a `message`) goes to `backend.chat.conversations`, which keeps the history and the reply
in the store; the stateless form stores no conversation. Body and provider errors are raised
before any byte is sent, so the server can answer them with an HTTP error envelope; everything
after `start` travels inside the stream.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from backend.chat.conversations import ConversationChat
from backend.chat.relay import collect_chat, sse_events
from backend.errors import MiaodaError
from backend.manager import CustomProviderManager
from backend.models import ChatRequest, ProviderConfig, utc_now
from backend.providers import ProviderService
from backend.schemas import is_conversation_form, load_chat_request
from backend.storage import ConversationStore, Storage

log = logging.getLogger("miaoda.chat")


class ChatService:
    """`stream()` and `complete()`: the bodies of `/api/chat/stream` and `/api/chat`."""

    def __init__(
        self,
        manager: CustomProviderManager,
        providers: ProviderService,
        storage: Storage,
        *,
        heartbeat: float = 15.0,
    ) -> None:
        self._manager = manager
        self._providers = providers
        self._storage = storage
        self._heartbeat = heartbeat
        self.conversations = ConversationChat(
            ConversationStore(storage), manager, providers, self.record, heartbeat=heartbeat
        )

    def close(self) -> None:
        """Stop the conversation form's saver thread."""
        self.conversations.close()

    def stream(self, body: Any, is_disconnected: Callable[[], bool]) -> Iterator[bytes]:
        """Validate, find the provider and key, start the upstream stream and return the SSE
        body (body and provider errors raise before anything is sent)."""
        if is_conversation_form(body):
            return self.conversations.stream(body, is_disconnected)
        config, key, request = self._prepare(body)
        stream = self._providers.open_stream(config, key, request)
        return sse_events(
            stream,
            provider_id=config.id,
            model=config.model,
            request_id=new_request_id(),
            is_disconnected=is_disconnected,
            heartbeat=self._heartbeat,
            on_finish=self.record,
        )

    def complete(self, body: Any) -> dict[str, Any]:
        """One whole answer: `message`, `usage`, `finishReason`."""
        if is_conversation_form(body):
            return self.conversations.complete(body)
        config, key, request = self._prepare(body)
        return collect_chat(
            self._providers,
            config,
            key,
            request,
            request_id=new_request_id(),
            on_finish=self.record,
        )

    def _prepare(self, body: Any) -> tuple[ProviderConfig, str | None, ChatRequest]:
        request = load_chat_request(body)
        config, key = self._manager.with_key(request.provider_id)
        return _with_parameters(config, request), key, request

    def record(self, record: dict[str, Any]) -> None:
        """Store one request's analytics record (a failure is logged, not raised)."""
        try:
            self._storage.record_chat(
                request_id=record["requestId"],
                provider_id=record["providerId"],
                model=record["model"],
                input_tokens=record.get("inputTokens"),
                output_tokens=record.get("outputTokens"),
                usage_source=record.get("usageSource"),
                ttft_ms=record.get("ttftMs"),
                elapsed_ms=record.get("elapsedMs"),
                finish_reason=record.get("finishReason") or "error",
                error_code=record.get("errorCode"),
                created_at=utc_now(),
            )
        except MiaodaError:
            log.warning("could not record chat request %s", record.get("requestId"))


def new_request_id() -> str:
    """32 random hex digits naming one chat request (in its `start` event and its record)."""
    return uuid.uuid4().hex


def _with_parameters(config: ProviderConfig, request: ChatRequest) -> ProviderConfig:
    """The provider's config with the request's parameters over its own, and its model
    replaced by the request's (the adapters, `start` and the record all read `config.model`)."""
    if request.model:
        config = replace(config, model=request.model)
    if not request.parameters:
        return config
    return replace(config, parameters={**config.parameters, **request.parameters})
