"""The usage summary (CONTRACT §11): rows per day, provider, model, route or key, and totals.

A period's figures are differences of running totals (backend/storage/rollups.py): the totals
at its end minus those at its start, per group. Totals at an instant are the stored totals of
the quarter-hours before it plus the few records of its own quarter-hour up to it, so a period
may start and end anywhere and its figures are still exact. A day-by-day summary reads, at each
local midnight, the totals of every request (group `ALL`) and those per provider, model and
currency summed by SQL, so its cost grows with days, not with groups or requests. Costs stay in
micro-units until they are shown: sums are exact, and each currency is kept apart (never
converted).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.i18n import tr
from backend.storage import GroupKey, Tally, UsageStore
from backend.storage.rollups import (
    BUCKET_SECONDS,
    INDEX,
    SCALARS,
    TTFT_BINS,
    bin_value,
    bucket_at,
)
from backend.usage.options import Period
from backend.usage.pricing import CURRENCIES

State = dict[GroupKey, Tally]


@dataclass(frozen=True)
class Directory:
    """Names to label rows with: providers, routes and keys (hint, provider) by id."""

    providers: Mapping[str, str]
    routes: Mapping[str, str]
    keys: Mapping[str, tuple[str | None, str]]

    def label(self, group_by: str, key: str) -> str:
        """The label of a row's key."""
        if group_by == "provider":
            if key in self.providers:
                return self.providers[key]
            if key in self.routes:  # a route request that no member was asked to answer
                return tr("usage.label.routeUnanswered", route=self.routes[key])
            return tr("usage.label.removedProvider")
        if group_by == "route":
            if not key:
                return tr("usage.label.direct")
            return self.routes.get(key) or tr("usage.label.removedRoute")
        if group_by == "key":
            if not key:
                return tr("usage.label.noKey")
            hint = self.keys.get(key, (None, ""))[0]
            if hint:
                return hint
            return tr("usage.label.removedKey" if key not in self.keys else "usage.label.key")
        return key or tr("usage.label.noModel")


def _column_sums(vectors: list[list[int]], width: int) -> list[int]:
    """Element-wise sums of equal-length vectors (zip and sum run in C: rows add up fast)."""
    if not vectors:
        return [0] * width
    return [sum(column) for column in zip(*vectors, strict=True)]


class Change:
    """What one group did in a period: its running totals at the end and at the start, and
    the difference of their scalars."""

    __slots__ = ("after", "before", "delta", "key")

    def __init__(self, key: GroupKey, after: Tally, before: Tally | None) -> None:
        self.key, self.after, self.before = key, after, before
        self.delta = (
            after.scalars
            if before is None
            else [a - b for a, b in zip(after.scalars, before.scalars, strict=True)]
        )

    def get(self, name: str) -> int:
        return self.delta[INDEX[name]]


@dataclass
class Breakdown:
    """Requests and costs (micro-units per currency) of one provider or model in a day."""

    requests: int = 0
    cost: dict[str, int] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"requests": self.requests, "cost": _amounts(self.cost)}


@dataclass
class Row:
    """One row of the summary: its sums, and costs in micro-units per currency (a currency is
    listed when a priced request of the row was in it)."""

    key: str
    label: str
    tally: Tally
    cost: dict[str, int] = field(default_factory=dict)
    estimated_cost: dict[str, int] = field(default_factory=dict)
    by_provider: dict[str, Breakdown] | None = None
    by_model: dict[str, Breakdown] | None = None

    def percentile(self, share: float) -> int | None:
        """The time to first token below which `share` of the timed requests came (nearest
        rank, from the histogram: within 9 %), or None without timed requests."""
        hist = self.tally.hist
        count = sum(hist)
        if count == 0:
            return None
        rank = max(1, math.ceil(share * count))
        seen = 0
        for index, number in enumerate(hist):
            seen += number
            if seen >= rank:
                return round(bin_value(index))
        return None  # unreachable: the counts add up to `count`

    def to_wire(self) -> dict[str, Any]:
        """The contract's row object (plus `cachedInputTokens`)."""
        t = self.tally
        out: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "requests": t["requests"],
            "errors": t["errors"],
            "inputTokens": t["input_tokens"],
            "outputTokens": t["output_tokens"],
            "cachedInputTokens": t["cached_input_tokens"],
            "estimatedTokens": t["estimated_tokens"],
            "cost": _amounts(self.cost),
            "estimatedCost": _amounts(self.estimated_cost),
            "unknownCostRequests": t["unknown_cost_requests"],
            "ttftP50": self.percentile(0.50),
            "ttftP95": self.percentile(0.95),
        }
        if self.by_provider is not None:
            out["byProvider"] = {k: b.to_wire() for k, b in sorted(self.by_provider.items())}
        if self.by_model is not None:
            out["byModel"] = {k: b.to_wire() for k, b in sorted(self.by_model.items())}
        return out


