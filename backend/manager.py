"""CustomProviderManager: the one place that changes providers and handles their keys.

It validates every change with `backend.schemas`, keeps the SQLite row and the secret store in
step, and serialises changes behind one lock because the bridge calls it from many threads at
once. Reads go straight to storage and never touch the secret store.

Each provider has a key pool (CONTRACT §10): key rows in `provider_keys` (backend.storage.keys),
each naming the secret store entry that holds its text, `<provider id>:key:<key id>`. A key's
text never changes in place: a new key gets a fresh id, so a new entry. Keeping the two stores in
step across a crash: the database journals every key change (the `secrets.journal` setting,
provider id -> the entries in flight) in the same transactions that change rows. New entries
are listed, then written, then claimed by rows in one transaction; entries of removed keys are
listed in the transaction that drops their rows, then deleted. Finishing or undoing is one rule,
which the next start applies: every listed entry that no key row names is deleted.

The one key of before is the first key of the pool (migration 4), its text still under the
provider id. Changes journaled by an older version of the app use phases instead of lists:

- "staged": a new key is being written that no committed row claims yet. A provider without a
  key gets it under its id directly; one with a key gets it under `<id>:next`, so the key its
  committed row uses stays in place. Undone at start-up: the staged entry goes, and so does the
  entry under the id unless the row (still the old one) has a key.
- "settle": the row is committed (in the transaction that set this phase); the secret store may
  still hold what it replaced. Finished at start-up: a staged key moves under the id, and a
  provider that is gone or has no key any more loses its entry.

An entry for an absent provider or key thus only exists until the next start.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from backend import transfer
from backend.errors import DuplicateName, InternalError, InvalidConfig, MiaodaError, NotFound
from backend.models import (
    MAX_KEYS,
    HealthStatus,
    ProviderConfig,
    ProviderKey,
    is_secret_header,
    utc_now,
)
from backend.providers.keys import KeyCursor, KeyPools
from backend.redact import REDACTOR
from backend.schemas import (
    READ_ONLY,
    auth_from_wire,
    load_api_keys,
    load_id,
    load_key,
    load_provider,
    merge_update,
)
from backend.secrets import SecretStore
from backend.storage import KeyStore, RouteStore, Storage, StoredKey

log = logging.getLogger("miaoda.manager")

KEY_JOURNAL = "secrets.journal"
"""The setting that holds unfinished key changes: provider id -> entries in flight (a list), or
STAGED or SETTLE (journaled by an older version)."""
STAGED = "staged"
SETTLE = "settle"
STAGED_SUFFIX = ":next"
KEY_ENTRY = ":key:"
"""A pool's key is kept under `<provider id>:key:<key id>` (an older first key under the id)."""
HEADER_ENTRY = ":header:"
"""A credential header's value is kept under `<provider id>:header:<lower-case name>`."""
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Runs a connection test for a config and key; returns a status or raises a MiaodaError.
ConnectionCheck = Callable[[ProviderConfig, str | None], HealthStatus]


class ProviderListener(Protocol):
    """Told after a provider is saved or removed (the health scheduler listens)."""

    def __call__(self, provider_id: str, removed: bool) -> None: ...


def no_connection_check(config: ProviderConfig, api_key: str | None) -> HealthStatus:
    """The check used when no provider layer is wired in: it says it cannot run."""
    raise InternalError(
        "Connection tests are not available in this build. Save with validation turned off."
    )


# Public prefixes that say which vendor issued a key; showing one reveals nothing secret.
KNOWN_KEY_PREFIXES = (
    "sk-ant-",
    "sk-proj-",
    "sk-or-",
    "sk-",
    "gsk_",
    "xai-",
    "pplx-",
    "nvapi-",
    "hf_",
)


def key_hint(key: str) -> str:
    """A hint such as `sk-…9f2c`: a vendor prefix and at most the last 4 characters."""
    tail = key[-4:] if len(key) >= 12 else key[-2:] if len(key) >= 6 else ""
    prefix = next(
        (p for p in KNOWN_KEY_PREFIXES if key.startswith(p) and len(key) >= len(p) + 12), ""
    )
    return f"{prefix}…{tail}"


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do), name by name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)

    def to_wire(self, dry_run: bool) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": self.errors,
            "renamed": self.renamed,
            "dryRun": dry_run,
        }


