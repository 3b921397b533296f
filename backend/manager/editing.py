"""Adding, updating, removing and testing providers, and resolving a form to what it sends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from backend.errors import DuplicateName, InvalidConfig, NotFound
from backend.i18n import tr
from backend.manager.headers import lower, plan_headers, split_headers, stored_header_names
from backend.manager.hints import key_hint
from backend.manager.pool import KeyPool, fresh_keys, given_keys
from backend.models import HealthStatus, ProviderConfig
from backend.providers.keys import KeyCursor
from backend.schemas import READ_ONLY, auth_from_wire, load_provider, merge_update

log = logging.getLogger("miaoda.manager")

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ProviderEditing(KeyPool):
    """Validated changes to providers, their keys and credential headers saved with them."""

    # --- writes ------------------------------------------------------------------------

    def add(
        self, config: Any, *, validate: bool = True
    ) -> tuple[ProviderConfig, HealthStatus | None]:
        """Validate, optionally test (with the first key), then save a new provider and its keys."""
        data = load_provider(config)
        texts = given_keys(data) or []
        key = texts[0] if texts else None
        hints, values, _ = plan_headers(None, split_headers(data))
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
        new_keys = given_keys(data)
        hints, values, dropped = plan_headers(current, split_headers(data))
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
            self._drop_headers(provider.id, stored_header_names(provider))
        log.info("provider removed: %s (%s)", provider.id, provider.name)
        self._notify(provider.id, removed=True)
        return provider.id

    def test_connection(self, config_or_id: Any) -> HealthStatus:
        """Test a saved provider (by id) or an unsaved config, without saving anything."""
        return self._run_check(*self.resolve(config_or_id))

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
            given = given_keys(data)
            key = given[0] if given else None
            hints, values, _ = plan_headers(current, split_headers(data))
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
        given = given_keys(data)
        key = given[0] if given else None
        hints, values, _ = plan_headers(None, split_headers(data))
        unsaved = replace(self._build("unsaved", data, key, "", ""), secret_headers=hints)
        return self._filled(unsaved, values), key

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
            check_kind=data["checkKind"],
            created_at=created_at,
            updated_at=updated_at,
            has_api_key=bool(key),
            api_key_hint=key_hint(key) if key else None,
        )

    def _check_not_a_route(self, name: str) -> None:
        if self._routes.get_route_by_name(name) is not None:
            raise taken_by_route(name)

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
        self._drop_headers(current.id, [n for n in dropped if n.lower() not in lower(values)])

    def _insert(self, provider: ProviderConfig, keys: Sequence[str]) -> None:
        """Save a new provider with its keys (journaled, written, then claimed by the rows)."""
        if not keys:
            self._storage.insert_provider(provider)
            return
        stored, texts = fresh_keys(provider.id, keys)
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
        stored, texts = fresh_keys(current.id, new_keys)
        self._commit_keys(provider, stored, texts, dropped)


def _origin(base_url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a (validated) base URL, the port filled in when implied."""
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or _DEFAULT_PORTS.get(scheme)


def _same_destination(stored: ProviderConfig, edited: ProviderConfig) -> bool:
    """Whether `edited` sends a key to the origin and in the place `stored` was saved with."""
    return _origin(stored.base_url) == _origin(edited.base_url) and stored.auth == edited.auth


def _key_needed() -> InvalidConfig:
    problem = tr("providers.keyNeededForTest")
    return InvalidConfig(problem, fields={"apiKey": [problem]})


def _duplicate(name: str) -> DuplicateName:
    return DuplicateName(
        tr("providers.nameTaken", name=name),
        fields={"name": [tr("providers.nameTakenField")]},
    )


def taken_by_route(name: str) -> DuplicateName:
    return DuplicateName(
        tr("providers.nameTakenByRoute", name=name),
        fields={"name": [tr("providers.nameTakenByRouteField")]},
    )
