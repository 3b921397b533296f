"""What every part of the provider manager shares: its state, its wiring and its reads.

The parts (journal, headers, pool, editing, exchange) are mixins over this class, joined into
`CustomProviderManager` by core.py; they reach each other's methods through `self`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from backend.errors import InternalError, InvalidConfig, NotFound
from backend.i18n import tr
from backend.models import HealthStatus, ProviderConfig
from backend.providers.keys import KeyPools
from backend.secrets import SecretStore
from backend.storage import KeyStore, RouteStore, Storage

log = logging.getLogger("miaoda.manager")

# Runs a connection test for a config and key; returns a status or raises a MiaodaError.
ConnectionCheck = Callable[[ProviderConfig, str | None], HealthStatus]


class ProviderListener(Protocol):
    """Told after a provider is saved or removed (the health scheduler listens)."""

    def __call__(self, provider_id: str, removed: bool) -> None: ...


def no_connection_check(config: ProviderConfig, api_key: str | None) -> HealthStatus:
    """The check used when no provider layer is wired in: it says it cannot run."""
    raise InternalError(tr("providers.testUnavailable"))


class ManagerState:
    """The manager's state (set by `CustomProviderManager.__init__`), wiring and reads."""

    _storage: Storage
    _routes: RouteStore
    _secrets: SecretStore
    _check: ConnectionCheck
    _clock: Callable[[], str]
    _lock: threading.RLock
    _listeners: list[ProviderListener]
    _key_store: KeyStore
    _pools: KeyPools

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
                tr("providers.idNeeded"), fields={"id": [tr("providers.idNeededField")]}
            )
        provider = self._storage.get_provider(provider_id)
        if provider is None:
            raise NotFound()
        return self._with_keys(provider)

    def _with_keys(self, provider: ProviderConfig) -> ProviderConfig:
        keys = self._pools.keys(provider.id)
        return replace(provider, keys=keys) if keys else provider
