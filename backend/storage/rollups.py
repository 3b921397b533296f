"""Running totals of the chat request log (tables of migration 8), so usage is read from an index.

Each chat request adds a `Tally` (one request, its error, tokens, cost in micro-units of its
currency, a time-to-first-token count) to its *group*: provider × route × model × key ×
currency (`usage_groups`). `usage_totals` holds, per group and UTC quarter-hour `bucket`
(unix seconds // 900) in which the group had requests, the group's **running totals**: the sum
of every tally of the group up to and including that quarter-hour. What a group did in a period
[a, b) is then its totals before b minus its totals before a: two index lookups per group,
whatever the number of requests (docs/DECISIONS.md, "Usage and cost"). Groups come at three
*levels*: `FULL` (the five keys), `PART` (provider × model × currency: what a day's breakdowns
need, however many routes and keys there are) and `ALL` (one group, every request: a day's
totals in two lookups). Each request counts once at each level. A quarter-hour is the
unit because every time zone in use is a whole number of quarter-hours from UTC, so a local day
or month starts on a bucket boundary; a period that does not is completed from the request log.

Times to first token are kept as running histograms (`TTFT_BINS` logarithmic bins, four per
doubling), from which percentiles are read to within 9 %.

Everything here runs on a connection inside the caller's transaction (the request log's write,
migration 8), so a record and its totals are saved together or not at all.
"""

from __future__ import annotations

import math
import sqlite3
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

BUCKET_SECONDS: Final = 900
TTFT_BINS: Final = 81
"""Bin 0 holds 0 ms; bin k ≥ 1 holds [2^((k-1)/4), 2^(k/4)) ms; the last one everything above."""

SCALARS: Final = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "estimated_tokens",
    "cost_micros",
    "estimated_cost_micros",
    "unknown_cost_requests",
)
_N = len(SCALARS)
INDEX: Final = {name: i for i, name in enumerate(SCALARS)}
FULL, PART, ALL = 2, 1, 0
"""Group levels: provider × route × model × key × currency; provider × model × currency; all."""

