"""SQLite storage for MiaoDa Chat: the app's only sqlite3 user.

- core.py: `Storage`, the data file (providers, settings, health history, chat statistics),
  its transactions and its error messages;
- schema.py: the migrations that build the file;
- keys.py: `KeyStore`, the key pools' rows and key states (never a key's text);
- conversations.py: `ConversationStore`, conversations and message trees (CONTRACT §9), with
  records.py: their records (`Conversation`, `Message`) and rows;
- searchindex.py and textsearch.py: full-text search (docs/SEARCH.md), the latter pure;
- routes.py: `RouteStore`, routes (CONTRACT §10) and the providers' stored circuit breakers;
- outcomes.py: `ChatOutcomeStore`, each provider's recent real chat outcomes (honest health).
"""

from __future__ import annotations

from backend.storage.conversations import ConversationStore
from backend.storage.core import BUSY_TIMEOUT_S, Storage
from backend.storage.keys import KeyStore, StoredKey
from backend.storage.outcomes import ChatOutcomeStore
from backend.storage.records import Conversation, Message
from backend.storage.routes import CircuitRow, Route, RouteStore
from backend.storage.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from backend.storage.schema import migration_1 as _migration_1  # the name tests knew it by

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_S",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ChatOutcomeStore",
    "CircuitRow",
    "Conversation",
    "ConversationStore",
    "KeyStore",
    "Message",
    "Route",
    "RouteStore",
    "Storage",
    "StoredKey",
    "_migration_1",
]
