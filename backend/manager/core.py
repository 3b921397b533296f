"""CustomProviderManager: the parts of the provider manager joined, and started."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from backend.errors import MiaodaError
from backend.manager.exchange import ProviderExchange
from backend.manager.state import ConnectionCheck, ProviderListener, no_connection_check
from backend.models import utc_now
from backend.providers.keys import KeyPools
from backend.secrets import SecretStore
from backend.storage import KeyStore, RouteStore, Storage

log = logging.getLogger("miaoda.manager")


class CustomProviderManager(ProviderExchange):
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