# Full literal statements (no string building), as everywhere in this package; a unit test
# checks that their column lists are `SCALARS` and `RECORD_COLUMNS`.
RECORD_COLUMNS: Final = (
    "provider_id, route_id, model, key_id, currency, input_tokens, output_tokens, "
    "cached_input_tokens, usage_source, ttft_ms, finish_reason, cost_micros, created_at"
)
"""The request log columns a tally is made from, in `tally_of`'s order."""
SELECT_RECORDS: Final = (
    "SELECT provider_id, route_id, model, key_id, currency, input_tokens, output_tokens, "
    "cached_input_tokens, usage_source, ttft_ms, finish_reason, cost_micros, created_at "
    "FROM chat_requests"
)
_SELECT_GROUP = (
    "SELECT id FROM usage_groups WHERE level = ? AND provider_id = ? AND route_id = ? "
    "AND model = ? AND key_id = ? AND currency = ?"
)
_INSERT_GROUP = (
    "INSERT INTO usage_groups (level, provider_id, route_id, model, key_id, currency) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_AT_OR_BEFORE = (
    "SELECT bucket, requests, errors, input_tokens, output_tokens, cached_input_tokens, "
    "estimated_tokens, cost_micros, estimated_cost_micros, unknown_cost_requests, ttft "
    "FROM usage_totals WHERE group_id = ? AND bucket <= ? ORDER BY bucket DESC LIMIT 1"
)
_AFTER = (
    "SELECT bucket, requests, errors, input_tokens, output_tokens, cached_input_tokens, "
    "estimated_tokens, cost_micros, estimated_cost_micros, unknown_cost_requests, ttft "
    "FROM usage_totals WHERE group_id = ? AND bucket > ?"
)
_INSERT_TOTALS = (
    "INSERT INTO usage_totals (group_id, bucket, requests, errors, input_tokens, "
    "output_tokens, cached_input_tokens, estimated_tokens, cost_micros, estimated_cost_micros, "
    "unknown_cost_requests, ttft) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_TOTALS = (
    "UPDATE usage_totals SET requests = ?, errors = ?, input_tokens = ?, output_tokens = ?, "
    "cached_input_tokens = ?, estimated_tokens = ?, cost_micros = ?, "
    "estimated_cost_micros = ?, unknown_cost_requests = ?, ttft = ? "
    "WHERE group_id = ? AND bucket = ?"
)
# Per group of a level, its totals row of the latest bucket before ?1: two index seeks each.
# Groups are the outer loop (CROSS JOIN keeps that order): with the totals outside, SQLite
# would scan them all and run the subquery for every row.
_TOTALS_BEFORE = (
    "SELECT t.bucket, t.requests, t.errors, t.input_tokens, t.output_tokens, "
    "t.cached_input_tokens, t.estimated_tokens, t.cost_micros, t.estimated_cost_micros, "
    "t.unknown_cost_requests, t.ttft, g.provider_id, g.route_id, g.model, g.key_id, g.currency "
    "FROM (SELECT g.id AS gid, (SELECT max(bucket) FROM usage_totals "
    "WHERE group_id = g.id AND bucket < ?1) AS latest FROM usage_groups AS g "
    "WHERE g.level = 2) AS l "
    "CROSS JOIN usage_totals AS t ON t.group_id = l.gid AND t.bucket = l.latest "
    "JOIN usage_groups AS g ON g.id = l.gid"
)
# One provider's groups in one currency, at the PART level (routes and keys summed).
_TOTALS_BEFORE_OF = (
    "SELECT t.bucket, t.requests, t.errors, t.input_tokens, t.output_tokens, "
    "t.cached_input_tokens, t.estimated_tokens, t.cost_micros, t.estimated_cost_micros, "
    "t.unknown_cost_requests, t.ttft, g.provider_id, g.route_id, g.model, g.key_id, g.currency "
    "FROM (SELECT g.id AS gid, (SELECT max(bucket) FROM usage_totals "
    "WHERE group_id = g.id AND bucket < ?1) AS latest FROM usage_groups AS g "
    "WHERE g.level = 1 AND g.provider_id = ?2 AND g.currency = ?3) AS l "
    "CROSS JOIN usage_totals AS t ON t.group_id = l.gid AND t.bucket = l.latest "
    "JOIN usage_groups AS g ON g.id = l.gid"
)
_PARTS_BEFORE = (
    "SELECT g.provider_id, g.model, g.currency, t.requests, t.cost_micros, "
    "t.estimated_tokens, t.estimated_cost_micros "
    "FROM (SELECT g.id AS gid, (SELECT max(bucket) FROM usage_totals "
    "WHERE group_id = g.id AND bucket < ?1) AS latest FROM usage_groups AS g "
    "WHERE g.level = 1) AS l "
    "CROSS JOIN usage_totals AS t ON t.group_id = l.gid AND t.bucket = l.latest "
    "JOIN usage_groups AS g ON g.id = l.gid"
)
_ALL_BEFORE = (
    "SELECT t.bucket, t.requests, t.errors, t.input_tokens, t.output_tokens, "
    "t.cached_input_tokens, t.estimated_tokens, t.cost_micros, t.estimated_cost_micros, "
    "t.unknown_cost_requests, t.ttft FROM usage_groups AS g "
    "CROSS JOIN usage_totals AS t ON t.group_id = g.id AND t.bucket = "
    "(SELECT max(bucket) FROM usage_totals WHERE group_id = g.id AND bucket < ?) "
    "WHERE g.level = 0"
)


class GroupKey(NamedTuple):
    """What requests are summed by; '' stands for none (direct request, no key, no cost)."""

    provider_id: str
    route_id: str
    model: str
    key_id: str
    currency: str