def _amounts(micros: Mapping[str, int]) -> dict[str, float]:
    return {currency: round(micros[currency] / 1_000_000, 6) for currency in sorted(micros)}


def _exact(micros: int) -> str:
    """Micro-units as exact decimal text: 1234567 -> "1.234567"."""
    sign = "-" if micros < 0 else ""
    whole, part = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{part:06d}"


def _add(into: dict[str, int], currency: str, micros: int) -> None:
    into[currency] = into.get(currency, 0) + micros


def row_of(key: str, label: str, changes: list[Change]) -> Row:
    """A row summing some groups' changes."""
    befores = [c.before.hist for c in changes if c.before is not None]
    hist = _column_sums([c.after.hist for c in changes], TTFT_BINS)
    taken = _column_sums(befores, TTFT_BINS)
    tally = Tally(
        _column_sums([c.delta for c in changes], len(SCALARS)),
        [a - b for a, b in zip(hist, taken, strict=True)],
    )
    row = Row(key, label, tally)
    for change in changes:
        currency = change.key.currency
        if currency:
            _add(row.cost, currency, change.get("cost_micros"))
            if change.get("estimated_tokens"):
                _add(row.estimated_cost, currency, change.get("estimated_cost_micros"))
    return row


@dataclass
class Point:
    """What a day-by-day summary reads at one instant: totals of everything, and per
    provider, model and currency."""

    everything: Tally
    parts: dict[tuple[str, str, str], list[int]]

    def add(self, key: GroupKey, tally: Tally) -> None:
        """Count one request recorded before this instant but after the stored totals."""
        self.everything.add(tally)
        figures = [tally[n] for n in _PART_FIGURES]
        part = self.parts.setdefault((key.provider_id, key.model, key.currency), [0, 0, 0, 0])
        for i, value in enumerate(figures):
            part[i] += value


_PART_FIGURES = ("requests", "cost_micros", "estimated_tokens", "estimated_cost_micros")


def day_row(key: str, start: Point, end: Point) -> Row:
    """A day's row: `end` minus `start`, with its breakdowns by provider and by model."""
    row = Row(key, key, end.everything.minus(start.everything), by_provider={}, by_model={})
    assert row.by_provider is not None and row.by_model is not None
    for (provider_id, model, currency), figures in end.parts.items():
        earlier = start.parts.get((provider_id, model, currency), [0, 0, 0, 0])
        requests, cost, estimated_tokens, estimated_cost = (
            a - b for a, b in zip(figures, earlier, strict=True)
        )
        if requests == 0:
            continue
        for name, into in ((provider_id, row.by_provider), (model, row.by_model)):
            breakdown = into.setdefault(name, Breakdown())
            breakdown.requests += requests
            if currency:
                _add(breakdown.cost, currency, cost)
        if currency:
            _add(row.cost, currency, cost)
            if estimated_tokens:
                _add(row.estimated_cost, currency, estimated_cost)
    return row


