"""The key journal: keeping the data file and the secret store in step across a crash.

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
from collections.abc import Sequence
from typing import Any

from backend.errors import MiaodaError
from backend.manager.state import ManagerState

log = logging.getLogger("miaoda.manager")

KEY_JOURNAL = "secrets.journal"
"""The setting that holds unfinished key changes: provider id -> entries in flight (a list), or
STAGED or SETTLE (journaled by an older version)."""
STAGED = "staged"
SETTLE = "settle"
STAGED_SUFFIX = ":next"


class KeyJournal(ManagerState):
    """Journals key changes and finishes or undoes the ones a crash interrupted."""

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


def _staged(provider_id: str) -> str:
    """Where a provider's new key waits while the committed row still uses the old one."""
    return provider_id + STAGED_SUFFIX