@dataclass
class Tally:
    """Sums over some requests: `scalars` in `SCALARS` order and the ttft histogram."""

    scalars: list[int] = field(default_factory=lambda: [0] * _N)
    hist: list[int] = field(default_factory=lambda: [0] * TTFT_BINS)

    def add(self, other: Tally, sign: int = 1) -> None:
        """Add (or with sign -1 subtract) another tally."""
        self.scalars = [a + sign * b for a, b in zip(self.scalars, other.scalars, strict=True)]
        self.hist = [a + sign * b for a, b in zip(self.hist, other.hist, strict=True)]

    def copy(self) -> Tally:
        """A tally with the same figures that can be changed on its own."""
        return Tally(list(self.scalars), list(self.hist))

    def minus(self, other: Tally) -> Tally:
        """A new tally: this one less `other`."""
        out = self.copy()
        out.add(other, -1)
        return out

    def __getitem__(self, name: str) -> int:
        return self.scalars[INDEX[name]]


def ttft_bin(ms: int) -> int:
    """The histogram bin of a time to first token in milliseconds."""
    if ms < 1:
        return 0
    return min(1 + math.floor(4 * math.log2(ms)), TTFT_BINS - 1)


def bin_value(index: int) -> float:
    """The value a bin stands for: 0, or the geometric middle of its range (within 9 %)."""
    return 0.0 if index == 0 else 2 ** ((2 * index - 1) / 8)


def pack_hist(hist: Sequence[int]) -> bytes:
    """A histogram as little-endian 32-bit counts, trailing empty bins left off."""
    end = len(hist)
    while end and hist[end - 1] == 0:
        end -= 1
    return struct.pack(f"<{end}I", *hist[:end])


def unpack_hist(blob: bytes) -> list[int]:
    """The full-length histogram from `pack_hist`'s bytes."""
    counts = list(struct.unpack(f"<{len(blob) // 4}I", blob))
    return counts + [0] * (TTFT_BINS - len(counts))


def bucket_of(created_at: str) -> int:
    """The UTC quarter-hour of an ISO 8601 UTC time as `utc_now()` writes it."""
    return bucket_at(datetime.fromisoformat(created_at))


def bucket_at(moment: datetime) -> int:
    """The UTC quarter-hour of an aware datetime."""
    return math.floor(moment.astimezone(UTC).timestamp()) // BUCKET_SECONDS


def tally_of(row: Sequence[Any]) -> tuple[GroupKey, int, Tally]:
    """A request log row (`RECORD_COLUMNS`) as its group, bucket and tally."""
    (provider_id, route_id, model, key_id, currency, input_tokens, output_tokens, cached,
     source, ttft_ms, finish_reason, cost, created_at) = row  # fmt: skip
    inputs, outputs = input_tokens or 0, output_tokens or 0
    tokens = inputs + outputs
    estimated = source == "estimated"
    priced = cost is not None
    tally = Tally(
        [
            1,
            int(finish_reason == "error"),
            inputs,
            outputs,
            cached or 0,
            tokens if estimated else 0,
            cost or 0,
            cost if priced and estimated else 0,
            int(tokens > 0 and not priced),
        ]
    )
    if ttft_ms is not None:
        tally.hist[ttft_bin(ttft_ms)] = 1
    key = GroupKey(
        provider_id, route_id or "", model, key_id or "", (currency or "") if priced else ""
    )
    return key, bucket_of(created_at), tally


def _row_tally(row: Sequence[Any]) -> Tally:
    """A totals row (bucket, scalars..., ttft) as a tally."""
    return Tally(list(row[1 : 1 + _N]), unpack_hist(row[1 + _N]))


def group_id(conn: sqlite3.Connection, level: int, key: GroupKey) -> int:
    """The id of a group, made when it is new."""
    found = conn.execute(_SELECT_GROUP, (level, *key)).fetchone()
    if found is not None:
        return int(found[0])
    return int(conn.execute(_INSERT_GROUP, (level, *key)).lastrowid or 0)


def levels(key: GroupKey) -> tuple[tuple[int, GroupKey], ...]:
    """The group a request of group `key` counts in at each level."""
    part = GroupKey(key.provider_id, "", key.model, "", key.currency)
    return (FULL, key), (PART, part), (ALL, GroupKey("", "", "", "", ""))


def apply(conn: sqlite3.Connection, key: GroupKey, bucket: int, tally: Tally, sign: int) -> None:
    """Add (sign 1) or take back (sign -1) one tally in the running totals of its groups."""
    for level, group in levels(key):
        _apply_to(conn, group_id(conn, level, group), bucket, tally, sign)


