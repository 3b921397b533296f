"""Each provider's recent real chat outcomes in the app's data file (table of migration 7).

The health monitor counts the chats that failed in a row with a provider-side error
(docs/HEALTH.md, "Real chats"); a row keeps that count, when the latest counted chat ended and
its error, so that a restart does not show a provider whose last chats failed as healthy. A
row goes with its provider (ON DELETE CASCADE).
"""

from __future__ import annotations

from typing import Any, Final

from backend.models import RecentChats
from backend.storage.core import Storage

_SELECT_ALL: Final = (
    "SELECT provider_id, failures_in_a_row, last_at, error_code, error_message, http_status "
    "FROM chat_outcomes"
)
# Only for a provider still saved: a chat can end just after its provider was removed.
_SAVE: Final = (
    "INSERT INTO chat_outcomes (provider_id, failures_in_a_row, last_at, error_code, "
    "error_message, http_status) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM providers WHERE id = ?1) "
    "ON CONFLICT (provider_id) DO UPDATE SET failures_in_a_row = excluded.failures_in_a_row, "
    "last_at = excluded.last_at, error_code = excluded.error_code, "
    "error_message = excluded.error_message, http_status = excluded.http_status"
)


def _from_row(row: tuple[Any, ...]) -> tuple[str, RecentChats]:
    provider_id, failures, last_at, code, message, http_status = row
    error = (code, message or "") if code else None
    return provider_id, RecentChats(int(failures), last_at, error, http_status)


class ChatOutcomeStore:
    """The `chat_outcomes` table of a `Storage`."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def load(self) -> dict[str, RecentChats]:
        """Every provider's stored record, by provider id."""
        with self._storage._reading("storage.action.readChatOutcomes") as conn:
            return dict(_from_row(row) for row in conn.execute(_SELECT_ALL))

    def save(self, provider_id: str, chats: RecentChats) -> None:
        """Save a provider's record; nothing happens if the provider is gone."""
        code, message = chats.last_error or (None, None)
        values = (
            provider_id,
            chats.failures_in_a_row,
            chats.last_at,
            code,
            message,
            chats.last_http_status,
        )
        with self._storage._writing("storage.action.saveChatOutcomes") as conn:
            conn.execute(_SAVE, values)

    def clear(self, provider_id: str) -> None:
        """Forget a provider's record (its settings changed: the old outcomes no longer tell)."""
        with self._storage._writing("storage.action.saveChatOutcomes") as conn:
            conn.execute("DELETE FROM chat_outcomes WHERE provider_id = ?", (provider_id,))