class CustomProviderManager:
    """CRUD, validation, import/export and key handling for custom providers."""

    def __init__(
        self,
        storage: Storage,
        secrets: SecretStore,
        *,
        check: ConnectionCheck = no_connection_check,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._storage = storage
        # Routes share the providers' names (CONTRACT §10); removing a provider drops it from
        # every route by the data file's ON DELETE CASCADE.
        self._routes = RouteStore(storage)
        self._secrets = secrets
        self._check = check
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[ProviderListener] = []
        self._key_store = KeyStore(storage)
        self._pools = KeyPools(self._key_store)
        self.finish_key_changes()
        self._pools.load(self._key_store.load())
        try:
            self.move_secret_headers()
        except MiaodaError as err:
            # The values stay where they were (and are still sent); the next start retries.
            log.warning("could not move credential headers into the secret store: %s", err.message)

    # --- wiring ------------------------------------------------------------------------

    def set_connection_check(self, check: ConnectionCheck) -> None:
        """Use `check` for `validate` and connection tests."""
        self._check = check

    def add_listener(self, listener: ProviderListener) -> None:
        """Call `listener` after every saved or removed provider."""
        self._listeners.append(listener)

    def _notify(self, provider_id: str, removed: bool = False) -> None:
        for listener in self._listeners:
            try:
                listener(provider_id, removed)
            except Exception:
                log.exception("a provider listener failed")

    # --- reads -------------------------------------------------------------------------

    def list(self) -> list[ProviderConfig]:
        """Every provider, sorted by display name, with its keys' states; reads no secret."""
        return [self._with_keys(p) for p in self._storage.list_providers()]

    def get(self, provider_id: Any) -> ProviderConfig:
        """One provider, or NotFound."""
        if not isinstance(provider_id, str) or not provider_id:
            raise InvalidConfig(
                "Give the id of a provider.", fields={"id": ["Must be a provider id."]}
            )
        provider = self._storage.get_provider(provider_id)
        if provider is None:
            raise NotFound()
        return self._with_keys(provider)

    def _with_keys(self, provider: ProviderConfig) -> ProviderConfig:
        keys = self._pools.keys(provider.id)
        return replace(provider, keys=keys) if keys else provider

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

    def _filled(self, provider: ProviderConfig, given: Mapping[str, str]) -> ProviderConfig:
        """The provider with its credential headers' values in `headers`, for sending only:
        each from `given`, else from the secret store. Never stored, never sent to a client."""
        values: dict[str, str] = {}
        for name, hint in provider.secret_headers.items():
            value = given.get(name)
            if value is None and hint is not None:
                value = self._secrets.get(_header_entry(provider.id, name))
            if value:
                REDACTOR.add(value)
                values[name] = value
        if not values:
            return provider
        return replace(provider, headers={**provider.headers, **values})

    def move_secret_headers(self) -> None:
        """Move credential header values saved in plain text (before they were secrets) into
        the secret store. Crash-safe: each value is stored before its row is blanked, so a
        kill in between only repeats the move at the next start."""
        moved = False
        with self._lock:
            for provider in self._storage.list_providers():
                found = {n: v for n, v in provider.headers.items() if is_secret_header(n)}
                if not found:
                    continue
                hints = dict(provider.secret_headers)
                for name, value in found.items():
                    if value:
                        REDACTOR.add(value)
                        self._secrets.set(_header_entry(provider.id, name), value)
                    hints[name] = key_hint(value) if value else None
                plain = {n: v for n, v in provider.headers.items() if n not in found}
                self._storage.update_provider(
                    replace(provider, headers=plain, secret_headers=hints)
                )
                moved = True
            if moved:
                # The old values must not linger in the write-ahead log either.
                self._storage.checkpoint()
                log.info("moved credential headers into the secret store")

    def finish_key_changes(self) -> None:
        """Finish or undo the key changes a crash interrupted (see the module docstring)."""
        with self._lock:
            pending = self._journal()
            for provider_id in pending:
                try:
                    self._settle(provider_id)
                except MiaodaError as err:
                    # The journal keeps it: api_key stays right, and the next start retries.
                    log.warning(
                        "could not finish an interrupted key change of %s: %s",
                        provider_id,
                        err.message,
                    )
            if pending:
                log.info("finished %d interrupted key change(s)", len(pending))

    # --- writes ------------------------------------------------------------------------

    def add(
        self, config: Any, *, validate: bool = True
    ) -> tuple[ProviderConfig, HealthStatus | None]:
        """Validate, optionally test (with the first key), then save a new provider and its keys."""
        data = load_provider(config)
        texts = _given_keys(data) or []
        key = texts[0] if texts else None
        hints, values, _ = _plan_headers(None, _split_headers(data))
        if self._storage.get_provider_by_name(data["name"]) is not None:
            raise _duplicate(data["name"])
        self._check_not_a_route(data["name"])
        now = self._clock()
        provider = self._build(uuid.uuid4().hex, data, key, created_at=now, updated_at=now)
        provider = replace(provider, secret_headers=hints)
        status = self._run_check(self._filled(provider, values), key) if validate else None
        with self._lock:
            self._insert_with_headers(provider, texts, values)
        provider = self._with_keys(provider)
        log.info("provider added: %s (%s)", provider.id, provider.name)
        self._notify(provider.id)
        return provider, status

    def update(
        self, provider_id: Any, updates: Any, *, validate: bool = True
    ) -> tuple[ProviderConfig, HealthStatus | None]:
        """Apply partial updates; without apiKey/apiKeys the keys stay, `apiKey` replaces them
        all with one (`""`: with none), `apiKeys` with the list."""
        current = self.get(provider_id)
        data = merge_update(current.to_export(), updates)
        new_keys = _given_keys(data)
        hints, values, dropped = _plan_headers(current, _split_headers(data))
        rotation: KeyCursor | None = None
        if new_keys is None:
            key_after = None
            if current.has_api_key and validate:
                # The check uses a stored key and tells it how it went, as a health check does.
                rotation = self._cursor(current, check=True)
                key_after = rotation.advance() if rotation is not None else None
            has_key, hint = current.has_api_key, current.api_key_hint
        else:
            key_after = new_keys[0] if new_keys else None
            has_key, hint = bool(key_after), key_hint(key_after) if key_after else None
        provider = self._build(
            current.id, data, None, created_at=current.created_at, updated_at=self._clock()
        )
        provider = replace(provider, has_api_key=has_key, api_key_hint=hint, secret_headers=hints)
        other = self._storage.get_provider_by_name(provider.name)
        if other is not None and other.id != current.id:
            raise _duplicate(provider.name)
        self._check_not_a_route(provider.name)
        checked = replace(self._filled(provider, values), rotation=rotation)
        status = self._run_check(checked, key_after) if validate else None
        with self._lock:
            self._write_with_headers(current, provider, new_keys, values, dropped)
        provider = self._with_keys(provider)
        log.info("provider updated: %s (%s)", provider.id, provider.name)
        self._notify(provider.id)
        return provider, status

    def remove(self, provider_id: Any) -> str:
        """Remove a provider, its keys and its health history."""
        with self._lock:
            provider = self.get(provider_id)
            self._settle(provider.id)
            entries = [entry for _, entry in self._pools.stored(provider.id)]
            # The rows go first (the key rows with the provider's); the entries after them.
            with self._storage.transaction():
                if not self._storage.delete_provider(provider.id):
                    raise NotFound()
                if entries:
                    self._mark(provider.id, entries)
            self._pools.put(provider.id, [])
            if entries:
                self._settle_quietly(provider.id)
            self._drop_headers(provider.id, _stored_header_names(provider))
        log.info("provider removed: %s (%s)", provider.id, provider.name)
        self._notify(provider.id, removed=True)
        return provider.id

    def test_connection(self, config_or_id: Any) -> HealthStatus:
        """Test a saved provider (by id) or an unsaved config, without saving anything."""
        return self._run_check(*self.resolve(config_or_id))

    # --- one key at a time ---------------------------------------------------------------

    def add_key(self, provider_id: Any, key: Any) -> ProviderConfig:
        """Add a key at the end of a provider's pool."""
        text = load_key(key)
        REDACTOR.add(text)
        with self._lock:
            current = self.get(provider_id)
            self._settle(current.id)
            kept = self._pools.stored(current.id)
            if len(kept) >= MAX_KEYS:
                problem = f"A provider holds at most {MAX_KEYS} keys; remove one first."
                raise InvalidConfig(problem, fields={"key": [problem]})
            if text in self.api_keys(current.id):
                problem = "This key is already in the provider's pool."
                raise InvalidConfig(problem, fields={"key": [problem]})
            added, texts = _new_keys(current.id, [text])
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

    def resolve(
        self, config_or_id: Any, *, blanks: Mapping[str, str] | None = None
    ) -> tuple[ProviderConfig, str | None]:
        """The provider and key that a saved id, or a form's config, stands for; nothing saved.

        A form editing a saved provider (a config with `id`) falls back to the stored keys and
        header values, but only while they would go where they were saved for. `blanks` fills
        the fields an unsaved form may still have empty (fetching models comes before choosing
        one). Keys typed into the form are added to the redactor. Of several keys the first is
        used; a stored key is picked as for a health check (`with_key`), and the config carries
        its `rotation`, so that the check's outcome is told to the key.
        """
        if isinstance(config_or_id, str):
            return self.with_key(config_or_id, check=True)
        if isinstance(config_or_id, Mapping) and isinstance(config_or_id.get("id"), str):
            raw = dict(config_or_id)
            current = self.get(raw.pop("id"))
            for read_only in READ_ONLY:  # "id" was taken out above
                raw.pop(read_only, None)
            data = merge_update(current.to_export(), raw)
            given = _given_keys(data)
            key = given[0] if given else None
            hints, values, _ = _plan_headers(current, _split_headers(data))
            edited = replace(self._build(current.id, data, key, "", ""), secret_headers=hints)
            if not _same_destination(current, edited):
                # Stored header values, like the key, only go where they were saved for.
                edited = replace(edited, secret_headers={n: None for n in values})
            if given is None and current.has_api_key:
                if not _same_destination(current, edited):
                    raise _key_needed()
                with self._lock:
                    cursor = self._cursor(current, check=True)
                    key = cursor.advance() if cursor is not None else None
                edited = replace(edited, rotation=cursor)
            return self._filled(edited, values), key or None
        if blanks and isinstance(config_or_id, Mapping):
            config_or_id = {k: v for k, v in config_or_id.items() if k not in READ_ONLY}
            for name, value in blanks.items():
                if config_or_id.get(name) in (None, ""):
                    config_or_id[name] = value
        data = load_provider(config_or_id)
        given = _given_keys(data)
        key = given[0] if given else None
        hints, values, _ = _plan_headers(None, _split_headers(data))
        unsaved = replace(self._build("unsaved", data, key, "", ""), secret_headers=hints)
        return self._filled(unsaved, values), key

    # --- export / import ---------------------------------------------------------------

    def export_text(self, *, include_keys: bool, passphrase: str | None) -> tuple[str, int]:
        """The export file's text and how many providers it holds."""
        if include_keys and not passphrase:
            raise InvalidConfig(
                "Keys are only exported encrypted: give a passphrase.",
                fields={
                    "passphrase": ["Give a passphrase of at least 8 characters to export keys."]
                },
            )
        providers = self.list()
        keys: dict[str, transfer.ProviderSecrets] | None = None
        if include_keys:
            keys = {}
            for provider in providers:
                headers: dict[str, str] = {}
                for name in _stored_header_names(provider):
                    value = self._secrets.get(_header_entry(provider.id, name))
                    if value:
                        REDACTOR.add(value)
                        headers[name] = value
                texts = self.api_keys(provider.id)
                if texts or headers:
                    keys[provider.name] = transfer.ProviderSecrets(tuple(texts), headers)
        text = transfer.build_export(
            [p.to_export() for p in providers],
            keys,
            passphrase if include_keys else None,
            exported_at=self._clock(),
        )
        return text, len(providers)

    def import_text(
        self, content: str | bytes, *, passphrase: str | None, on_conflict: str, dry_run: bool
    ) -> ImportReport:
        """Validate the whole file first, then apply it provider by provider."""
        parsed = transfer.read_export(content, passphrase)
        secrets = parsed.secrets or {}
        report = ImportReport()
        seen: set[str] = set()
        plans: list[tuple[dict[str, Any], Sequence[str] | None]] = []
        for index, raw in enumerate(parsed.providers):
            label = _label(raw, index)
            try:
                data = load_provider(raw, what=f"provider {label}")
            except MiaodaError as err:
                report.errors.append({"name": label, "error": err.to_dict()})
                continue
            if "apiKey" in data or "apiKeys" in data:
                report.errors.append({"name": label, "error": _key_in_file().to_dict()})
                continue
            if data["name"].casefold() in seen:
                report.errors.append({"name": label, "error": _dup_in_file(label).to_dict()})
                continue
            seen.add(data["name"].casefold())
            brought = secrets.get(data["name"], transfer.ProviderSecrets())
            for name, value in data["headers"].items():
                if value is None and is_secret_header(name):
                    data["headers"][name] = brought.headers.get(name) or None
            try:
                keys: Sequence[str] | None = None
                if brought.api_keys:
                    keys = load_api_keys(list(brought.api_keys))
            except MiaodaError as err:
                report.errors.append({"name": label, "error": err.to_dict()})
                continue
            plans.append((data, keys))
        for data, brought_keys in plans:
            try:
                self._import_one(data, brought_keys, on_conflict, dry_run, report, seen)
            except MiaodaError as err:
                report.errors.append({"name": data["name"], "error": err.to_dict()})
        return report

    def _import_one(
        self,
        data: dict[str, Any],
        keys: Sequence[str] | None,
        on_conflict: str,
        dry_run: bool,
        report: ImportReport,
        taken: set[str],
    ) -> None:
        key = keys[0] if keys else None
        with self._lock:
            existing = self._storage.get_provider_by_name(data["name"])
            route_named = self._routes.get_route_by_name(data["name"]) is not None
            if route_named and on_conflict != "rename":
                raise _taken_by_route(data["name"])
            if existing is not None and on_conflict == "skip":
                report.skipped.append(data["name"])
                return
            if (existing is not None or route_named) and on_conflict == "rename":
                new_name = self._free_name(data["name"], taken)
                taken.add(new_name.casefold())
                report.renamed.append({"from": data["name"], "to": new_name})
                data = {**data, "name": new_name}
                existing = None
            now = self._clock()
            data = dict(data)
            given = _split_headers(data)
            if existing is None:
                hints, values, _ = _plan_headers(None, given)
                provider = self._build(uuid.uuid4().hex, data, key, created_at=now, updated_at=now)
                provider = replace(provider, secret_headers=hints)
                if not dry_run:
                    self._insert_with_headers(provider, keys or [], values)
                    self._notify(provider.id)
                report.added.append(provider.name)
                return
            provider = self._build(
                existing.id, data, key, created_at=existing.created_at, updated_at=now
            )
            hints, values, dropped = _plan_headers(existing, given)
            if not _same_routing(existing, provider):
                # Like the key: a stored header value is never sent where it was not given for.
                hints = {n: (h if n in values else None) for n, h in hints.items()}
                dropped = _stored_header_names(existing)
            provider = replace(provider, secret_headers=hints)
            if key is None and existing.has_api_key:
                if _same_routing(existing, provider):
                    # Sent to the same place in the same way: the stored keys still belong.
                    provider = replace(
                        provider, has_api_key=True, api_key_hint=existing.api_key_hint
                    )
                    key_change: Sequence[str] | None = None
                else:
                    # A key is never sent anywhere, or in any way, it was not given for.
                    key_change = []
            else:
                key_change = keys or []
            if not dry_run:
                self._write_with_headers(existing, provider, key_change, values, dropped)
                self._notify(provider.id)
            report.updated.append(provider.name)

    def _free_name(self, name: str, taken: set[str]) -> str:
        for n in range(2, 10_000):
            suffix = f"-{n}"
            candidate = name[: 64 - len(suffix)] + suffix
            if (
                candidate.casefold() not in taken
                and self._storage.get_provider_by_name(candidate) is None
                and self._routes.get_route_by_name(candidate) is None
            ):
                return candidate
        raise DuplicateName(f"No free name is left for {name}; rename it in the file.")

    # --- internals ---------------------------------------------------------------------

    def _build(
        self,
        provider_id: str,
        data: Mapping[str, Any],
        key: str | None,
        created_at: str,
        updated_at: str,
    ) -> ProviderConfig:
        return ProviderConfig(
            id=provider_id,
            name=data["name"],
            display_name=data["displayName"],
            base_url=data["baseURL"],
            model=data["model"],
            type=data["type"],
            auth=auth_from_wire(data["auth"]),
            headers=dict(data["headers"]),
            parameters=dict(data["parameters"]),
            endpoints=dict(data["endpoints"]),
            created_at=created_at,
            updated_at=updated_at,
            has_api_key=bool(key),
            api_key_hint=key_hint(key) if key else None,
        )

    def _check_not_a_route(self, name: str) -> None:
        if self._routes.get_route_by_name(name) is not None:
            raise _taken_by_route(name)

    def _run_check(self, provider: ProviderConfig, key: str | None) -> HealthStatus:
        status = self._check(provider, key)
        return replace(status, provider_id=provider.id, provider_name=provider.name)

    def _insert_with_headers(
        self, provider: ProviderConfig, keys: Sequence[str], values: Mapping[str, str]
    ) -> None:
        """`_insert`, the credential header values stored first (and removed if it fails)."""
        self._store_headers(provider.id, values)
        try:
            self._insert(provider, keys)
        except BaseException:
            self._drop_headers(provider.id, list(values))
            raise

    def _write_with_headers(
        self,
        current: ProviderConfig,
        provider: ProviderConfig,
        new_keys: Sequence[str] | None,
        values: Mapping[str, str],
        dropped: Sequence[str],
    ) -> None:
        """`_write_update`; new header values are stored before the row, dropped ones after."""
        self._store_headers(current.id, values)
        self._write_update(current, provider, new_keys)
        self._drop_headers(current.id, [n for n in dropped if n.lower() not in _lower(values)])

    def _store_headers(self, provider_id: str, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._secrets.set(_header_entry(provider_id, name), value)

    def _drop_headers(self, provider_id: str, names: Sequence[str]) -> None:
        """Remove header values no row uses any more; a failure leaves only an unused entry."""
        for name in names:
            try:
                self._secrets.delete(_header_entry(provider_id, name))
            except MiaodaError:
                log.warning("could not remove a header value of %s from the store", provider_id)

    def _insert(self, provider: ProviderConfig, keys: Sequence[str]) -> None:
        """Save a new provider with its keys (journaled, written, then claimed by the rows)."""
        if not keys:
            self._storage.insert_provider(provider)
            return
        stored, texts = _new_keys(provider.id, keys)
        self._commit_keys(provider, stored, texts, [], insert=True)

    def _write_update(
        self, current: ProviderConfig, provider: ProviderConfig, new_keys: Sequence[str] | None
    ) -> None:
        """Save `provider` over `current`; `new_keys`: None keeps the pool, a list replaces it."""
        self._settle(current.id)
        if new_keys is None:
            self._storage.update_provider(provider)
            return
        # Decided on the pool as committed now, not as read before taking the lock.
        dropped = [entry for _, entry in self._pools.stored(current.id)]
        stored, texts = _new_keys(current.id, new_keys)
        self._commit_keys(provider, stored, texts, dropped)

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
        until then (see the module docstring)."""
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

    # --- the key journal -----------------------------------------------------------------

    def _journal(self) -> dict[str, Any]:
        value = self._storage.get_setting(KEY_JOURNAL, {})
        return dict(value) if isinstance(value, dict) else {}

    def _mark(self, provider_id: str, phase: str | Sequence[str] | None) -> None:
        """Journal `phase` for the provider (None: done), within the caller's transaction."""
        with self._storage.transaction():
            journal = self._journal()
            if phase is None:
                if journal.pop(provider_id, None) is None:
                    return
            else:
                journal[provider_id] = phase if isinstance(phase, str) else list(phase)
            self._storage.set_setting(KEY_JOURNAL, journal)

    def _settle(self, provider_id: str) -> None:
        """Finish or undo a journaled key change; idempotent."""
        phase = self._journal().get(provider_id)
        if phase is None:
            return
        if isinstance(phase, list):
            # One rule finishes and undoes: an entry in flight that no key row names goes.
            entries = [e for e in phase if isinstance(e, str)]
            claimed = self._key_store.claimed(entries)
            for entry in entries:
                if entry not in claimed:
                    self._secrets.delete(entry)
            self._mark(provider_id, None)
            return
        # A change journaled by a version before key pools (STAGED or SETTLE).
        row = self._storage.get_provider(provider_id)
        keeps_key = row is not None and row.has_api_key
        staged = _staged(provider_id)
        if phase == SETTLE and keeps_key:
            key = self._secrets.get(staged)
            if key is not None:
                self._secrets.set(provider_id, key)
        if not keeps_key:
            self._secrets.delete(provider_id)
        self._secrets.delete(staged)
        self._mark(provider_id, None)

    def _settle_quietly(self, provider_id: str) -> None:
        """`_settle` where a failure must not hide the outcome: the journal keeps the rest."""
        try:
            self._settle(provider_id)
        except MiaodaError:
            log.warning("could not finish a key change of %s; the next start will", provider_id)


def _given_keys(data: dict[str, Any]) -> list[str] | None:
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


def _new_keys(provider_id: str, texts: Sequence[str]) -> tuple[list[StoredKey], dict[str, str]]:
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
            "This provider has no such key; it may have been removed. Reload the provider.",
            fields={"keyId": ["No key of this provider has this id."]},
        )
    return found


def _staged(provider_id: str) -> str:
    """Where a provider's new key waits while the committed row still uses the old one."""
    return provider_id + STAGED_SUFFIX


def _header_entry(provider_id: str, name: str) -> str:
    """The secret store entry of a provider's credential header (names ignore case)."""
    return provider_id + HEADER_ENTRY + name.lower()


def _lower(names: Mapping[str, Any] | list[str]) -> set[str]:
    return {n.lower() for n in names}


def _stored_header_names(provider: ProviderConfig) -> list[str]:
    """The credential headers of a provider that have a stored value."""
    return [n for n, hint in provider.secret_headers.items() if hint is not None]


def _split_headers(data: dict[str, Any]) -> dict[str, str | None]:
    """Take the credential headers out of validated `data["headers"]`; return them."""
    headers: dict[str, str | None] = data["headers"]
    data["headers"] = {n: v for n, v in headers.items() if not is_secret_header(n)}
    return {n: v for n, v in headers.items() if is_secret_header(n)}


def _plan_headers(
    current: ProviderConfig | None, given: Mapping[str, str | None]
) -> tuple[dict[str, str | None], dict[str, str], list[str]]:
    """Apply the key rules to credential headers: a value replaces, None keeps the stored
    one (or leaves a new header without value), "" removes the header. Returns the hints to
    save, the values to store and the header names whose stored values go."""
    stored = {n.lower(): hint for n, hint in (current.secret_headers if current else {}).items()}
    hints: dict[str, str | None] = {}
    values: dict[str, str] = {}
    for name, value in given.items():
        if value == "":
            continue
        if value is None:
            hints[name] = stored.get(name.lower())
        else:
            REDACTOR.add(value)
            hints[name] = key_hint(value)
            values[name] = value
    kept = _lower(hints)
    dropped = [n for n in _stored_header_names(current) if n.lower() not in kept] if current else []
    return hints, values, dropped


def _origin(base_url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a (validated) base URL, the port filled in when implied."""
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or _DEFAULT_PORTS.get(scheme)


def _same_destination(stored: ProviderConfig, edited: ProviderConfig) -> bool:
    """Whether `edited` sends a key to the origin and in the place `stored` was saved with."""
    return _origin(stored.base_url) == _origin(edited.base_url) and stored.auth == edited.auth


def _same_routing(stored: ProviderConfig, imported: ProviderConfig) -> bool:
    """Whether everything that decides where and how a key is sent is unchanged."""
    return (
        stored.type == imported.type
        and stored.base_url == imported.base_url
        and stored.auth == imported.auth
        and dict(stored.endpoints) == dict(imported.endpoints)
    )


def _key_needed() -> InvalidConfig:
    problem = (
        "Enter the API key to test this provider at its new address or with its new "
        "authentication; the saved key is only sent where it was saved for."
    )
    return InvalidConfig(problem, fields={"apiKey": [problem]})


def _duplicate(name: str) -> DuplicateName:
    return DuplicateName(
        f"A provider named {name} already exists (names ignore case). Choose another name.",
        fields={"name": ["This name is already used by another provider."]},
    )


def _taken_by_route(name: str) -> DuplicateName:
    return DuplicateName(
        f"A route is named {name}, and providers and routes share their names (ignoring "
        "case). Choose another name.",
        fields={"name": ["This name is already used by a route."]},
    )


def _label(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if isinstance(name, str) and name and len(name) <= 64 and name.isprintable():
        return name
    return f"#{index + 1}"


def _key_in_file() -> InvalidConfig:
    return InvalidConfig(
        "This provider carries a plain-text apiKey, which MiaoDa Chat files never do; "
        "remove it from the file or add the key in the app.",
        fields={"apiKey": ["Keys are only imported from the encrypted secrets block."]},
    )


def _dup_in_file(name: str) -> DuplicateName:
    return DuplicateName(
        f"The file lists {name} more than once (names ignore case); only the first was used.",
        fields={"name": ["Appears more than once in the file."]},
    )
