"""The key pools' rows (CONTRACT §10): which keys a provider has, in order, and their state.

A key's text is never here: each row names the secret store `entry` that holds it (the
manager keeps the two in step, see backend/manager.py). States are written as they change, so
a restart does not forget a cooling, invalid or exhausted key. Rows go with their provider
(ON DELETE CASCADE).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, cast

from backend.models import KeyState, ProviderKey
from backend.storage.core import Storage

_SELECT_ALL: Final = (
    "SELECT provider_id, id, entry, hint, state, until, error_code, error_message, "
    "last_used_at FROM provider_keys ORDER BY provider_id, position"
)
_SELECT_OF: Final = (
    "SELECT provider_id, id, entry, hint, state, until, error_code, error_message, "
    "last_used_at FROM provider_keys WHERE provider_id = ? ORDER BY position"
)
_UPSERT: Final = (
    "INSERT INTO provider_keys (id, provider_id, position, entry, hint, state, until, "
    "error_code, error_message, last_used_at, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET position = excluded.position"
)
_UPDATE_STATE: Final = (
    "UPDATE provider_keys SET state = ?, until = ?, error_code = ?, error_message = ?, "
    "last_used_at = ? WHERE id = ? AND provider_id = ?"
)

StoredKey = tuple[ProviderKey, str]
"""A key and the secret store entry that holds its text."""


def _from_row(row: Sequence[Any]) -> tuple[str, StoredKey]:
    provider_id, key_id, entry, hint, state, until, code, message, used = row
    error = {"code": code, "message": message or ""} if code else None
    key = ProviderKey(key_id, hint, cast(KeyState, state), until, error, used)
    return provider_id, (key, entry)


class KeyStore:
    """The `provider_keys` table of a `Storage`."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def load(self) -> dict[str, list[StoredKey]]:
        """Every provider's keys in order, by provider id."""
        pools: dict[str, list[StoredKey]] = {}
        with self._storage._reading("storage.action.readKeys") as conn:
            for row in conn.execute(_SELECT_ALL):
                provider_id, stored = _from_row(row)
                pools.setdefault(provider_id, []).append(stored)
        return pools

    def keys_of(self, provider_id: str) -> list[StoredKey]:
        """One provider's keys in order."""
        with self._storage._reading("storage.action.readKeys") as conn:
            return [_from_row(row)[1] for row in conn.execute(_SELECT_OF, (provider_id,))]

    def replace(self, provider_id: str, keys: Sequence[StoredKey], created_at: str) -> None:
        """Make `keys`, in this order, the provider's pool: rows of keys not listed go, rows of
        listed ones keep their state, new ones are added as given. Joins an open transaction."""
        ids = [key.id for key, _ in keys]
        with self._storage._writing("storage.action.saveKeys") as conn:
            current = {row[0] for row in conn.execute(
                "SELECT id FROM provider_keys WHERE provider_id = ?", (provider_id,)
            )}  # fmt: skip
            for gone in current - set(ids):
                conn.execute("DELETE FROM provider_keys WHERE id = ?", (gone,))
            for position, (key, entry) in enumerate(keys):
                error = key.last_error or {}
                conn.execute(
                    _UPSERT,
                    (
                        key.id,
                        provider_id,
                        position,
                        entry,
                        key.hint,
                        key.state,
                        key.until,
                        error.get("code"),
                        error.get("message"),
                        key.last_used_at,
                        created_at,
                    ),
                )

    def save_state(self, provider_id: str, key: ProviderKey) -> None:
        """Write a key's state, until, last error and last use (a removed key is ignored)."""
        error = key.last_error or {}
        params = (
            key.state,
            key.until,
            error.get("code"),
            error.get("message"),
            key.last_used_at,
            key.id,
            provider_id,
        )
        with self._storage._writing("storage.action.saveKeyState") as conn:
            conn.execute(_UPDATE_STATE, params)

    def claimed(self, entries: Iterable[str]) -> set[str]:
        """Which of these secret store entries a key row names."""
        found: set[str] = set()
        with self._storage._reading("storage.action.readKeys") as conn:
            for entry in entries:
                row = conn.execute("SELECT 1 FROM provider_keys WHERE entry = ?", (entry,))
                if row.fetchone() is not None:
                    found.add(entry)
        return found
