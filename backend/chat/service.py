"""The chat routes' service: a request body becomes a provider stream, relayed and recorded.

It validates the body (`backend.schemas`), finds the provider and its key (`manager`), merges
per-request parameters over the provider's own, opens the stream (`providers`), relays it as the
contract's SSE bytes (`backend.chat.relay`) and stores one analytics record per request (`storage`).
Body and provider errors are raised before any byte is sent, so the server can answer them with
an HTTP error envelope; everything after `start` travels inside the stream.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, replace
from typing import Any

from backend.chat.relay import collect_chat
from backend.errors import MiaodaError
from backend.manager import CustomProviderManager
from backend.models import ChatRequest, ProviderConfig, utc_now
from backend.providers import ChatStream, ProviderService
from backend.schemas import load_chat_request
from backend.storage import Storage

log = logging.getLogger("miaoda.chat")


REMEMBER_SECONDS = 30.0  # also picks up a key changed outside the app (e.g. in the keyring)


@dataclass(frozen=True)
class _Pair:
    config: ProviderConfig
    key: str | None
    generation: int
    read_at: float


@dataclass(frozen=True)
class OpenedStream:
    """A started upstream stream and what its `start` event names."""

    stream: ChatStream
    provider_id: str
    model: str
    request_id: str


class ChatService:
    """`open()` (relayed by `backend.chat.PushRelay`) and `complete()` for `/api/chat/stream`
    and `/api/chat`."""

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
        self._recent: dict[str, _Pair] = {}  # provider id → what `open` last read
        manager.add_listener(self._forget)

    @property
    def heartbeat(self) -> float:
        """Seconds of silence after which a stream sends a `: ping` comment."""
        return self._heartbeat

    def open(self, body: Any) -> OpenedStream:
        """Validate, find the provider and key, and start the upstream stream (errors raise).

        Call it off the event loop: it reads the database and the secret store.
        """
        request = load_chat_request(body)
        generation = self._manager.generation  # read first: a write after it invalidates
        config, key = self._manager.with_key(request.provider_id)
        self._recent[config.id] = _Pair(config, key, generation, time.monotonic())
        return self._start(config, key, request)

    def open_remembered(self, body: Any) -> OpenedStream | None:
        """`open` without blocking, for the event loop: only for a provider `open` read within
        the last 30 s and unchanged since (validation errors raise); None means use `open`.

        This saves the chat route a round trip through a worker thread before each stream
        (about a millisecond of the time to first token). The remembered key is the one the
        provider layer holds in memory anyway for every request it sends.
        """
        request = load_chat_request(body)
        pair = self._recent.get(request.provider_id)
        if pair is None:
            return None
        if pair.generation != self._manager.generation or (
            time.monotonic() - pair.read_at > REMEMBER_SECONDS
        ):
            self._recent.pop(request.provider_id, None)
            return None
        return self._start(pair.config, pair.key, request)

    def _forget(self, provider_id: str, removed: bool) -> None:
        # A saved or removed provider: its remembered key goes now, not at its next message
        # (which, for a removed one, never comes); so do the provider layer's cached origins.
        self._recent.pop(provider_id, None)
        self._providers.forget_remembered()

    def _start(self, config: ProviderConfig, key: str | None, request: ChatRequest) -> OpenedStream:
        config = _with_parameters(config, request)
        stream = self._providers.open_stream(config, key, request)
        return OpenedStream(stream, config.id, config.model, new_request_id())

    def complete(self, body: Any) -> dict[str, Any]:
        """One whole answer: `message`, `usage`, `finishReason`."""
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
    """32 random hex digits naming one chat request (in its `start` event and its record).

    An identifier, not a secret: the process's seeded generator, not `uuid4`, whose system
    call for 16 random bytes is a measurable share of a message's start on a busy machine.
    """
    return f"{random.getrandbits(128):032x}"


def _with_parameters(config: ProviderConfig, request: ChatRequest) -> ProviderConfig:
    """The provider's config with the request's parameters over its own."""
    if not request.parameters:
        return config
    return replace(config, parameters={**config.parameters, **request.parameters})
