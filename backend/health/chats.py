"""What each provider's real chat requests saw lately: the records `HealthMonitor` combines
with its checks (docs/HEALTH.md, "Real chats").

    ChatRecords  each provider's `RecentChats` in memory behind a lock, told every counted chat
                 outcome (`record`) and every saved or removed provider (`provider_changed`),
                 saved to the data file (`ChatOutcomeStore`) when the count or the last error
                 changes, so a restart keeps a run of failures.

The rules of a record (what counts, what an outcome does) are `rules.after_chat`; which status a
record makes is `rules.combine`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from backend.errors import MiaodaError
from backend.health.rules import after_chat
from backend.models import NO_CHATS, ProviderConfig, RecentChats
from backend.storage import ChatOutcomeStore, Storage

log = logging.getLogger("miaoda.health")


class ChatRecords:
    """Every provider's recent chat outcomes; thread-safe.

    `lookup` reads a saved provider (NotFound when there is none): for an outcome of a provider
    saved where this process did not hear of it.
    """

    def __init__(self, storage: Storage, lookup: Callable[[str], ProviderConfig]) -> None:
        self._store = ChatOutcomeStore(storage)
        self._lookup = lookup
        self._lock = threading.Lock()
        # Saves are serialised apart from `_lock`: a disk sync must not hold up readers, and
        # each save writes the newest record, whatever order the threads arrive in.
        self._save_lock = threading.Lock()
        self._chats: dict[str, RecentChats] = {}
        # Each provider as last saved: an edit that changes where its chats go forgets them.
        self._providers: dict[str, ProviderConfig] = {}
        self._removed: set[str] = set()

    def load(self, providers: Iterable[ProviderConfig]) -> dict[str, RecentChats]:
        """Start from the stored records of these providers (the saved ones); those found."""
        stored = self._store.load()
        with self._lock:
            for provider in providers:
                self._providers[provider.id] = provider
                if provider.id in stored:
                    self._chats[provider.id] = stored[provider.id]
            return dict(self._chats)

    def get(self, provider_id: str) -> RecentChats:
        """A provider's record (the empty one when none of its chats counted yet)."""
        with self._lock:
            return self._chats.get(provider_id, NO_CHATS)

    def record(
        self, provider_id: str, error: MiaodaError | None, at: str
    ) -> tuple[ProviderConfig, bool] | None:
        """Count a chat that ended at `at`; the provider and whether the record must be saved
        (`save`), or None for a provider that is not saved (any more)."""
        with self._lock:
            provider = self._providers.get(provider_id)
        if provider is None:
            try:
                provider = self._lookup(provider_id)
            except MiaodaError:
                return None  # gone: a chat can end just after its provider was removed
        with self._lock:
            if provider_id in self._removed:
                return None
            provider = self._providers.setdefault(provider_id, provider)
            before = self._chats.get(provider_id, NO_CHATS)
            after = after_chat(before, error, at)
            self._chats[provider_id] = after
        return provider, _stored_part(after) != _stored_part(before)

    def provider_changed(self, provider_id: str, saved: ProviderConfig | None) -> bool:
        """A provider was saved (`saved`, as it is now) or removed (None). True when its record
        was forgotten (then `save` it): the edit changed where or how its chats are sent, and
        failures with the old settings say nothing of the new."""
        with self._lock:
            if saved is None:
                self._removed.add(provider_id)
                self._providers.pop(provider_id, None)
                self._chats.pop(provider_id, None)  # the stored row goes with the provider
                return False
            before = self._providers.get(provider_id)
            self._providers[provider_id] = saved
            if before is None or _chat_target(before) == _chat_target(saved):
                return False
            return self._chats.pop(provider_id, None) is not None

    def save(self, provider_id: str) -> None:
        """Write a provider's newest record (or its absence) to the data file."""
        with self._save_lock:
            with self._lock:
                chats = self._chats.get(provider_id)
            try:
                if chats is None:
                    self._store.clear(provider_id)
                else:
                    self._store.save(provider_id, chats)
            except MiaodaError as err:
                # Memory still has it; only a restart would forget this change.
                log.warning("could not save the chat outcomes of %s: %s", provider_id, err.message)


def _stored_part(chats: RecentChats) -> tuple[Any, ...]:
    """The part of a record whose changes are written to disk: the count and the last error,
    not the time of one more answer in a row (that would cost a disk sync per chat)."""
    return (chats.failures_in_a_row, chats.last_error, chats.last_http_status)


def _chat_target(provider: ProviderConfig) -> tuple[Any, ...]:
    """What decides where a provider's chats go and how they are sent: the address, protocol,
    authentication, headers, keys and model."""
    return (
        provider.type,
        provider.base_url,
        provider.model,
        provider.auth,
        sorted(provider.headers.items()),
        sorted(provider.endpoints.items()),
        sorted(provider.secret_headers.items(), key=lambda item: item[0]),
        provider.has_api_key,
        provider.api_key_hint,
        [key.id for key in provider.keys],
    )
