"""The schema of the data file: its migrations, applied in order by `Storage` (see core.py).

`PRAGMA user_version` counts the migrations applied; each runs in one transaction, so a file is
always at a whole version. Never edit a released migration: add the next one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final

from backend.errors import StorageError
from backend.i18n import tr
from backend.storage import rollups

APPLICATION_ID: Final = 0x4D696144
"""Written into the file header ("MiaD") so another program's SQLite file is recognised."""

# --- schema -----------------------------------------------------------------------------


def migration_1(conn: sqlite3.Connection) -> None:
    """Create providers, settings, health history and the chat request log."""
    statements = (
        # name_key holds name.casefold() so uniqueness ignores case through a plain index.
        # No column may ever hold an API key: keys live in the secret store only.
        """CREATE TABLE providers (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,
            display_name TEXT NOT NULL,
            base_url TEXT NOT NULL,
            model TEXT NOT NULL,
            type TEXT NOT NULL,
            auth TEXT NOT NULL,
            headers TEXT NOT NULL,
            parameters TEXT NOT NULL,
            endpoints TEXT NOT NULL,
            has_api_key INTEGER NOT NULL CHECK (has_api_key IN (0, 1)),
            api_key_hint TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX providers_name_key ON providers (name_key)",
        "CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
        """CREATE TABLE health_checks (
            id INTEGER PRIMARY KEY,
            provider_id TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
            provider_name TEXT NOT NULL,
            status TEXT NOT NULL,
            last_checked TEXT,
            response_time INTEGER,
            error TEXT,
            error_code TEXT,
            http_status INTEGER,
            check_kind TEXT,
            model_available INTEGER
        )""",
        # Serves history queries and the cascade's lookups (provider_id leads).
        "CREATE INDEX health_checks_provider_time ON health_checks (provider_id, last_checked)",
        "CREATE INDEX health_checks_time ON health_checks (last_checked)",
        # No foreign key: usage of a removed provider stays countable.
        """CREATE TABLE chat_requests (
            request_id TEXT PRIMARY KEY NOT NULL,
            provider_id TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            usage_source TEXT,
            ttft_ms INTEGER,
            elapsed_ms INTEGER,
            finish_reason TEXT NOT NULL,
            error_code TEXT,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX chat_requests_provider_time ON chat_requests (provider_id, created_at)",
        "CREATE INDEX chat_requests_time ON chat_requests (created_at)",
        f"PRAGMA application_id = {APPLICATION_ID}",
    )
    for statement in statements:
        conn.execute(statement)


def migration_2(conn: sqlite3.Connection) -> None:
    """Add `secret_headers`: credential header name -> hint, their values being secrets.

    Values of credential headers saved before this column existed are still in `headers`;
    the manager moves them into the secret store at start-up (it owns that store).
    """
    conn.execute("ALTER TABLE providers ADD COLUMN secret_headers TEXT NOT NULL DEFAULT '{}'")


FTS5_TRIGRAM_SINCE: Final = (3, 34, 0)
"""The first SQLite with FTS5's trigram tokenizer, which migration 3 needs."""


def migration_3(conn: sqlite3.Connection) -> None:
    """Add conversations, their message trees and the two full-text indexes of search.

    `seq` (the rowid) gives creation order, which orders siblings and says which child is
    newest; `id` is the public uuid. Deleting a conversation deletes its messages, and a
    message its replies (ON DELETE CASCADE), so no message is ever left without its parent.
    The search indexes are contentless FTS5 tables (docs/SEARCH.md): they keep no copy of
    the text, a message's entry has its `seq` as rowid and a title's 2**62 + the
    conversation's `seq`; backend.storage.conversations keeps them in step in each write's
    transaction.
    """
    if sqlite3.sqlite_version_info < FTS5_TRIGRAM_SINCE:
        raise StorageError(tr("storage.noFts5", version=sqlite3.sqlite_version))
    statements = (
        """CREATE TABLE conversations (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            title_chosen INTEGER NOT NULL CHECK (title_chosen IN (0, 1)),
            provider_id TEXT,
            model TEXT,
            system_prompt TEXT NOT NULL,
            pinned INTEGER NOT NULL CHECK (pinned IN (0, 1)),
            current_leaf_id TEXT,
            tool_servers TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        # The sidebar's order (pinned first, newest activity first), read backwards.
        "CREATE INDEX conversations_listing ON conversations (pinned, updated_at, id)",
        """CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            parent_id TEXT REFERENCES messages (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
            content TEXT NOT NULL,
            reasoning TEXT NOT NULL,
            tool_calls TEXT NOT NULL,
            tool_call_id TEXT,
            provider_id TEXT,
            model TEXT,
            usage TEXT,
            finish_reason TEXT,
            status TEXT NOT NULL CHECK (status IN ('streaming', 'done')),
            error TEXT,
            ttft_ms INTEGER,
            elapsed_ms INTEGER,
            created_at TEXT NOT NULL
        )""",
        # A conversation's tree in creation order; also serves the cascade from conversations.
        "CREATE INDEX messages_conversation ON messages (conversation_id, seq)",
        # Children in creation order (siblings, newest child); also serves the parent cascade.
        "CREATE INDEX messages_children ON messages (parent_id, seq)",
        # Root siblings without scanning every conversation's roots.
        "CREATE INDEX messages_roots ON messages (conversation_id, seq) WHERE parent_id IS NULL",
        # Replies a crash left open, found at start without a scan.
        "CREATE INDEX messages_streaming ON messages (seq) WHERE status = 'streaming'",
        # Folded text (NFKC, case-folded), so the tokenizer need not fold: case_sensitive 1.
        """CREATE VIRTUAL TABLE search_trigram USING fts5 (
            body, content = '', tokenize = 'trigram case_sensitive 1'
        )""",
        # Tokens for 1-2 character terms; marks count as letters, like str.isalnum() words.
        """CREATE VIRTUAL TABLE search_short USING fts5 (
            body, content = '',
            tokenize = "unicode61 remove_diacritics 0 categories 'L* N* Co M*'"
        )""",
    )
    for statement in statements:
        try:
            conn.execute(statement)
        except sqlite3.OperationalError as exc:
            if "no such module" in str(exc):  # a build without FTS5
                raise StorageError(tr("storage.noFts5", version=sqlite3.sqlite_version)) from exc
            raise


def migration_4(conn: sqlite3.Connection) -> None:
    """Add `provider_keys`: the key pools (CONTRACT §10), one row per key, never its text.

    `entry` names the secret store entry that holds the key's text. A provider's one key of
    before stays where it was (the entry named by the provider's id) and becomes the first
    key of its pool here, with a fresh opaque id; keys added later get entries of their own.
    """
    statements = (
        """CREATE TABLE provider_keys (
            id TEXT PRIMARY KEY NOT NULL,
            provider_id TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            entry TEXT NOT NULL UNIQUE,
            hint TEXT,
            state TEXT NOT NULL
                CHECK (state IN ('active', 'cooling', 'invalid', 'exhausted')),
            until TEXT,
            error_code TEXT,
            error_message TEXT,
            last_used_at TEXT,
            created_at TEXT NOT NULL
        )""",
        # A provider's pool in order; also serves the cascade from providers.
        "CREATE INDEX provider_keys_provider ON provider_keys (provider_id, position)",
        """INSERT INTO provider_keys (id, provider_id, position, entry, hint, state, created_at)
            SELECT lower(hex(randomblob(16))), id, 0, id, api_key_hint, 'active', updated_at
            FROM providers WHERE has_api_key = 1""",
    )
    for statement in statements:
        conn.execute(statement)


def migration_5(conn: sqlite3.Connection) -> None:
    """Add routes, their ordered members, and each provider's circuit breaker (CONTRACT §10).

    A member is a foreign key to its provider with ON DELETE CASCADE: removing a provider
    removes it from every route in the same statement (the route stays, possibly empty).
    Routes and providers share one name space, ignoring case; the stores check both tables in
    each write's transaction, and the triggers refuse a clash that slips past them, as the
    unique indexes do within each table. A circuit row exists once a provider's circuit has
    changed; it goes with its provider.
    """
    statements = (
        """CREATE TABLE routes (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,
            display_name TEXT NOT NULL,
            strategy TEXT NOT NULL CHECK (strategy IN ('failover', 'round-robin', 'fastest')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX routes_name_key ON routes (name_key)",
        """CREATE TABLE route_members (
            route_id TEXT NOT NULL REFERENCES routes (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            provider_id TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
            PRIMARY KEY (route_id, position),
            UNIQUE (route_id, provider_id)
        ) WITHOUT ROWID""",
        # Serves the cascade when a provider is removed.
        "CREATE INDEX route_members_provider ON route_members (provider_id)",
        """CREATE TRIGGER providers_name_not_a_route BEFORE INSERT ON providers
        WHEN EXISTS (SELECT 1 FROM routes WHERE name_key = NEW.name_key)
        BEGIN SELECT RAISE(ABORT, 'a route has this name'); END""",
        """CREATE TRIGGER providers_rename_not_a_route BEFORE UPDATE OF name_key ON providers
        WHEN NEW.name_key != OLD.name_key
            AND EXISTS (SELECT 1 FROM routes WHERE name_key = NEW.name_key)
        BEGIN SELECT RAISE(ABORT, 'a route has this name'); END""",
        """CREATE TRIGGER routes_name_not_a_provider BEFORE INSERT ON routes
        WHEN EXISTS (SELECT 1 FROM providers WHERE name_key = NEW.name_key)
        BEGIN SELECT RAISE(ABORT, 'a provider has this name'); END""",
        """CREATE TRIGGER routes_rename_not_a_provider BEFORE UPDATE OF name_key ON routes
        WHEN NEW.name_key != OLD.name_key
            AND EXISTS (SELECT 1 FROM providers WHERE name_key = NEW.name_key)
        BEGIN SELECT RAISE(ABORT, 'a provider has this name'); END""",
        """CREATE TABLE circuits (
            provider_id TEXT PRIMARY KEY NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
            state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
            since TEXT,
            reason_code TEXT,
            reason_message TEXT,
            failures INTEGER NOT NULL CHECK (failures >= 0)
        )""",
    )
    for statement in statements:
        conn.execute(statement)


def migration_6(conn: sqlite3.Connection) -> None:
    """Add what failover and honest health record (CONTRACT §10).

    `check_kind` of `providers`: how the health schedule probes a provider, `models` (its model
    list) or `chat` (a one-token request); NULL means the default, `models`. A reply gains
    `route_id`, the route it was asked through (its `provider_id` and `model` say who
    answered), and `attempts`, the JSON list of the members considered before it (the
    contract's `attempt` events), or NULL for a reply asked of a provider directly.
    """
    statements = (
        """ALTER TABLE providers ADD COLUMN check_kind TEXT
            CHECK (check_kind IS NULL OR check_kind IN ('models', 'chat'))""",
        "ALTER TABLE messages ADD COLUMN route_id TEXT",
        "ALTER TABLE messages ADD COLUMN attempts TEXT",
    )
    for statement in statements:
        conn.execute(statement)


def migration_7(conn: sqlite3.Connection) -> None:
    """Add `chat_outcomes`: what each provider's real chat requests saw lately (honest health).

    One row per provider whose chats were counted: how many failed in a row with a
    provider-side error, when the latest counted one ended, and that one's error when it
    failed. The health monitor shows a provider whose last 3 chats failed as unhealthy, and
    this row keeps that across a restart. It goes with its provider.
    """
    conn.execute(
        """CREATE TABLE chat_outcomes (
            provider_id TEXT PRIMARY KEY NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
            failures_in_a_row INTEGER NOT NULL CHECK (failures_in_a_row >= 0),
            last_at TEXT,
            error_code TEXT,
            error_message TEXT,
            http_status INTEGER
        )"""
    )


def migration_8(conn: sqlite3.Connection) -> None:
    """Add usage and cost (CONTRACT §11): what each request cost, running totals, prices, budgets.

    A request record gains its route, its provider key's id, its cached input tokens and its
    cost: `cost_micros` in millionths of `currency`, priced when it was recorded. A record with
    tokens and a NULL cost had no price (unknown cost); records from before this version are
    such. `usage_groups` and `usage_totals` are the running totals of rollups.py, built here
    from the records already kept. User prices (`prices`; a NULL provider means any provider),
    monthly budgets and the budget alerts that fired go with their provider. Alert `seq`s are
    never reused (AUTOINCREMENT), so a client that has seen one never mistakes a new one for it.
    """
    statements = (
        "ALTER TABLE chat_requests ADD COLUMN route_id TEXT",
        "ALTER TABLE chat_requests ADD COLUMN key_id TEXT",
        "ALTER TABLE chat_requests ADD COLUMN cached_input_tokens INTEGER",
        "ALTER TABLE chat_requests ADD COLUMN cost_micros INTEGER",
        "ALTER TABLE chat_requests ADD COLUMN currency TEXT",
        """CREATE TABLE usage_groups (
            id INTEGER PRIMARY KEY,
            level INTEGER NOT NULL CHECK (level IN (0, 1, 2)),
            provider_id TEXT NOT NULL,
            route_id TEXT NOT NULL,
            model TEXT NOT NULL,
            key_id TEXT NOT NULL,
            currency TEXT NOT NULL,
            UNIQUE (level, provider_id, route_id, model, key_id, currency)
        )""",
        """CREATE TABLE usage_totals (
            group_id INTEGER NOT NULL REFERENCES usage_groups (id),
            bucket INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cached_input_tokens INTEGER NOT NULL,
            estimated_tokens INTEGER NOT NULL,
            cost_micros INTEGER NOT NULL,
            estimated_cost_micros INTEGER NOT NULL,
            unknown_cost_requests INTEGER NOT NULL,
            ttft BLOB NOT NULL,
            PRIMARY KEY (group_id, bucket)
        ) WITHOUT ROWID""",
        """CREATE TABLE prices (
            provider_id TEXT REFERENCES providers (id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            input_per_million TEXT NOT NULL,
            output_per_million TEXT NOT NULL,
            cached_input_per_million TEXT,
            currency TEXT NOT NULL CHECK (currency IN ('USD', 'CNY')),
            updated_at TEXT NOT NULL
        )""",
        # One price per provider (or none: any provider) and model; also serves the cascade.
        "CREATE UNIQUE INDEX prices_key ON prices (coalesce(provider_id, ''), model)",
        "CREATE INDEX prices_provider ON prices (provider_id)",
        """CREATE TABLE budgets (
            provider_id TEXT PRIMARY KEY NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
            amount TEXT NOT NULL,
            currency TEXT NOT NULL CHECK (currency IN ('USD', 'CNY')),
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE budget_alerts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            provider_id TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
            month TEXT NOT NULL,
            threshold INTEGER NOT NULL CHECK (threshold IN (80, 100)),
            spent_micros INTEGER NOT NULL,
            amount TEXT NOT NULL,
            currency TEXT NOT NULL,
            at TEXT NOT NULL,
            UNIQUE (provider_id, month, threshold)
        )""",
    )
    for statement in statements:
        conn.execute(statement)
    rollups.rebuild(conn)


def migration_9(conn: sqlite3.Connection) -> None:
    """Add the MCP servers the user added and their tools (CONTRACT §12; backend.tools).

    No column holds an `env` or `headers` value: those live in the secret store, and `env`
    and `headers` here map each name to its hint (NULL for an empty value). `confirmed` is the
    `sha256:` digest of the stdio command line the user last confirmed (command, arguments
    and env names), or NULL: a stdio server runs only while it matches. A tool row holds the
    policy the user set (`enabled`, `approval`) and what the server last listed (description,
    input schema and their fingerprint); it goes with its server.
    """
    statements = (
        """CREATE TABLE mcp_servers (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL COLLATE NOCASE UNIQUE,
            display_name TEXT NOT NULL,
            transport TEXT NOT NULL CHECK (transport IN ('stdio', 'http')),
            command TEXT,
            args TEXT NOT NULL,
            env TEXT NOT NULL,
            url TEXT,
            headers TEXT NOT NULL,
            enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
            call_timeout REAL NOT NULL CHECK (call_timeout > 0),
            confirmed TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE mcp_tools (
            server_id TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            schema TEXT NOT NULL,
            enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
            approval TEXT NOT NULL CHECK (approval IN ('ask', 'always')),
            seen_at TEXT NOT NULL,
            PRIMARY KEY (server_id, name)
        ) WITHOUT ROWID""",
    )
    for statement in statements:
        conn.execute(statement)


MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (
    migration_1,
    migration_2,
    migration_3,
    migration_4,
    migration_5,
    migration_6,
    migration_7,
    migration_8,
    migration_9,
)
"""Applied in order; migration N brings a file to `user_version` N. Never edit a released one."""

SCHEMA_VERSION: Final = len(MIGRATIONS)
