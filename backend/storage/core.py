"""The data file: `Storage` (providers, settings, health history, the chat request log).

This is the app's only sqlite3 user. Every sqlite3 failure leaves it as a `StorageError` whose
message says what could not be done and what to try, and never holds a stored value. API keys
are never stored here: a provider row only records whether it has a key and a short hint.

Durability: the file runs in WAL mode with `synchronous=FULL`, and every write is a transaction
(`BEGIN IMMEDIATE` ... `COMMIT`). SQLite then guarantees that a crash, a kill or a power loss at
any moment leaves the file with each transaction either wholly applied or not at all: a commit
returns only after the WAL has been synced to disk, and the next open replays committed frames
and drops the rest. On a file system without WAL support (some network drives) SQLite keeps its
rollback journal, which with `synchronous=FULL` gives the same guarantee, only slower.

Schema: `PRAGMA user_version` counts the migrations applied from `MIGRATIONS` (schema.py);
each runs in one transaction, so a file is always at a whole version. A file from a newer app
is refused, not guessed at. Timestamps are ISO 8601 UTC text as `backend.models.utc_now()`
writes them, so they sort and compare correctly as text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Self, cast

from backend.errors import DuplicateName, NotFound, StorageError
from backend.fileio import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, make_private_file, tighten
from backend.i18n import tr
from backend.models import (
    AuthConfig,
    AuthScheme,
    CheckKind,
    HealthState,
    HealthStatus,
    ProviderConfig,
    ProviderType,
)
from backend.storage import rollups
from backend.storage.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_S: Final = 5.0
"""How long a write waits for another process (a second app instance) to finish its own."""

# --- error messages ---------------------------------------------------------------------
# An error says what the store could not do, an `action`: the catalogue key of a phrase
# (`storage.action.*`) that may name the data file as `{path}`; and why, a reason's key.

_DAMAGED = "storage.reason.damaged"
_REASONS: Final[Mapping[int, str]] = {
    sqlite3.SQLITE_BUSY: "storage.reason.busyElsewhere",
    sqlite3.SQLITE_LOCKED: "storage.reason.busy",
    sqlite3.SQLITE_FULL: "storage.reason.diskFull",
    sqlite3.SQLITE_READONLY: "storage.reason.readOnly",
    sqlite3.SQLITE_PERM: "storage.reason.accessDenied",
    sqlite3.SQLITE_CANTOPEN: "storage.reason.cannotOpen",
    sqlite3.SQLITE_IOERR: "storage.reason.diskError",
    sqlite3.SQLITE_NOMEM: "storage.reason.outOfMemory",
    sqlite3.SQLITE_CORRUPT: _DAMAGED,
    sqlite3.SQLITE_NOTADB: _DAMAGED,
    sqlite3.SQLITE_CONSTRAINT: "storage.reason.conflict",
}
_UNEXPECTED = "storage.reason.unexpected"


def _could_not(action: str, path: Path, reason: str) -> StorageError:
    """ "MiaoDa Chat could not <action>: <reason>", both given by their catalogue keys."""
    return StorageError(tr("storage.couldNot", action=tr(action, path=path), reason=tr(reason)))


def _storage_error(
    exc: sqlite3.Error, action: str, path: Path, *, closed: bool = False
) -> StorageError:
    """Turn a sqlite3 error into a StorageError; sqlite's own text may quote values, so drop it."""
    if closed:
        return _could_not(action, path, "storage.reason.closed")
    code = getattr(exc, "sqlite_errorcode", None)
    reason = _REASONS.get(code & 0xFF, _UNEXPECTED) if isinstance(code, int) else _UNEXPECTED
    return _could_not(action, path, reason)


# --- row conversion ---------------------------------------------------------------------

