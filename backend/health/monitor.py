"""Provider health: the monitor that runs checks, keeps the latest status per provider and history.

    HealthMonitor    runs checks (one, or many at once), grades them with `grade`, hears how
                     real chat requests ended (`chat_outcome`), keeps the latest status of each
                     provider in memory (the check `combine`d with its recent chats) under a
                     change counter (`seq`, read through `updates(cursor)`), stores every
                     check in SQLite and answers history queries with uptime and latency
                     percentiles.
    HealthObserver   what the monitor tells its observers (the scheduler is one).

The rest of the health feature lives beside it (imports go schedule → monitor → checks and
chats → rules):

    rules.py         HealthSettings (the interval, slow threshold, timeout and on/off switch)
                     and the status rules (`grade`, `needs_chat_check`, `after_chat`,
                     `combine`): the one place a provider's health state is decided.
    chats.py         ChatRecords, what each provider's real chats saw lately, kept in memory
                     and in the data file.
    checks.py        what the monitor needs of the provider layer (`Prober`) and one batch of
                     checks run through it.
    schedule.py      HealthScheduler, the background thread that checks every provider every
                     interval (it observes the monitor).

The status rules and the schedule are described in docs/HEALTH.md.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from backend.errors import InvalidConfig, MiaodaError, NotFound
from backend.health.chats import ChatRecords
from backend.health.checks import CheckRun, FunctionProber, HealthCheck, Prober, failure_status
from backend.health.rules import (
    HealthSettings,
    apply_settings,
    combine,
    counts,
    grade,
    needs_chat_check,
    settings_limits,
)
from backend.i18n import tr
from backend.manager import CustomProviderManager
from backend.models import NO_CHATS, HealthStatus, ProviderConfig, utc_now
from backend.providers.circuit import CircuitBreakers
from backend.storage import Storage

__all__ = [
    "CONNECT_TIMEOUT",
    "HISTORY_WINDOW",
    "MAX_PARALLEL_CHECKS",
    "RETENTION_DAYS",
    "HealthCheck",
    "HealthMonitor",
    "HealthObserver",
    "HealthSettings",
    "Prober",
    "grade",
    "needs_chat_check",
    "settings_limits",
]

log = logging.getLogger("miaoda.health")

MAX_PARALLEL_CHECKS = 50  # "Check all": 200 providers at 100 ms each take about 0.4 s
CONNECT_TIMEOUT = 5.0
RETENTION_DAYS = 30
HISTORY_WINDOW = timedelta(hours=24)
_SAVE_EVERY = 0.25  # seconds between history writes while checks keep finishing

# --- the monitor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A provider's status as shown (its check combined with its recent chats), the check
    itself (None: never checked) and the `seq` of its last change."""

    status: HealthStatus
    seq: int
    check: HealthStatus | None = None


class HealthObserver(Protocol):
    """Told about recorded checks, provider changes and settings (the scheduler listens)."""

    def on_checked(self, provider_id: str) -> None: ...

    def on_provider_changed(self, provider_id: str, removed: bool) -> None: ...

    def on_settings_changed(self, settings: HealthSettings) -> None: ...