def _apply_to(conn: sqlite3.Connection, gid: int, bucket: int, tally: Tally, sign: int) -> None:
    row = conn.execute(_AT_OR_BEFORE, (gid, bucket)).fetchone()
    totals = _row_tally(row) if row is not None else Tally()
    totals.add(tally, sign)
    values = (*totals.scalars, pack_hist(totals.hist))
    if row is not None and row[0] == bucket:
        conn.execute(_UPDATE_TOTALS, (*values, gid, bucket))
    else:
        conn.execute(_INSERT_TOTALS, (gid, bucket, *values))
    # Later buckets exist only when the clock went back (or a request was recorded again).
    for later in conn.execute(_AFTER, (gid, bucket)).fetchall():
        totals = _row_tally(later)
        totals.add(tally, sign)
        conn.execute(_UPDATE_TOTALS, (*totals.scalars, pack_hist(totals.hist), gid, later[0]))


def record(conn: sqlite3.Connection, row: Sequence[Any], replaced: Sequence[Any] | None) -> None:
    """Count a request log row just written, taking back the row it replaced, if any."""
    if replaced is not None:
        apply(conn, *tally_of(replaced), sign=-1)
    apply(conn, *tally_of(row), sign=1)


def totals_before(
    conn: sqlite3.Connection,
    bucket: int,
    provider_id: str | None = None,
    currency: str | None = None,
) -> dict[GroupKey, Tally]:
    """Every `FULL` group's running totals of the buckets before `bucket`; or, given a provider
    and a currency, its `PART` groups' in that currency. A group with no request before
    `bucket` is left out."""
    if provider_id is None:
        rows = conn.execute(_TOTALS_BEFORE, (bucket,))
    else:
        rows = conn.execute(_TOTALS_BEFORE_OF, (bucket, provider_id, currency or ""))
    return {GroupKey(*row[-5:]): _row_tally(row) for row in rows}


def all_before(conn: sqlite3.Connection, bucket: int) -> Tally:
    """The running totals of every request in the buckets before `bucket`."""
    row = conn.execute(_ALL_BEFORE, (bucket,)).fetchone()
    return Tally() if row is None else _row_tally(row)


Part = tuple[str, str, str, int, int, int, int]
"""provider, model, currency; requests, cost_micros, estimated_tokens, estimated_cost_micros."""


def parts_before(conn: sqlite3.Connection, bucket: int) -> list[Part]:
    """The running totals before `bucket` that a day's breakdowns need, per provider, model
    and currency."""
    return [tuple(row) for row in conn.execute(_PARTS_BEFORE, (bucket,))]


def clear(conn: sqlite3.Connection) -> None:
    """Forget every running total (the request log's rows are the caller's)."""
    conn.execute("DELETE FROM usage_totals")
    conn.execute("DELETE FROM usage_groups")


def rebuild(conn: sqlite3.Connection) -> None:
    """Compute every running total afresh from the request log (migration 8, bulk imports)."""
    clear(conn)
    per_bucket: dict[tuple[int, GroupKey], dict[int, Tally]] = {}
    for row in conn.execute(SELECT_RECORDS):
        key, bucket, tally = tally_of(row)
        ttft = row[9]
        for group in levels(key):
            buckets = per_bucket.setdefault(group, {})
            into = buckets.get(bucket)
            if into is None:
                buckets[bucket] = tally.copy()
                continue
            # In place, and only the one histogram bin a request can have: rows add up.
            for i, value in enumerate(tally.scalars):
                into.scalars[i] += value
            if ttft is not None:
                into.hist[ttft_bin(ttft)] += 1
    for (level, key), buckets in per_bucket.items():
        gid = group_id(conn, level, key)
        conn.executemany(_INSERT_TOTALS, _running(gid, sorted(buckets.items())))


def _running(gid: int, buckets: Iterable[tuple[int, Tally]]) -> Iterable[tuple[Any, ...]]:
    totals = Tally()
    for bucket, tally in buckets:
        totals.add(tally)
        yield (gid, bucket, *totals.scalars, pack_hist(totals.hist))
