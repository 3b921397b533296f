"""SQLite storage for MiaoDa Chat: the app's only sqlite3 user.

- core.py: `Storage`, the data file (providers, settings, health history, chat statistics),
  its transactions and its error messages;
- schema.py: the migrations that build the file;
- keys.py: `KeyStore`, the key pools' rows and key states (never a key's text);
- conversations.py: `ConversationStore`, conversations and message trees (CONTRACT §9), with
  records.py: their records (`Conversation`, `Message`) and rows;
- searchindex.py and textsearch.py: full-text search (docs/SEARCH.md), the latter pure;
- routes.py: `RouteStore`, routes (CONTRACT §10) and the providers' stored circuit breakers;
- outcomes.py: `ChatOutcomeStore`, each provider's recent real chat outcomes (honest health);
- tools.py: `McpStore`, the MCP servers the user added and their tools' policies (CONTRACT §12);
- rollups.py: the request log's running totals per quarter-hour, kept as each request is logged,
  and usage.py: `UsageStore`, which reads them; costs.py: `PriceStore` (user prices) and
  `BudgetStore` (monthly budgets and their alerts).
"""

from __future__ import annotations

from backend.storage.conversations import ConversationStore
from backend.storage.core import BUSY_TIMEOUT_S, Storage
from backend.storage.costs import BudgetStore, PriceStore, StoredAlert, StoredBudget, StoredPrice
from backend.storage.keys import KeyStore, StoredKey
from backend.storage.outcomes import ChatOutcomeStore
from backend.storage.records import Conversation, Message
from backend.storage.rollups import GroupKey, Tally
from backend.storage.routes import CircuitRow, Route, RouteStore
from backend.storage.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from backend.storage.schema import migration_1 as _migration_1  # the name tests knew it by
from backend.storage.tools import ListedTool, McpServerRow, McpStore, McpToolRow
from backend.storage.usage import UsageStore

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_S",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BudgetStore",
    "ChatOutcomeStore",
    "CircuitRow",
    "Conversation",
    "ConversationStore",
    "GroupKey",
    "KeyStore",
    "ListedTool",
    "McpServerRow",
    "McpStore",
    "McpToolRow",
    "Message",
    "PriceStore",
    "Route",
    "RouteStore",
    "Storage",
    "StoredAlert",
    "StoredBudget",
    "StoredKey",
    "StoredPrice",
    "Tally",
    "UsageStore",
    "_migration_1",
]
