"""The values of MCP servers' `env` and `headers`: secrets, kept in the secret store only.

A value lives under `<server id>:env:<NAME>` or `<server id>:header:<lower-case name>` (like a
provider's credential header, backend.manager.headers); the server's row keeps only the name
and a hint (`key_hint`), or None for an empty value, which has no entry. Every value read or
written is added to `REDACTOR`, so logs, messages and tool results mask it.

The write-only rules of an add or update (`plan`): a value replaces the stored one, null keeps
it (INVALID_CONFIG when there is none), and a name left out is removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from backend.errors import InvalidConfig, MiaodaError
from backend.i18n import tr
from backend.manager.hints import key_hint
from backend.redact import REDACTOR
from backend.schemas import invalid
from backend.secrets import SecretStore

log = logging.getLogger("miaoda.tools")

EntryOf = Callable[[str, str], str]


def env_entry(server_id: str, name: str) -> str:
    """The secret store entry of an `env` value."""
    return f"{server_id}:env:{name}"


def header_entry(server_id: str, name: str) -> str:
    """The secret store entry of a header value (header names ignore case)."""
    return f"{server_id}:header:{name.lower()}"


@dataclass(frozen=True)
class Plan:
    """What an add or update does to the values of one server's `env` or `headers`."""

    hints: dict[str, str | None]  # name -> hint (None: an empty value): the row's column
    writes: dict[str, str]  # entry -> new value
    deletes: list[str]  # entries no longer used
    changed: bool  # a value was given that differs from the stored one


class ServerValues:
    """Reads and writes MCP servers' values in one secret store."""

    def __init__(self, secrets: SecretStore) -> None:
        self._secrets = secrets

    def plan(
        self,
        server_id: str,
        given: Mapping[str, str | None],
        stored: Mapping[str, str | None],
        entry_of: EntryOf,
        field: str,
    ) -> Plan:
        """Apply the write-only rules to `given` (`field`: `env` or `headers`) against the
        names and hints `stored`."""
        before = {entry_of(server_id, name): hint for name, hint in stored.items()}
        hints: dict[str, str | None] = {}
        writes: dict[str, str] = {}
        changed = False
        for name, value in given.items():
            entry = entry_of(server_id, name)
            if value is None:
                if entry not in before:
                    raise _value_needed(field, name)
                hints[name] = before[entry]
                continue
            old = self._current(entry, before)
            changed = changed or old != value
            hints[name] = key_hint(value) if value else None
            if value and old != value:
                REDACTOR.add(value)
                writes[entry] = value
        kept = {entry_of(server_id, name) for name, hint in hints.items() if hint is not None}
        deletes = [
            entry for entry, hint in before.items() if hint is not None and entry not in kept
        ]
        return Plan(hints, writes, deletes, changed)

    def _current(self, entry: str, before: Mapping[str, str | None]) -> str | None:
        """What `entry` holds now: None when the name is new, "" for an empty value."""
        if entry not in before:
            return None
        return "" if before[entry] is None else self._secrets.get(entry)

    def write(self, *plans: Plan) -> dict[str, str | None]:
        """Store the plans' new values; what each entry held before, for `restore`. A failure
        restores what was written so far."""
        previous: dict[str, str | None] = {}
        try:
            for plan in plans:
                for entry, value in plan.writes.items():
                    previous[entry] = self._secrets.get(entry)
                    self._secrets.set(entry, value)
        except BaseException:
            self.restore(previous)
            raise
        return previous

    def restore(self, previous: Mapping[str, str | None]) -> None:
        """Put back what `write` replaced (best effort: the first error matters more)."""
        for entry, value in previous.items():
            try:
                if value is None:
                    self._secrets.delete(entry)
                else:
                    self._secrets.set(entry, value)
            except MiaodaError:
                log.warning("could not restore a value of an MCP server in the secret store")

    def forget(self, entries: Sequence[str]) -> None:
        """Remove values nothing uses any more; a failure leaves only an unused entry."""
        for entry in entries:
            try:
                self._secrets.delete(entry)
            except MiaodaError:
                log.warning("could not remove a value of an MCP server from the secret store")

    def read(
        self, server_id: str, hints: Mapping[str, str | None], entry_of: EntryOf
    ) -> dict[str, str]:
        """The stored values by name (an empty one has no entry; a lost one is left out)."""
        values: dict[str, str] = {}
        for name, hint in hints.items():
            if hint is None:
                values[name] = ""
                continue
            value = self._secrets.get(entry_of(server_id, name))
            if value is None:
                log.warning("a value of MCP server %s is missing from the secret store", server_id)
                continue
            REDACTOR.add(value)
            values[name] = value
        return values


def stored_entries(server_id: str, hints: Mapping[str, str | None], entry_of: EntryOf) -> list[str]:
    """The entries that hold values of these names (empty values have none)."""
    return [entry_of(server_id, name) for name, hint in hints.items() if hint is not None]


def _value_needed(field: str, name: str) -> InvalidConfig:
    return invalid("mcp server", {field: [tr("fields.mcp.valueNeeded", name=name)]})
