"""The provider manager: the one place that changes providers and handles their keys.

`CustomProviderManager` validates every change with `backend.schemas`, keeps the SQLite row and
the secret store in step, and serialises changes behind one lock because the bridge calls it
from many threads at once. Reads go straight to storage and never touch the secret store.

It is one class built from mixins, one job each, over the shared state in state.py:

- state.py: the state, the listeners and the connection check, and the reads (`get`, `list`);
- journal.py: the key journal, which keeps the data file and the secret store in step across
  a crash (its docstring tells how);
- headers.py: credential header values in the secret store;
- pool.py: key pools, key by key, and the next key to send (`with_key`);
- editing.py: adding, updating, removing and testing providers, and `resolve`;
- exchange.py: export and import (`ImportReport`);
- core.py: `CustomProviderManager`, the parts joined, and its start-up;
- hints.py: `key_hint`, what may be shown of a secret.
"""

from __future__ import annotations

from backend.manager.core import CustomProviderManager
from backend.manager.exchange import ImportReport
from backend.manager.headers import HEADER_ENTRY
from backend.manager.hints import KNOWN_KEY_PREFIXES, key_hint
from backend.manager.journal import KEY_JOURNAL, SETTLE, STAGED, STAGED_SUFFIX
from backend.manager.pool import KEY_ENTRY
from backend.manager.state import ConnectionCheck, ProviderListener, no_connection_check

__all__ = [
    "HEADER_ENTRY",
    "KEY_ENTRY",
    "KEY_JOURNAL",
    "KNOWN_KEY_PREFIXES",
    "SETTLE",
    "STAGED",
    "STAGED_SUFFIX",
    "ConnectionCheck",
    "CustomProviderManager",
    "ImportReport",
    "ProviderListener",
    "key_hint",
    "no_connection_check",
]
