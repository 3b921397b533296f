"""Credential headers: their values kept in the secret store, never in the data file."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from backend.errors import MiaodaError
from backend.manager.hints import key_hint
from backend.manager.state import ManagerState
from backend.models import ProviderConfig, is_secret_header
from backend.redact import REDACTOR

log = logging.getLogger("miaoda.manager")

HEADER_ENTRY = ":header:"
"""A credential header's value is kept under `<provider id>:header:<lower-case name>`."""


class HeaderSecrets(ManagerState):
    """Stores, fills in, moves and drops the values of providers' credential headers."""

    def _filled(self, provider: ProviderConfig, given: Mapping[str, str]) -> ProviderConfig:
        """The provider with its credential headers' values in `headers`, for sending only:
        each from `given`, else from the secret store. Never stored, never sent to a client."""
        values: dict[str, str] = {}
        for name, hint in provider.secret_headers.items():
            value = given.get(name)
            if value is None and hint is not None:
                value = self._secrets.get(header_entry(provider.id, name))
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
                        self._secrets.set(header_entry(provider.id, name), value)
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

    def _store_headers(self, provider_id: str, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._secrets.set(header_entry(provider_id, name), value)

    def _drop_headers(self, provider_id: str, names: Sequence[str]) -> None:
        """Remove header values no row uses any more; a failure leaves only an unused entry."""
        for name in names:
            try:
                self._secrets.delete(header_entry(provider_id, name))
            except MiaodaError:
                log.warning("could not remove a header value of %s from the store", provider_id)


def header_entry(provider_id: str, name: str) -> str:
    """The secret store entry of a provider's credential header (names ignore case)."""
    return provider_id + HEADER_ENTRY + name.lower()


def lower(names: Mapping[str, Any] | list[str]) -> set[str]:
    return {n.lower() for n in names}


def stored_header_names(provider: ProviderConfig) -> list[str]:
    """The credential headers of a provider that have a stored value."""
    return [n for n, hint in provider.secret_headers.items() if hint is not None]


def split_headers(data: dict[str, Any]) -> dict[str, str | None]:
    """Take the credential headers out of validated `data["headers"]`; return them."""
    headers: dict[str, str | None] = data["headers"]
    data["headers"] = {n: v for n, v in headers.items() if not is_secret_header(n)}
    return {n: v for n, v in headers.items() if is_secret_header(n)}


def plan_headers(
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
    kept = lower(hints)
    dropped = [n for n in stored_header_names(current) if n.lower() not in kept] if current else []
    return hints, values, dropped
