"""The usage side of the request log (tables of migration 8): what the usage summary reads.

Requests are written by `Storage.record_chat` (core.py), which keeps the running totals of
rollups.py in the same transaction. `UsageStore` reads them: each group's totals before a
quarter-hour, and the raw records of a stretch shorter than one (a period that does not start
on a quarter-hour boundary). `clear()` forgets every record and total, and the budget alerts
that spending raised.
"""

from __future__ import annotations

from typing import Final

from backend.storage import rollups
from backend.storage.core import Storage
from backend.storage.rollups import GroupKey, Tally

_BETWEEN: Final = rollups.SELECT_RECORDS + " WHERE created_at >= ? AND created_at < ?"
# Served by chat_requests_provider_time.
_BETWEEN_OF: Final = (
    rollups.SELECT_RECORDS + " WHERE provider_id = ? AND created_at >= ? AND created_at < ?"
)


class UsageStore:
    """The request log's running totals in a `Storage`."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def totals_before(
        self, bucket: int, provider_id: str | None = None, currency: str | None = None
    ) -> dict[GroupKey, Tally]:
        """Each group's totals of the quarter-hours before `bucket` (or, summed over routes and
        keys, those of one provider's models in one currency)."""
        with self._storage._reading("storage.action.readUsageTotals") as conn:
            return rollups.totals_before(conn, bucket, provider_id, currency)

    def all_before(self, bucket: int) -> Tally:
        """The totals of every request in the quarter-hours before `bucket`."""
        with self._storage._reading("storage.action.readUsageTotals") as conn:
            return rollups.all_before(conn, bucket)

    def parts_before(self, bucket: int) -> list[rollups.Part]:
        """Per provider, model and currency: requests, cost, estimated tokens and estimated
        cost of the quarter-hours before `bucket`."""
        with self._storage._reading("storage.action.readUsageTotals") as conn:
            return rollups.parts_before(conn, bucket)

    def records_between(
        self, start: str, end: str, provider_id: str | None = None
    ) -> list[tuple[GroupKey, Tally]]:
        """The group and tally of each request recorded in [start, end) (ISO 8601 UTC), or
        of one provider's requests."""
        with self._storage._reading("storage.action.readUsageRecords") as conn:
            if provider_id is None:
                rows = conn.execute(_BETWEEN, (start, end)).fetchall()
            else:
                rows = conn.execute(_BETWEEN_OF, (provider_id, start, end)).fetchall()
        return [(key, tally) for key, _, tally in map(rollups.tally_of, rows)]

    def count(self) -> int:
        """How many requests are recorded."""
        with self._storage._reading("storage.action.readUsageRecords") as conn:
            return int(conn.execute("SELECT count(*) FROM chat_requests").fetchone()[0])

    def clear(self) -> int:
        """Forget every request record, total and budget alert; how many records went."""
        with self._storage._writing("storage.action.clearUsageRecords") as conn:
            removed = conn.execute("DELETE FROM chat_requests").rowcount
            rollups.clear(conn)
            conn.execute("DELETE FROM budget_alerts")
            return int(removed)

    def rebuild(self) -> None:
        """Compute the running totals afresh from the records (after a bulk insert)."""
        with self._storage._writing("storage.action.rebuildUsageTotals") as conn:
            rollups.rebuild(conn)