class HealthMonitor:
    """Runs checks, keeps the latest status per provider and records history."""

    def __init__(
        self,
        manager: CustomProviderManager,
        storage: Storage,
        checker: Prober | HealthCheck,
        *,
        clock: Callable[[], str] = utc_now,
        settings: HealthSettings | None = None,
        max_parallel: int = MAX_PARALLEL_CHECKS,
        connect_timeout: float = CONNECT_TIMEOUT,
        circuits: CircuitBreakers | None = None,
        defer: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._manager = manager
        # Where the saves of real chats' records run (see `chat_outcome`): here, or handed to
        # `defer` (the app's background writer).
        self._defer = defer
        # Each provider's circuit breaker: told every graded check, shown on every status.
        self._circuits = circuits
        self._storage = storage
        self._prober: Prober = checker if isinstance(checker, Prober) else FunctionProber(checker)
        self._clock = clock
        self._max_parallel = max_parallel
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._latest: dict[str, _Entry] = {}
        self._removed: dict[str, int] = {}  # provider id: seq of its removal
        self._generation: Counter[str] = Counter()  # bumped by every save or removal
        self._in_flight: Counter[str] = Counter()
        self._seq = 0
        self._epoch = secrets.token_hex(4)  # a cursor from another run of the app starts over
        self._observers: list[HealthObserver] = []
        self._closing = threading.Event()
        self._settings_lock = threading.Lock()  # one settings change at a time, start to end
        self._settings = self._stored_settings(settings or HealthSettings())
        # What each provider's real chats saw. Lock order: `_lock`, then the records' own.
        self._chats = ChatRecords(storage, manager.get)
        manager.add_listener(self._on_provider_changed)
        self._seed()

    # --- wiring -------------------------------------------------------------------------

    def set_checker(self, checker: Prober | HealthCheck) -> None:
        """Use `checker` for every later check."""
        self._prober = checker if isinstance(checker, Prober) else FunctionProber(checker)

    def subscribe(self, observer: HealthObserver) -> None:
        """Tell `observer` about checks, provider changes and settings from now on."""
        self._observers.append(observer)

    def close(self) -> None:
        """Abandon running checks (their results are dropped); later checks return at once."""
        self._closing.set()

    def providers(self) -> list[ProviderConfig]:
        """Every saved provider, in display order."""
        return self._manager.list()

    # --- checks -------------------------------------------------------------------------

    def check(self, provider_id: Any) -> HealthStatus:
        """Check one provider now and return its status."""
        return self.check_many([self._manager.get(provider_id)])[0]

    def check_all(self) -> list[HealthStatus]:
        """Check every provider concurrently (bounded), in display order."""
        return self.check_many(self._manager.list())

    def check_many(
        self,
        providers: Sequence[ProviderConfig],
        *,
        concurrency: int | None = None,
        stop: threading.Event | None = None,
    ) -> list[HealthStatus]:
        """Check these providers together, at most `concurrency` at once; statuses in order.

        Setting `stop` (or closing the monitor) abandons the checks still running; those
        providers come back as they were.
        """
        if not providers or self._closing.is_set():
            return [self._latest_of(p) for p in providers]
        settings = self.settings
        stops = [self._closing] if stop is None else [self._closing, stop]
        ids = [p.id for p in providers]
        with self._lock:
            generations = [self._generation[i] for i in ids]
            self._in_flight.update(ids)
        results: list[HealthStatus | None] = [None] * len(providers)
        run = CheckRun(
            self._prober,
            settings.timeout_seconds,
            self._connect_timeout,
            concurrency or self._max_parallel,
        )
        unsaved: list[HealthStatus] = []
        saved_at = time.monotonic()
        try:
            self._submit_all(run, providers, stops)
            # A check ends within its timeout once started (the chat fallback too), so a long
            # silence means a bug somewhere: give up rather than wait forever.
            stall = 2 * settings.timeout_seconds + 10.0
            quiet_since = time.monotonic()
            while run.pending and not any(s.is_set() for s in stops):
                first = run.next(0.25)
                now = time.monotonic()
                if first is not None:
                    quiet_since = now
                    finished = [first, *run.ready()]
                    unsaved += self._accept(finished, providers, generations, results, settings)
                elif now - quiet_since > stall:
                    log.error("health checks stalled; %d abandoned", run.pending)
                    break
                # History is written in groups: each transaction waits for a disk sync, and
                # one per check would cost more than the checks themselves.
                if unsaved and now - saved_at >= _SAVE_EVERY:
                    self._store(unsaved)
                    unsaved, saved_at = [], now
        finally:
            run.cancel()
            with self._lock:
                self._in_flight.subtract(
                    p.id for p, r in zip(providers, results, strict=True) if r is None
                )
                self._in_flight = +self._in_flight  # drop ids at zero
            self._store(unsaved)
        return [
            r if r is not None else self._latest_of(p)
            for p, r in zip(providers, results, strict=True)
        ]

    def _submit_all(
        self, run: CheckRun, providers: Sequence[ProviderConfig], stops: list[threading.Event]
    ) -> None:
        # Each check starts as soon as its key is read, so slow key reads (a keyring asked
        # over D-Bus) overlap with the checks already running.
        # The provider is read again with its key, as one pair: an edit since the sweep's list
        # was taken must not send the new key to the old base URL (the result of such a check
        # is dropped anyway, its generation being stale).
        for tag, listed in enumerate(providers):
            if any(s.is_set() for s in stops):
                return
            try:
                # A usable key, else an invalid one: a passing check re-enables it.
                provider, key = self._manager.with_key(listed.id, check=True)
            except NotFound:
                continue  # removed meanwhile: nothing to check
            except MiaodaError as err:
                run.put(tag, failure_status(listed, err))
                continue
            run.submit(tag, provider, key)

    def _accept(
        self,
        finished: Iterable[tuple[int, HealthStatus | None]],
        providers: Sequence[ProviderConfig],
        generations: list[int],
        results: list[HealthStatus | None],
        settings: HealthSettings,
    ) -> list[HealthStatus]:
        """Grade finished checks into `results` and the cache; those to store."""
        batch: list[tuple[HealthStatus, int]] = []
        tags: list[int] = []
        for tag, raw in finished:
            if raw is None:
                continue  # cancelled
            status = self._stamp(grade(raw, settings.slow_threshold_ms), providers[tag])
            results[tag] = status
            batch.append((status, generations[tag]))
            tags.append(tag)
        with self._lock:
            self._in_flight.subtract(s.provider_id for s, _ in batch)
            self._in_flight = +self._in_flight  # drop ids at zero
        kept = self._cache(batch)
        for tag, (status, _) in zip(tags, batch, strict=True):
            results[tag] = self._shown(status)
        return kept

    def record_check(self, status: HealthStatus) -> HealthStatus:
        """Record a check made elsewhere (the test of a validated save) as the latest status."""
        graded = self._stamp(grade(status, self.settings.slow_threshold_ms), None)
        with self._lock:
            generation = self._generation[graded.provider_id]
        self._store(self._cache([(graded, generation)]))
        return self._shown(graded)

    def _stamp(self, status: HealthStatus, provider: ProviderConfig | None) -> HealthStatus:
        return replace(
            status,
            provider_id=provider.id if provider else status.provider_id,
            provider_name=provider.name if provider else status.provider_name,
            last_checked=status.last_checked or self._clock(),
        )

    def _cache(self, batch: list[tuple[HealthStatus, int]]) -> list[HealthStatus]:
        """Make checks the latest statuses, except those whose provider changed or went since
        they started (by the generation they started at); the ones kept."""
        kept = []
        with self._lock:
            for status, generation in batch:
                pid = status.provider_id
                if self._generation[pid] != generation:
                    continue
                self._seq += 1
                shown = combine(status, self._chats.get(pid))
                self._latest[pid] = _Entry(shown, self._seq, status)
                kept.append(status)
        for status in kept:
            if self._circuits is not None:
                self._circuits.health_checked(
                    status.provider_id, status.status, status.error_code, status.error
                )
            for observer in self._observers:
                observer.on_checked(status.provider_id)
        return kept

    def _shown(self, check: HealthStatus) -> HealthStatus:
        """What a graded check shows as: the cached status when it is the latest check (so
        `to_wire` finds its `seq`), else the check combined with the provider's chats now."""
        with self._lock:
            entry = self._latest.get(check.provider_id)
            if entry is not None and entry.check is check:
                return entry.status
        return combine(check, self._chats.get(check.provider_id))

    def _store(self, statuses: list[HealthStatus]) -> None:
        """Append checks to the history in one transaction (one disk sync)."""
        if not statuses:
            return
        try:
            with self._storage.transaction():
                for status in statuses:
                    with contextlib.suppress(NotFound):  # removed after its check
                        self._storage.add_health_check(status)
        except MiaodaError as err:
            # The latest status still counts; only its history point is lost.
            log.warning("could not store health checks: %s", err.message)

    # --- real chats ---------------------------------------------------------------------

    def chat_outcome(self, provider_id: str, error: MiaodaError | None) -> None:
        """Hear how a real chat request to a provider ended before or at its first token:
        answered (`error` None) or failed with `error` (only provider-side errors count).

        Thread-safe and quick when nothing changes: a disk write happens only when the count
        of failures in a row changes (see docs/HEALTH.md, "Real chats").
        """
        if not counts(error):
            return
        counted = self._chats.record(provider_id, error, self._clock())
        if counted is None:
            return  # not a saved provider (any more)
        provider, save = counted
        with self._lock:
            self._show_chats(provider)
        if not save:
            return
        if self._defer is None:
            self._chats.save(provider_id)
        else:
            self._defer(lambda: self._chats.save(provider_id))

    def _show_chats(self, provider: ProviderConfig) -> None:
        """Combine the cached check with the provider's chats as they are now; a changed
        status moves `seq`. Hold `_lock`."""
        if provider.id in self._removed:
            return  # removed while its chat was being counted
        entry = self._latest.get(provider.id)
        check = entry.check if entry is not None else None
        shown = combine(
            check or HealthStatus(provider.id, provider.name), self._chats.get(provider.id)
        )
        if entry is None or shown != entry.status:
            self._seq += 1
            self._latest[provider.id] = _Entry(shown, self._seq, check)

    # --- reads --------------------------------------------------------------------------

    def statuses(self) -> list[HealthStatus]:
        """The latest known status of every provider; sends no request."""
        return [entry.status for entry in self._entries(self._manager.list())]

    def to_wire(self, status: HealthStatus) -> dict[str, Any]:
        """A status as the contract shows it, with its `seq` (null when it was not cached)."""
        with self._lock:
            entry = self._latest.get(status.provider_id)
        seq = entry.seq if entry is not None and entry.status is status else None
        return self._with_circuit({**status.to_wire(), "seq": seq})

    def snapshot(self) -> dict[str, Any]:
        """Every provider's latest status (wire, with `seq`) and the cursor for `updates`."""
        providers = self._manager.list()
        with self._lock:
            cursor = self._cursor()
        statuses = [self._with_circuit(_wire(e)) for e in self._entries(providers)]
        return {"statuses": statuses, "cursor": cursor}

    def updates(self, cursor: Any = None) -> dict[str, Any]:
        """What changed since `cursor`: statuses, removed ids, and the ids being checked now.

        Answers at once from memory. Without a cursor, or with one from an earlier run of the
        app, every provider's status comes back and `reset` is true.
        """
        since = self._parse_cursor(cursor)
        if since is None:
            return {
                **self.snapshot(),
                "removed": [],
                "inFlight": self._in_flight_ids(),
                "reset": True,
            }
        with self._lock:
            changed = sorted(
                (e for e in self._latest.values() if e.seq > since), key=lambda e: e.seq
            )
            removed = sorted(i for i, seq in self._removed.items() if seq > since)
            in_flight = sorted(self._in_flight)
            cursor = self._cursor()
        return {
            "cursor": cursor,
            "statuses": [self._with_circuit(_wire(e)) for e in changed],
            "removed": removed,
            "inFlight": in_flight,
            "reset": False,
        }

    def history(self, provider_id: Any, *, since: str | None, limit: int) -> dict[str, Any]:
        """Stored checks of a provider since a time (default: 24 hours) with uptime and latency."""
        provider = self._manager.get(provider_id)
        now = _parse_time(self._clock())
        start = _format_time(now - HISTORY_WINDOW) if since is None else _since(since)
        points = self._storage.health_history(provider.id, since=start, limit=limit)
        counts = Counter(p.status for p in points)
        times = sorted(
            p.response_time
            for p in points
            if p.response_time is not None and p.status != "unhealthy"
        )
        up = counts["healthy"] + counts["degraded"]
        return {
            "providerId": provider.id,
            "since": start,
            "until": _format_time(now),
            "points": [p.to_wire() for p in points],
            "uptime": round(100.0 * up / len(points), 2) if points else None,
            "latency": {
                "p50": _percentile(times, 50),
                "p95": _percentile(times, 95),
                "max": times[-1] if times else None,
            },
            "count": len(points),
            "statusCounts": {s: counts[s] for s in ("healthy", "degraded", "unhealthy")},
            "retentionDays": RETENTION_DAYS,
        }

    def prune(self) -> int:
        """Delete history older than the retention period; how many checks went."""
        cutoff = _parse_time(self._clock()) - timedelta(days=RETENTION_DAYS)
        removed = self._storage.prune_health(_format_time(cutoff))
        if removed:
            log.info("pruned %d health checks older than %d days", removed, RETENTION_DAYS)
        return removed

    # --- settings -----------------------------------------------------------------------

    @property
    def settings(self) -> HealthSettings:
        with self._lock:
            return self._settings

    def update_settings(
        self, updates: Any, *, also: Callable[[], None] | None = None
    ) -> HealthSettings:
        """Validate, store and apply changed settings; the schedule follows at once.

        `also` runs inside the same transaction (the other settings of an `updateSettings`):
        everything is saved, or nothing and the settings stay as they were."""
        with self._settings_lock:
            with self._lock:
                current = self._settings
            new = apply_settings(current, updates)
            wire, old = new.to_wire(), current.to_wire()
            with self._storage.transaction():
                for name, value in wire.items():
                    if value != old[name]:
                        self._storage.set_setting(f"health.{name}", value)
                if also is not None:
                    also()
            with self._lock:
                self._settings = new
        for observer in self._observers:
            observer.on_settings_changed(new)
        return new

    def _stored_settings(self, defaults: HealthSettings) -> HealthSettings:
        settings = defaults
        for name in defaults.to_wire():
            value = self._storage.get_setting(f"health.{name}")
            if value is None:
                continue
            try:
                settings = apply_settings(settings, {name: value})
            except InvalidConfig:
                log.warning("ignoring the stored health setting %s: out of range", name)
        return settings

    # --- internals ----------------------------------------------------------------------

    def _seed(self) -> None:
        """Start from each provider's newest stored check and its stored chat record, so a
        restart says neither unknown nor healthy where the last chats failed."""
        providers = self._manager.list()
        stored_chats = self._chats.load(providers)
        for provider in providers:
            newest = self._storage.health_history(provider.id, since=None, limit=1)
            check = newest[0] if newest else None
            chats = stored_chats.get(provider.id)
            if check is not None or chats is not None:
                self._seq += 1
                blank = HealthStatus(provider.id, provider.name)
                shown = combine(check or blank, chats or NO_CHATS)
                self._latest[provider.id] = _Entry(shown, self._seq, check)

    def _entries(self, providers: list[ProviderConfig]) -> list[_Entry]:
        with self._lock:
            latest = dict(self._latest)
        return [latest.get(p.id) or _Entry(_never_checked(p), 0) for p in providers]

    def _latest_of(self, provider: ProviderConfig) -> HealthStatus:
        with self._lock:
            entry = self._latest.get(provider.id)
        return entry.status if entry else _never_checked(provider)

    def _in_flight_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._in_flight)

    def _with_circuit(self, wire: dict[str, Any]) -> dict[str, Any]:
        """A wire status with its provider's `circuit` (a circuit's changes move no `seq`)."""
        if self._circuits is not None:
            wire["circuit"] = self._circuits.to_wire(wire["providerId"])
        return wire

    def _cursor(self) -> str:
        return f"{self._epoch}.{self._seq}"

    def _parse_cursor(self, cursor: Any) -> int | None:
        if cursor is None:
            return None
        if not isinstance(cursor, str) or len(cursor) > 64:
            raise InvalidConfig(
                tr("healthChecks.badCursor"), fields={"cursor": [tr("healthChecks.badCursorField")]}
            )
        epoch, _, seq = cursor.partition(".")
        if epoch != self._epoch or not seq.isdigit():
            return None
        return int(seq)

    def _on_provider_changed(self, provider_id: str, removed: bool) -> None:
        saved: ProviderConfig | None = None
        if not removed:
            with contextlib.suppress(MiaodaError):  # removed meanwhile: its removal follows
                saved = self._manager.get(provider_id)
        forgotten = False
        if removed or saved is not None:
            forgotten = self._chats.provider_changed(provider_id, saved)
        with self._lock:
            # A check that started before this change describes the old provider: drop it.
            self._generation[provider_id] += 1
            if removed:
                self._latest.pop(provider_id, None)
                self._seq += 1
                self._removed[provider_id] = self._seq
            elif forgotten and saved is not None:
                self._show_chats(saved)
        if forgotten:
            self._chats.save(provider_id)
        for observer in self._observers:
            observer.on_provider_changed(provider_id, removed)


def _never_checked(provider: ProviderConfig) -> HealthStatus:
    return combine(HealthStatus(provider.id, provider.name), NO_CHATS)


def _wire(entry: _Entry) -> dict[str, Any]:
    return {**entry.status.to_wire(), "seq": entry.seq}


def _percentile(sorted_values: list[int], pct: int) -> int | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = math.ceil(pct / 100 * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _format_time(moment: datetime) -> str:
    """The stored form: ISO 8601 UTC to the millisecond with a `Z` (compares as text)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _since(text: str) -> str:
    try:
        return _format_time(_parse_time(text))
    except ValueError:
        raise InvalidConfig(
            tr("healthChecks.badSince"), fields={"since": [tr("healthChecks.badSinceField")]}
        ) from None
