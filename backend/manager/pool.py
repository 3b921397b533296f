"""A provider's key pool (CONTRACT §10): its keys' texts, one key added or removed at a time,
the next key to send, and committing a new pool (journaled, see journal.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from backend.errors import InvalidConfig, NotFound
from backend.i18n import tr
from backend.manager.headers import HeaderSecrets
from backend.manager.hints import key_hint
from backend.manager.journal import KeyJournal
from backend.models import MAX_KEYS, ProviderConfig, ProviderKey
from backend.providers.keys import KeyCursor
from backend.redact import REDACTOR
from backend.schemas import load_id, load_key
from backend.storage import StoredKey

KEY_ENTRY = ":key:"
"""A pool's key is kept under `<provider id>:key:<key id>` (an older first key under the id)."""


class KeyPool(KeyJournal, HeaderSecrets):
    """Reads, picks and changes the keys of a provider's pool."""

    def api_keys(self, provider_id: str) -> Sequence[str]:
        """The texts of a provider's keys in order, for export and the provider layer only
        (never sent to a client)."""
        texts = []
        for _, entry in self._pools.stored(provider_id):
            text = self._secrets.get(entry)
            if text:
                REDACTOR.add(text)
                texts.append(text)
        return texts

    def api_key(self, provider_id: str) -> str | None:
        """The text of a provider's first key (see `api_keys`), or None."""
        stored = self._pools.stored(provider_id)
        text = self._secrets.get(stored[0][1]) if stored else None
        REDACTOR.add(text)
        return text

    def with_key(
        self, provider_id: Any, *, check: bool = False
    ) -> tuple[ProviderConfig, str | None]:
        """A provider and the key to send it with, as one consistent pair (an update cannot
        fall in between: the key read must belong to the base URL it will be sent to).

        The key is the pool's next usable one (round robin), and the config carries the
        request's `rotation` through the pool. `check`: for a health check, which falls back
        to an unusable key (an invalid one first) when no key is usable, so that a passing
        check can re-enable it. The key is None when the provider has none, or none is usable
        now (the provider layer then waits for one, or says why it cannot).
        """
        with self._lock:
            provider = self.get(provider_id)
            cursor = self._cursor(provider, check=check)
            key = cursor.advance() if cursor is not None else None
            return replace(self._filled(provider, {}), rotation=cursor), key

    def _cursor(self, provider: ProviderConfig, *, check: bool) -> KeyCursor | None:
        return self._pools.cursor(
            provider.id, self._secrets.get, check=check, label=provider.display_name
        )

    def add_key(self, provider_id: Any, key: Any) -> ProviderConfig:
        """Add a key at the end of a provider's pool."""
        text = load_key(key)
        REDACTOR.add(text)
        with self._lock:
            current = self.get(provider_id)
            self._settle(current.id)
            kept = self._pools.stored(current.id)
            if len(kept) >= MAX_KEYS:
                problem = tr("providers.keys.poolFull", max=MAX_KEYS)
                raise InvalidConfig(problem, fields={"key": [problem]})
            if text in self.api_keys(current.id):
                problem = tr("providers.keys.inPool")
                raise InvalidConfig(problem, fields={"key": [problem]})
            added, texts = fresh_keys(current.id, [text])
            self._commit_keys(current, [*kept, *added], texts, [])
        self._notify(current.id)
        return self.get(current.id)

    def remove_key(self, provider_id: Any, key_id: Any) -> ProviderConfig:
        """Remove one key from a provider's pool (and from the secret store)."""
        with self._lock:
            current = self.get(provider_id)
            self._settle(current.id)
            kept = self._pools.stored(current.id)
            gone = _find_key(kept, load_id(key_id, "keyId"))
            left = [stored for stored in kept if stored[0].id != gone[0].id]
            self._commit_keys(current, left, {}, [gone[1]])
        self._notify(current.id)
        return self.get(current.id)

    def reset_key(self, provider_id: Any, key_id: Any) -> ProviderConfig:
        """Put a key back to `active` (it is tried again by the next request)."""
        with self._lock:
            current = self.get(provider_id)
            _find_key(self._pools.stored(current.id), load_id(key_id, "keyId"))
            self._pools.reset(current.id, key_id)
        return self.get(current.id)

    def _commit_keys(
        self,
        provider: ProviderConfig,
        keys: Sequence[StoredKey],
        texts: Mapping[str, str],
        dropped: Sequence[str],
        *,
        insert: bool = False,
    ) -> None:
        """Make `keys` the provider's pool and save `provider` (its row: `has_api_key` and the
        hint follow the first key) in one transaction. `texts` (entry -> text) are written to
        the secret store first, the `dropped` entries deleted after; the journal lists both
        until then (see journal.py)."""
        first = keys[0][0] if keys else None
        row = replace(
            provider,
            has_api_key=first is not None,
            api_key_hint=first.hint if first else None,
            keys=(),
            rotation=None,
        )
        in_flight = [*texts, *dropped]
        if in_flight:
            self._mark(provider.id, in_flight)
        try:
            for entry, text in texts.items():
                self._secrets.set(entry, text)
            with self._storage.transaction():
                if insert:
                    self._storage.insert_provider(row)
                else:
                    self._storage.update_provider(row)
                self._key_store.replace(provider.id, keys, self._clock())
                if not dropped and in_flight:
                    self._mark(provider.id, None)
        except BaseException:
            self._settle_quietly(provider.id)  # the rows are as before: the new entries go
            raise
        self._pools.put(provider.id, keys)
        if dropped:
            self._settle_quietly(provider.id)


def given_keys(data: dict[str, Any]) -> list[str] | None:
    """Take `apiKey` / `apiKeys` out of validated `data`: the pool they give (`apiKey: ""` and
    `apiKeys: []` give none), or None when neither is there (the keys stay)."""
    if "apiKeys" in data:
        keys: list[str] = list(data.pop("apiKeys"))
    elif "apiKey" in data:
        key = data.pop("apiKey")
        keys = [key] if key else []
    else:
        return None
    for key in keys:
        REDACTOR.add(key)
    return keys


def fresh_keys(provider_id: str, texts: Sequence[str]) -> tuple[list[StoredKey], dict[str, str]]:
    """Fresh keys for `texts`: each with a new id and entry; and the texts by entry."""
    stored: list[StoredKey] = []
    by_entry: dict[str, str] = {}
    for text in texts:
        key_id = uuid.uuid4().hex
        entry = provider_id + KEY_ENTRY + key_id
        stored.append((ProviderKey(key_id, key_hint(text)), entry))
        by_entry[entry] = text
    return stored, by_entry


def _find_key(keys: Sequence[StoredKey], key_id: str) -> StoredKey:
    found = next((stored for stored in keys if stored[0].id == key_id), None)
    if found is None:
        raise NotFound(
            tr("providers.keys.gone"), fields={"keyId": [tr("providers.keys.goneField")]}
        )
    return found