# Full literal statements (no string building), so no value ever reaches SQL text.
_SELECT_PROVIDERS = (
    "SELECT id, name, display_name, base_url, model, type, auth, headers, parameters, endpoints, "
    "created_at, updated_at, has_api_key, api_key_hint, secret_headers, check_kind FROM providers"
)
_SELECT_PROVIDER_BY_ID = (
    "SELECT id, name, display_name, base_url, model, type, auth, headers, parameters, endpoints, "
    "created_at, updated_at, has_api_key, api_key_hint, secret_headers, check_kind FROM providers "
    "WHERE id = ?"
)
_SELECT_PROVIDER_BY_NAME = (
    "SELECT id, name, display_name, base_url, model, type, auth, headers, parameters, endpoints, "
    "created_at, updated_at, has_api_key, api_key_hint, secret_headers, check_kind FROM providers "
    "WHERE name_key = ?"
)
_INSERT_PROVIDER = (
    "INSERT INTO providers (id, name, name_key, display_name, base_url, model, type, auth, "
    "headers, parameters, endpoints, has_api_key, api_key_hint, created_at, updated_at, "
    "secret_headers, check_kind) "
    "VALUES (:id, :name, :name_key, :display_name, :base_url, :model, :type, :auth, :headers, "
    ":parameters, :endpoints, :has_api_key, :api_key_hint, :created_at, :updated_at, "
    ":secret_headers, :check_kind)"
)
_UPDATE_PROVIDER = (
    "UPDATE providers SET name = :name, name_key = :name_key, display_name = :display_name, "
    "base_url = :base_url, model = :model, type = :type, auth = :auth, headers = :headers, "
    "parameters = :parameters, endpoints = :endpoints, has_api_key = :has_api_key, "
    "api_key_hint = :api_key_hint, created_at = :created_at, updated_at = :updated_at, "
    "secret_headers = :secret_headers, check_kind = :check_kind WHERE id = :id"
)
_INSERT_HEALTH = (
    "INSERT INTO health_checks (provider_id, provider_name, status, last_checked, response_time, "
    "error, error_code, http_status, check_kind, model_available) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The inner query picks the newest `limit` rows, the outer one puts them oldest first.
_SELECT_HEALTH = (
    "SELECT provider_id, provider_name, status, last_checked, response_time, error, error_code, "
    "http_status, check_kind, model_available FROM (SELECT * FROM health_checks "
    "WHERE provider_id = ? ORDER BY last_checked DESC, id DESC LIMIT ?) "
    "ORDER BY last_checked, id"
)
_SELECT_HEALTH_SINCE = (
    "SELECT provider_id, provider_name, status, last_checked, response_time, error, error_code, "
    "http_status, check_kind, model_available FROM (SELECT * FROM health_checks "
    "WHERE provider_id = ? AND last_checked >= ? ORDER BY last_checked DESC, id DESC LIMIT ?) "
    "ORDER BY last_checked, id"
)
_UPSERT_CHAT = (
    "INSERT INTO chat_requests (request_id, provider_id, model, input_tokens, output_tokens, "
    "usage_source, ttft_ms, elapsed_ms, finish_reason, error_code, created_at, route_id, key_id, "
    "cached_input_tokens, cost_micros, currency) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (request_id) DO UPDATE SET "
    "provider_id = excluded.provider_id, model = excluded.model, "
    "input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, "
    "usage_source = excluded.usage_source, ttft_ms = excluded.ttft_ms, "
    "elapsed_ms = excluded.elapsed_ms, finish_reason = excluded.finish_reason, "
    "error_code = excluded.error_code, created_at = excluded.created_at, "
    "route_id = excluded.route_id, key_id = excluded.key_id, "
    "cached_input_tokens = excluded.cached_input_tokens, cost_micros = excluded.cost_micros, "
    "currency = excluded.currency"
)
_CHAT_TALLY = rollups.SELECT_RECORDS + " WHERE request_id = ?"
_SELECT_CHATS = (
    "SELECT request_id, provider_id, model, input_tokens, output_tokens, usage_source, ttft_ms, "
    "elapsed_ms, finish_reason, error_code, created_at FROM chat_requests "
    "ORDER BY created_at DESC, rowid DESC LIMIT ?"
)
_SELECT_CHATS_OF = (
    "SELECT request_id, provider_id, model, input_tokens, output_tokens, usage_source, ttft_ms, "
    "elapsed_ms, finish_reason, error_code, created_at FROM chat_requests "
    "WHERE provider_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?"
)


def _dump(mapping: Mapping[str, Any]) -> str:
    """Compact JSON text; an empty mapping is exactly `{}`, which reading skips parsing."""
    return json.dumps(dict(mapping), ensure_ascii=False, separators=(",", ":"))


def _load_map(text: str) -> dict[str, Any]:
    """A JSON object column as a fresh dict (never shared: callers may mutate it)."""
    if text == "{}":
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


@lru_cache(maxsize=64)
def _load_auth(text: str) -> AuthConfig:
    """Auth from its JSON; a few distinct values cover every row, and AuthConfig is frozen."""
    value = _load_map(text)
    return AuthConfig(scheme=cast(AuthScheme, value["scheme"]), name=value.get("name"))


def _provider_params(provider: ProviderConfig) -> dict[str, Any]:
    """The named SQL parameters of a provider row."""
    return {
        "id": provider.id,
        "name": provider.name,
        "name_key": provider.name.casefold(),
        "display_name": provider.display_name,
        "base_url": provider.base_url,
        "model": provider.model,
        "type": provider.type,
        "auth": _dump(provider.auth.to_wire()),
        "headers": _dump(provider.headers),
        "parameters": _dump(provider.parameters),
        "endpoints": _dump(provider.endpoints),
        "has_api_key": int(provider.has_api_key),
        "api_key_hint": provider.api_key_hint,
        "created_at": provider.created_at,
        "updated_at": provider.updated_at,
        "secret_headers": _dump(provider.secret_headers),
        "check_kind": provider.check_kind,
    }


def _provider_from_row(row: tuple[Any, ...]) -> ProviderConfig:
    """A provider from a row of `_SELECT_PROVIDERS`."""
    (pid, name, display, url, model, kind, auth, headers, params, endpoints, created, updated,
     has_key, hint, secret_headers, check_kind) = row  # fmt: skip
    return ProviderConfig(
        id=pid,
        name=name,
        display_name=display,
        base_url=url,
        model=model,
        type=cast(ProviderType, kind),
        auth=_load_auth(auth),
        # Read-only views: loaded providers may be shared by the list snapshot.
        headers=MappingProxyType(_load_map(headers)),
        parameters=MappingProxyType(_load_map(params)),
        endpoints=MappingProxyType(_load_map(endpoints)),
        created_at=created,
        updated_at=updated,
        has_api_key=bool(has_key),
        api_key_hint=hint,
        secret_headers=MappingProxyType(_load_map(secret_headers)),
        # NULL: a row saved before check kinds existed (migration 6), which means the default.
        check_kind=cast(CheckKind, check_kind or "models"),
    )


def _display_order(provider: ProviderConfig) -> tuple[str, str]:
    """Sort key: display name ignoring case (full Unicode casefold), then name."""
    return (provider.display_name.casefold(), provider.name.casefold())


def _health_from_row(row: tuple[Any, ...]) -> HealthStatus:
    """A health check from a row of `_SELECT_HEALTH`."""
    (pid, pname, status, checked, response_time, error, error_code, http_status, kind,
     available) = row  # fmt: skip
    return HealthStatus(
        provider_id=pid,
        provider_name=pname,
        status=cast(HealthState, status),
        last_checked=checked,
        response_time=response_time,
        error=error,
        error_code=error_code,
        http_status=http_status,
        check_kind=kind,
        model_available=None if available is None else bool(available),
    )


# --- the store --------------------------------------------------------------------------


class Storage:
    """The app's SQLite file: safe to share between threads; every write is a transaction."""

    def __init__(self, path: Path) -> None:
        """Open or create the data file at `path` and bring its schema up to date."""
        self.path = path
        # One connection behind one re-entrant lock, rather than one per thread: SQLite lets
        # only one writer in at a time anyway, every call here takes well under a millisecond,
        # and a lock held for a whole `transaction()` keeps other threads from slipping their
        # writes into it or reading its half-done state. Re-entrant so methods compose.
        self._lock = threading.RLock()
        self._depth = 0  # transaction nesting of the thread holding the lock
        self._snapshot: tuple[ProviderConfig, ...] | None = None  # sorted list, until a write
        self._generation = 0  # bumped by every write transaction
        self._closed = False
        action = "storage.action.openDataFile"
        try:
            path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(tr("storage.cannotCreateFolder", path=path.parent)) from exc
        # The file is 0600 (POSIX) before SQLite opens it: its -wal and -shm files take their
        # mode from it. Loose ones left by an older version are tightened here too.
        self._on_disk = str(path) != ":memory:"  # SQLite's in-memory database has no file
        if self._on_disk:
            make_private_file(path)
        self._tighten_files()
        with self._guard(action):
            # timeout is SQLite's busy timeout. isolation_level=None stops the module from
            # opening transactions behind our back: this class issues BEGIN/COMMIT itself.
            self._conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        try:
            with self._guard(action):
                # Identify the file before changing anything in it (WAL mode is persistent).
                version = self._check_identity()
                self._configure()
            self._tighten_files()  # WAL mode has just made the -wal and -shm files
            self._migrate(version)
        except BaseException:
            self._conn.close()
            raise

    def _tighten_files(self) -> None:
        """Make the data file and its -wal and -shm files 0600 where they exist (POSIX)."""
        if not self._on_disk:
            return
        for suffix in ("", "-wal", "-shm"):
            tighten(self.path.with_name(self.path.name + suffix), PRIVATE_FILE_MODE)

    def _pragma_int(self, name: str) -> int:
        """The integer value of a read-only pragma such as `user_version`."""
        row = self._conn.execute(f"PRAGMA {name}").fetchone()
        return int(row[0])

    def _check_identity(self) -> int:
        """The file's schema version, after refusing a foreign or newer file."""
        version = self._pragma_int("user_version")
        app_id = self._pragma_int("application_id")
        empty = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        # Migration 1 stamps the application id in the same transaction that makes version 1,
        # so any MiaoDa Chat file either carries our id or is empty at version 0.
        if app_id != APPLICATION_ID and not (app_id == 0 and version == 0 and empty):
            raise StorageError(tr("storage.foreignFile", path=self.path))
        if version > SCHEMA_VERSION:
            raise StorageError(
                tr("storage.newerFile", path=self.path, version=version, supported=SCHEMA_VERSION)
            )
        return version

    def _configure(self) -> None:
        """Per-connection settings: durability and foreign keys (connect set the busy timeout)."""
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        # Overwrite what a write replaces, so a blanked credential leaves no copy in the file.
        self._conn.execute("PRAGMA secure_delete = ON")

    def _migrate(self, version: int) -> None:
        """Apply, one transaction each, the migrations a file at `version` lacks."""
        for number in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction("storage.action.upgradeDataFile"):
                # Re-read under the write lock: another app instance may have just done it.
                if self._pragma_int("user_version") >= number:
                    continue
                MIGRATIONS[number - 1](self._conn)
                self._conn.execute(f"PRAGMA user_version = {number}")

    # --- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Let any sqlite3 error out only as a StorageError about `action`."""
        try:
            yield
        except sqlite3.Error as exc:
            raise _storage_error(exc, action, self.path, closed=self._closed) from exc
        except (ValueError, KeyError) as exc:
            # Only stored JSON that does not parse gets here: the file was altered outside.
            raise _could_not(action, self.path, _DAMAGED) from exc

    @contextmanager
    def _transaction(self, action: str) -> Iterator[None]:
        """One transaction, or a savepoint inside the one this thread already has open."""
        with self._lock:
            depth = self._depth
            self._snapshot = None
            self._generation += 1
            with self._guard(action):
                # IMMEDIATE takes the write lock up front, so the busy timeout applies to it;
                # a deferred transaction that later needs to write can fail at once instead.
                self._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT nest{depth}")
            self._depth = depth + 1
            try:
                yield
            except BaseException:
                self._depth = depth
                self._undo(depth)
                self._snapshot = None
                raise
            self._depth = depth
            if depth > 0:
                with self._guard(action):
                    self._conn.execute(f"RELEASE nest{depth}")
                return
            self._commit(action)

    def _undo(self, depth: int) -> None:
        """Roll back to where `_transaction` at `depth` began; the original error matters more."""
        try:
            if depth == 0:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            else:
                self._conn.execute(f"ROLLBACK TO nest{depth}")
                self._conn.execute(f"RELEASE nest{depth}")
        except sqlite3.Error:
            # SQLite may already have rolled the whole transaction back (disk full, I/O error);
            # `_commit` notices that if the caller carries on regardless.
            pass

    def _commit(self, action: str) -> None:
        """Commit the outermost transaction, or roll it back and say why it failed."""
        if not self._conn.in_transaction:
            # SQLite rolled back after an error that a caller caught inside the group.
            raise _could_not(action, self.path, "storage.reason.earlierStepFailed")
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._undo(0)
            raise _storage_error(exc, action, self.path) from exc

    @contextmanager
    def _reading(self, action: str) -> Iterator[sqlite3.Connection]:
        """The connection, held by this thread, for reads."""
        with self._lock, self._guard(action):
            yield self._conn

    @contextmanager
    def _writing(self, action: str) -> Iterator[sqlite3.Connection]:
        """The connection inside a transaction (joining one already open in this thread)."""
        with self._guard(action), self._transaction(action):
            yield self._conn

    # --- public: lifecycle and transactions ---------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically: all are saved at the end, or none if an exception escapes."""
        with self._transaction("storage.action.saveChanges"):
            yield

    def checkpoint(self) -> None:
        """Copy the WAL into the main file and empty it, so replaced values leave no copy."""
        with self._reading("storage.action.tidyDataFile") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        """Close the data file; later calls raise StorageError. Closing twice is fine."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                raise _storage_error(exc, "storage.action.closeDataFile", self.path) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- public: providers --------------------------------------------------------------

    def list_providers(self) -> list[ProviderConfig]:
        """Every provider, sorted by display name ignoring case, then by name."""
        action = "storage.action.readProviders"
        with self._reading(action) as conn:
            if self._snapshot is not None:
                return list(self._snapshot)
            generation = self._generation
            rows = conn.execute(_SELECT_PROVIDERS).fetchall()
        # Converted after letting go of the lock: other threads need not wait for it.
        with self._guard(action):
            providers = [_provider_from_row(row) for row in rows]
        # Sorted here, not in SQL: SQLite's NOCASE folds ASCII only, display names are Unicode.
        providers.sort(key=_display_order)
        with self._lock:
            # Only this process writes the file, so the list stays true until our next write
            # transaction (which bumps the generation); never cache inside an open transaction.
            if generation == self._generation and self._depth == 0:
                self._snapshot = tuple(providers)
        return providers

    def get_provider(self, provider_id: str) -> ProviderConfig | None:
        """The provider with this id, or None."""
        with self._reading("storage.action.readProvider") as conn:
            row = conn.execute(_SELECT_PROVIDER_BY_ID, (provider_id,)).fetchone()
            return None if row is None else _provider_from_row(row)

    def get_provider_by_name(self, name: str) -> ProviderConfig | None:
        """The provider with this name ignoring case, or None."""
        with self._reading("storage.action.readProvider") as conn:
            row = conn.execute(_SELECT_PROVIDER_BY_NAME, (name.casefold(),)).fetchone()
            return None if row is None else _provider_from_row(row)

    def count_providers(self) -> int:
        """How many providers are saved."""
        with self._reading("storage.action.countProviders") as conn:
            return int(conn.execute("SELECT count(*) FROM providers").fetchone()[0])

    def insert_provider(self, provider: ProviderConfig) -> None:
        """Save a new provider; DuplicateName if its name is taken, ignoring case."""
        params = _provider_params(provider)
        with self._writing("storage.action.saveProvider") as conn:
            _check_name_free(conn, provider)
            conn.execute(_INSERT_PROVIDER, params)

    def update_provider(self, provider: ProviderConfig) -> None:
        """Replace every field of the provider with this id; NotFound or DuplicateName."""
        params = _provider_params(provider)
        with self._writing("storage.action.saveProvider") as conn:
            if not _provider_exists(conn, provider.id):
                raise NotFound()
            _check_name_free(conn, provider)
            conn.execute(_UPDATE_PROVIDER, params)

    def delete_provider(self, provider_id: str) -> bool:
        """Remove a provider and its health history; False if there was none."""
        with self._writing("storage.action.removeProvider") as conn:
            # The foreign key's ON DELETE CASCADE removes the history in this same statement.
            cursor = conn.execute("DELETE FROM providers WHERE id = ?", (provider_id,))
            return cursor.rowcount > 0

    # --- public: settings ---------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        """The JSON value saved under `key`, or `default` if there is none."""
        with self._reading("storage.action.readSetting") as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        """Save a JSON-serialisable value under `key` (TypeError if it is not serialisable)."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        with self._writing("storage.action.saveSetting") as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    # --- public: health history ---------------------------------------------------------

    def add_health_check(self, status: HealthStatus) -> None:
        """Append one check to its provider's history; NotFound if the provider is gone."""
        available = status.model_available
        row = (
            status.provider_id,
            status.provider_name,
            status.status,
            status.last_checked,
            status.response_time,
            status.error,
            status.error_code,
            status.http_status,
            status.check_kind,
            None if available is None else int(available),
        )
        with self._writing("storage.action.saveHealthCheck") as conn:
            # A check can finish just after its provider was removed: say that plainly rather
            # than fail on the foreign key.
            if not _provider_exists(conn, status.provider_id):
                raise NotFound()
            conn.execute(_INSERT_HEALTH, row)

    def health_history(
        self, provider_id: str, since: str | None = None, limit: int = 10000
    ) -> list[HealthStatus]:
        """The provider's newest `limit` checks at or after `since`, returned oldest first."""
        # When the window holds more than `limit` checks, the recent ones are worth keeping.
        limit = max(limit, 0)
        with self._reading("storage.action.readHealthHistory") as conn:
            if since is None:
                cursor = conn.execute(_SELECT_HEALTH, (provider_id, limit))
            else:
                cursor = conn.execute(_SELECT_HEALTH_SINCE, (provider_id, since, limit))
            return [_health_from_row(row) for row in cursor]

    def prune_health(self, before: str) -> int:
        """Delete checks older than `before` (and any without a time); how many went."""
        with self._writing("storage.action.cleanHealthHistory") as conn:
            cursor = conn.execute(
                "DELETE FROM health_checks WHERE last_checked IS NULL OR last_checked < ?",
                (before,),
            )
            return cursor.rowcount

    # --- public: chat request log -------------------------------------------------------

    def record_chat(
        self,
        *,
        request_id: str,
        provider_id: str,
        model: str,
        input_tokens: int | None,
        output_tokens: int | None,
        usage_source: str | None,
        ttft_ms: int | None,
        elapsed_ms: int | None,
        finish_reason: str,
        error_code: str | None,
        created_at: str,
        route_id: str | None = None,
        key_id: str | None = None,
        cached_input_tokens: int | None = None,
        cost_micros: int | None = None,
        currency: str | None = None,
    ) -> None:
        """Log one chat request and count it in the usage totals (backend/storage/rollups.py);
        recording a `request_id` again replaces its earlier record. `cost_micros` is its cost
        in millionths of `currency`, None when it had no price. Joins an open transaction."""
        row = (
            request_id,
            provider_id,
            model,
            input_tokens,
            output_tokens,
            usage_source,
            ttft_ms,
            elapsed_ms,
            finish_reason,
            error_code,
            created_at,
            route_id,
            key_id,
            cached_input_tokens,
            cost_micros,
            currency,
        )
        counted = (  # rollups.RECORD_COLUMNS
            provider_id,
            route_id,
            model,
            key_id,
            currency,
            input_tokens,
            output_tokens,
            cached_input_tokens,
            usage_source,
            ttft_ms,
            finish_reason,
            cost_micros,
            created_at,
        )
        with self._writing("storage.action.saveChatStatistics") as conn:
            replaced = conn.execute(_CHAT_TALLY, (request_id,)).fetchone()
            conn.execute(_UPSERT_CHAT, row)
            rollups.record(conn, counted, replaced)

    def chat_stats(self, provider_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Logged chat requests (all, or one provider's), newest first, as dicts by column."""
        limit = max(limit, 0)
        with self._reading("storage.action.readChatStatistics") as conn:
            if provider_id is None:
                cursor = conn.execute(_SELECT_CHATS, (limit,))
            else:
                cursor = conn.execute(_SELECT_CHATS_OF, (provider_id, limit))
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]


def _provider_exists(conn: sqlite3.Connection, provider_id: str) -> bool:
    """Whether a provider with this id is saved."""
    return (
        conn.execute("SELECT 1 FROM providers WHERE id = ?", (provider_id,)).fetchone() is not None
    )


def _check_name_free(conn: sqlite3.Connection, provider: ProviderConfig) -> None:
    """Raise DuplicateName if another provider has this name, ignoring case."""
    # Called inside the write transaction, so no other writer can take the name meanwhile;
    # the unique index stays as the last line of defence.
    clash = conn.execute(
        "SELECT 1 FROM providers WHERE name_key = ? AND id != ?",
        (provider.name.casefold(), provider.id),
    ).fetchone()
    if clash is not None:
        raise DuplicateName(
            tr("storage.providerNameTaken", name=provider.name),
            fields={"name": [tr("storage.providerNameTakenField")]},
        )