class Summary:
    """Reads running totals at instants and turns differences into summary rows."""

    def __init__(self, store: UsageStore) -> None:
        self._store = store

    def _unstored(
        self, moment: datetime, provider_id: str | None = None
    ) -> tuple[int, list[tuple[GroupKey, Tally]]]:
        """The quarter-hour of `moment`, and the records of it before `moment` (which its
        stored totals do not hold apart)."""
        bucket = bucket_at(moment)
        start = datetime.fromtimestamp(bucket * BUCKET_SECONDS, UTC)
        if moment <= start:
            return bucket, []
        return bucket, self._store.records_between(_iso(start), _iso(moment), provider_id)

    def state_at(
        self, moment: datetime, provider_id: str | None = None, currency: str | None = None
    ) -> State:
        """Every group's totals of the requests recorded before `moment`; or, given a provider
        and a currency, those of its models in that currency (routes and keys summed)."""
        bucket, extra = self._unstored(moment, provider_id)
        state = self._store.totals_before(bucket, provider_id, currency)
        for key, tally in extra:
            if provider_id is not None:
                if key.currency != currency:
                    continue
                key = key._replace(route_id="", key_id="")
            if key in state:
                state[key].add(tally)  # each read gives fresh tallies
            else:
                state[key] = tally
        return state

    def point_at(self, moment: datetime) -> Point:
        """What a day-by-day summary needs of the requests recorded before `moment`."""
        bucket, extra = self._unstored(moment)
        parts = {
            (provider_id, model, currency): list(figures)
            for provider_id, model, currency, *figures in self._store.parts_before(bucket)
        }
        point = Point(self._store.all_before(bucket), parts)
        for key, tally in extra:
            point.add(key, tally)
        return point

    def build(self, period: Period, directory: Directory) -> tuple[list[Row], Row]:
        """The rows and the totals of a period."""
        if period.group_by == "day":
            points: dict[datetime, Point] = {}

            def at(moment: datetime) -> Point:
                if moment not in points:
                    points[moment] = self.point_at(moment)
                return points[moment]

            rows = [
                day_row(day.isoformat(), at(start), at(end))
                for day, start, end in period.zone.days(period.since, period.until)
            ]
            totals = day_row("", at(period.since), at(period.until))
            totals.by_provider = totals.by_model = None
            return rows, totals
        changes = list(_changes(self.state_at(period.since), self.state_at(period.until)))
        by: dict[str, list[Change]] = {}
        for change in changes:
            by.setdefault(_group_value(change.key, period.group_by), []).append(change)
        rows = [
            row_of(key, directory.label(period.group_by, key), members)
            for key, members in by.items()
        ]
        rows.sort(key=lambda r: (-r.tally["requests"], r.label, r.key))
        return rows, row_of("", "", changes)


def _group_value(key: GroupKey, group_by: str) -> str:
    return {
        "provider": key.provider_id,
        "model": key.model,
        "route": key.route_id,
        "key": key.key_id,
    }[group_by]


def _changes(before: State, after: State) -> Iterable[Change]:
    """Each group's change between two states (groups with no request in between left out)."""
    for key, tally in after.items():
        earlier = before.get(key)
        if earlier is None or tally.scalars != earlier.scalars:
            yield Change(key, tally, earlier)


def _iso(moment: datetime) -> str:
    """An instant as the request log writes times (ISO 8601 UTC, milliseconds, `Z`)."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def period_end(now: datetime) -> datetime:
    """`until` by default: just after the last millisecond recorded so far."""
    return now.replace(microsecond=now.microsecond // 1000 * 1000) + timedelta(milliseconds=1)


CSV_HEADER = (
    "key", "label", "requests", "errors", "inputTokens", "outputTokens", "cachedInputTokens",
    "estimatedTokens", *(f"cost{c}" for c in CURRENCIES),
    *(f"estimatedCost{c}" for c in CURRENCIES), "unknownCostRequests", "ttftP50", "ttftP95",
)  # fmt: skip


def to_csv(rows: Iterable[Row]) -> str:
    """The rows as CSV text with a header row; costs exact, blank where nothing was priced."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        t = row.tally
        cost, estimated = row.cost, row.estimated_cost
        writer.writerow(
            [
                _cell(row.key),
                _cell(row.label),
                t["requests"],
                t["errors"],
                t["input_tokens"],
                t["output_tokens"],
                t["cached_input_tokens"],
                t["estimated_tokens"],
                *(_exact(cost[c]) if c in cost else "" for c in CURRENCIES),
                *(_exact(estimated[c]) if c in estimated else "" for c in CURRENCIES),
                t["unknown_cost_requests"],
                _blank(row.percentile(0.50)),
                _blank(row.percentile(0.95)),
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """Text a spreadsheet will not take for a formula (names come from users and providers)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _blank(value: int | None) -> str | int:
    return "" if value is None else value
