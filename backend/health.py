"""Provider health: checks, the latest status per provider, history, and the background schedule.

    HealthMonitor    runs checks (one, or many at once), grades them with `grade`, keeps the
                     latest status of each provider in memory under a change counter (`seq`,
                     read through `updates(cursor)`), stores every check in SQLite and answers
                     history queries with uptime and latency percentiles.
    HealthScheduler  the background thread that checks every provider every interval.
    HealthSettings   the interval, slow threshold, timeout and on/off switch (stored settings).

A check costs no tokens: it lists the provider's models with its key. Only a provider without a
models endpoint gets the chat-path test instead, which costs a token or so. The status rules
and the schedule are described in docs/HEALTH.md.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from backend.errors import InvalidConfig, MiaodaError, NotFound
from backend.manager import CustomProviderManager
from backend.models import HealthStatus, ProviderConfig, utc_now
from backend.storage import Storage

log = logging.getLogger("miaoda.health")

HealthCheck = Callable[[ProviderConfig, str | None], HealthStatus]
Deliver = Callable[[int, HealthStatus | None], None]

MAX_PARALLEL_CHECKS = 50  # "Check all": 200 providers at 100 ms each take about 0.4 s
BACKGROUND_PARALLEL_CHECKS = 8  # the schedule is in no hurry
CONNECT_TIMEOUT = 5.0
FIRST_SWEEP_SPREAD = 3.0  # seconds over which the first sweep's checks are jittered
RETENTION_DAYS = 30
HISTORY_WINDOW = timedelta(hours=24)
# Answers on the models endpoint that mean "there is no such endpoint here": use the chat path.
NO_MODELS_ENDPOINT = frozenset({404, 405, 501})
_FALLBACK_THREADS = 4
_SAVE_EVERY = 0.25  # seconds between history writes while checks keep finishing
_CRASHED = "The check failed inside MiaoDa Chat; see the log."


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthSettings:
    """How often and how strictly providers are checked."""

    interval_seconds: float = 300.0
    slow_threshold_ms: int = 3000
    timeout_seconds: float = 10.0
    enabled: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {
            "intervalSeconds": _plain(self.interval_seconds),
            "slowThresholdMs": self.slow_threshold_ms,
            "timeoutSeconds": _plain(self.timeout_seconds),
            "enabled": self.enabled,
        }


# Wire name: (attribute, lowest, highest). Each is stored as its own setting, `health.<name>`.
SETTING_RANGES: dict[str, tuple[str, int, int]] = {
    "intervalSeconds": ("interval_seconds", 30, 86_400),
    "slowThresholdMs": ("slow_threshold_ms", 100, 60_000),
    "timeoutSeconds": ("timeout_seconds", 1, 60),
}


def settings_limits() -> dict[str, dict[str, int]]:
    """The allowed range of each numeric setting, for forms."""
    return {name: {"min": low, "max": high} for name, (_, low, high) in SETTING_RANGES.items()}


def apply_settings(current: HealthSettings, updates: Any) -> HealthSettings:
    """`current` with the wire `updates` applied; InvalidConfig (per field) when one is wrong."""
    if not isinstance(updates, dict):
        raise InvalidConfig(
            "Give the health settings as an object.",
            fields={"settings": ["Must be an object."]},
        )
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    for name, value in updates.items():
        if name == "enabled":
            if isinstance(value, bool):
                changes["enabled"] = value
            else:
                errors[name] = ["Must be true or false."]
        elif name in SETTING_RANGES:
            attribute, low, high = SETTING_RANGES[name]
            problem = _range_problem(value, low, high)
            if problem:
                errors[name] = [problem]
            else:
                changes[attribute] = int(value) if attribute == "slow_threshold_ms" else value
        else:
            errors[str(name)[:64]] = ["Unknown setting."]
    if errors:
        raise InvalidConfig(
            "Some health settings are not valid; nothing was changed.", fields=errors
        )
    return replace(current, **changes)


def _range_problem(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"Must be a number from {low:,} to {high:,}."
    if not low <= value <= high:
        return f"Must be from {low:,} to {high:,}."
    return None


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


# --- the status rules -----------------------------------------------------------------------


def grade(raw: HealthStatus, slow_threshold_ms: int) -> HealthStatus:
    """Apply the status rules to a check's raw result (see docs/HEALTH.md)."""
    code = raw.error_code
    if code is None:
        if raw.status in ("unknown", "unhealthy"):
            return raw  # a checker that could not tell, or said so without a code
        if raw.response_time is not None and raw.response_time > slow_threshold_ms:
            return replace(
                raw,
                status="degraded",
                error=(
                    f"The provider answered in {_seconds(raw.response_time)}, slower than the "
                    f"{_seconds(slow_threshold_ms)} this app calls healthy."
                ),
            )
        return replace(raw, status="healthy", error=None)
    if code == "RATE_LIMITED":
        return replace(raw, status="degraded")
    if code == "MODEL_NOT_FOUND" and raw.check_kind == "models" and raw.model_available is False:
        return replace(raw, status="degraded")  # listed models lack it; chatting may still work
    return replace(raw, status="unhealthy")


def needs_chat_check(raw: HealthStatus) -> bool:
    """True when a models check shows the provider has no usable models endpoint."""
    if raw.check_kind != "models":
        return False
    return raw.http_status in NO_MODELS_ENDPOINT or raw.error_code == "INVALID_RESPONSE"


def _seconds(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


# --- what the monitor needs of the provider layer ---------------------------------------------


class ModelsChecks(Protocol):
    """A running batch of models checks (`ProviderService.start_models_checks`)."""

    def submit(self, tag: int, config: ProviderConfig, api_key: str | None) -> None: ...

    def cancel(self) -> None: ...


@runtime_checkable
class Prober(Protocol):
    """The provider layer's checks; `ProviderService` is one."""

    def start_models_checks(
        self, deliver: Deliver, *, timeout: float, connect_timeout: float, concurrency: int
    ) -> ModelsChecks: ...

    def fetch_chat_status(
        self, config: ProviderConfig, api_key: str | None, *, timeout: float
    ) -> HealthStatus: ...


class FunctionProber:
    """A plain check function (config, key) -> status used as the check, on a thread pool."""

    def __init__(self, check: HealthCheck) -> None:
        self._check = check

    def start_models_checks(
        self, deliver: Deliver, *, timeout: float, connect_timeout: float, concurrency: int
    ) -> ModelsChecks:
        return _ThreadChecks(self.fetch_chat_status, deliver, min(max(1, concurrency), 16))

    def fetch_chat_status(
        self, config: ProviderConfig, api_key: str | None, *, timeout: float = 0.0
    ) -> HealthStatus:
        try:
            return self._check(config, api_key)
        except MiaodaError as err:
            return _failure(config, err)


class _ThreadChecks:
    def __init__(self, check: Callable[..., HealthStatus], deliver: Deliver, workers: int) -> None:
        self._check = check
        self._deliver = deliver
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="miaoda-health-check")

    def submit(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        self._pool.submit(self._run, tag, config, api_key)

    def cancel(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        self._deliver(tag, _guarded(self._check, config, api_key))


def _guarded(
    check: Callable[..., HealthStatus], config: ProviderConfig, key: str | None
) -> HealthStatus:
    try:
        return check(config, key)
    except MiaodaError as err:
        return _failure(config, err)
    except Exception:
        log.exception("health check of %s crashed", config.id)
        return _failure(config, None)


def _failure(config: ProviderConfig, err: MiaodaError | None) -> HealthStatus:
    return HealthStatus(
        provider_id=config.id,
        provider_name=config.name,
        status="unhealthy",
        error=err.message if err else _CRASHED,
        error_code=err.code if err else "INTERNAL",
        http_status=err.upstream_status if err else None,
    )


class _CheckRun:
    """One batch of checks: models checks on the provider loop, chat fallbacks on a few threads.

    Results arrive in one queue; `next` hands them out and sends a provider whose models
    endpoint does not exist to the chat-path check first.
    """

    def __init__(self, prober: Prober, timeout: float, connect: float, concurrency: int) -> None:
        self._prober = prober
        self._timeout = timeout
        self._results: queue.SimpleQueue[tuple[int, HealthStatus | None]] = queue.SimpleQueue()
        self._models = prober.start_models_checks(
            self._deliver, timeout=timeout, connect_timeout=connect, concurrency=concurrency
        )
        self._jobs: dict[int, tuple[ProviderConfig, str | None]] = {}
        self._fallbacks: ThreadPoolExecutor | None = None
        self.pending = 0

    def _deliver(self, tag: int, status: HealthStatus | None) -> None:
        self._results.put((tag, status))  # on the provider loop: must not block

    def submit(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        self.pending += 1
        self._jobs[tag] = (config, api_key)
        self._models.submit(tag, config, api_key)

    def put(self, tag: int, status: HealthStatus) -> None:
        """A result known without asking the provider (e.g. its key could not be read)."""
        self.pending += 1
        self._results.put((tag, status))

    def next(self, timeout: float) -> tuple[int, HealthStatus | None] | None:
        """The next finished check, waiting up to `timeout` s; None if none came."""
        try:
            tag, status = self._results.get(timeout=timeout)
        except queue.Empty:
            return None
        job = self._jobs.pop(tag, None)
        if status is not None and job is not None and needs_chat_check(status):
            if self._fallbacks is None:
                self._fallbacks = ThreadPoolExecutor(
                    _FALLBACK_THREADS, thread_name_prefix="miaoda-health-chat"
                )
            self._fallbacks.submit(self._chat_check, tag, *job)
            return None
        self.pending -= 1
        return tag, status

    def ready(self) -> list[tuple[int, HealthStatus | None]]:
        """Every further result that has already arrived (without waiting)."""
        found = []
        while self.pending:
            item = self.next(0.0) if not self._results.empty() else None
            if item is None:
                break
            found.append(item)
        return found

    def cancel(self) -> None:
        self._models.cancel()
        if self._fallbacks is not None:
            self._fallbacks.shutdown(wait=False, cancel_futures=True)

    def _chat_check(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        def chat(cfg: ProviderConfig, key: str | None) -> HealthStatus:
            return self._prober.fetch_chat_status(cfg, key, timeout=self._timeout)

        self._results.put((tag, _guarded(chat, config, api_key)))


# --- the monitor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    status: HealthStatus
    seq: int


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
    ) -> None:
        self._manager = manager
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
        self._settings = self._stored_settings(settings or HealthSettings())
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
        run = _CheckRun(
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
        self, run: _CheckRun, providers: Sequence[ProviderConfig], stops: list[threading.Event]
    ) -> None:
        # Each check starts as soon as its key is read, so slow key reads (a keyring asked
        # over D-Bus) overlap with the checks already running.
        for tag, provider in enumerate(providers):
            if any(s.is_set() for s in stops):
                return
            try:
                key = self._manager.api_key(provider.id) if provider.has_api_key else None
            except MiaodaError as err:
                run.put(tag, _failure(provider, err))
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
        for tag, raw in finished:
            if raw is None:
                continue  # cancelled
            status = self._stamp(grade(raw, settings.slow_threshold_ms), providers[tag])
            results[tag] = status
            batch.append((status, generations[tag]))
        with self._lock:
            self._in_flight.subtract(s.provider_id for s, _ in batch)
            self._in_flight = +self._in_flight  # drop ids at zero
        return self._cache(batch)

    def record_check(self, status: HealthStatus) -> HealthStatus:
        """Record a check made elsewhere (the test of a validated save) as the latest status."""
        graded = self._stamp(grade(status, self.settings.slow_threshold_ms), None)
        with self._lock:
            generation = self._generation[graded.provider_id]
        self._store(self._cache([(graded, generation)]))
        return graded

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
                if self._generation[status.provider_id] != generation:
                    continue
                self._seq += 1
                self._latest[status.provider_id] = _Entry(status, self._seq)
                kept.append(status)
        for status in kept:
            for observer in self._observers:
                observer.on_checked(status.provider_id)
        return kept

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

    # --- reads --------------------------------------------------------------------------

    def statuses(self) -> list[HealthStatus]:
        """The latest known status of every provider; sends no request."""
        return [entry.status for entry in self._entries(self._manager.list())]

    def to_wire(self, status: HealthStatus) -> dict[str, Any]:
        """A status as the contract shows it, with its `seq` (null when it was not cached)."""
        with self._lock:
            entry = self._latest.get(status.provider_id)
        seq = entry.seq if entry is not None and entry.status is status else None
        return {**status.to_wire(), "seq": seq}

    def snapshot(self) -> dict[str, Any]:
        """Every provider's latest status (wire, with `seq`) and the cursor for `updates`."""
        providers = self._manager.list()
        with self._lock:
            cursor = self._cursor()
        return {"statuses": [_wire(e) for e in self._entries(providers)], "cursor": cursor}

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
            "statuses": [_wire(e) for e in changed],
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

    def update_settings(self, updates: Any) -> HealthSettings:
        """Validate, store and apply changed settings; the schedule follows at once."""
        with self._lock:
            current = self._settings
        new = apply_settings(current, updates)
        wire, old = new.to_wire(), current.to_wire()
        with self._storage.transaction():
            for name, value in wire.items():
                if value != old[name]:
                    self._storage.set_setting(f"health.{name}", value)
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
        """Start from each provider's newest stored check, so a restart does not say unknown."""
        for provider in self._manager.list():
            newest = self._storage.health_history(provider.id, since=None, limit=1)
            if newest:
                self._seq += 1
                self._latest[provider.id] = _Entry(newest[0], self._seq)

    def _entries(self, providers: list[ProviderConfig]) -> list[_Entry]:
        with self._lock:
            latest = dict(self._latest)
        return [
            latest.get(p.id) or _Entry(HealthStatus(provider_id=p.id, provider_name=p.name), 0)
            for p in providers
        ]

    def _latest_of(self, provider: ProviderConfig) -> HealthStatus:
        with self._lock:
            entry = self._latest.get(provider.id)
        return entry.status if entry else HealthStatus(provider.id, provider.name)

    def _in_flight_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._in_flight)

    def _cursor(self) -> str:
        return f"{self._epoch}.{self._seq}"

    def _parse_cursor(self, cursor: Any) -> int | None:
        if cursor is None:
            return None
        if not isinstance(cursor, str) or len(cursor) > 64:
            raise InvalidConfig(
                "Give the cursor from an earlier answer, or none.",
                fields={"cursor": ["Must be a cursor string."]},
            )
        epoch, _, seq = cursor.partition(".")
        if epoch != self._epoch or not seq.isdigit():
            return None
        return int(seq)

    def _on_provider_changed(self, provider_id: str, removed: bool) -> None:
        with self._lock:
            # A check that started before this change describes the old provider: drop it.
            self._generation[provider_id] += 1
            if removed:
                self._latest.pop(provider_id, None)
                self._seq += 1
                self._removed[provider_id] = self._seq
        for observer in self._observers:
            observer.on_provider_changed(provider_id, removed)


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
            "Give the start of the history window as an ISO 8601 time, e.g. 2026-11-26T10:00:00Z.",
            fields={"since": ["Must be an ISO 8601 date and time."]},
        ) from None


# --- the background schedule ----------------------------------------------------------------


class Clock(Protocol):
    """Monotonic time and a way to wait on it; tests pass a clock they move by hand."""

    def monotonic(self) -> float: ...

    def wait(self, wake: threading.Event, deadline: float | None) -> bool:
        """Return once `monotonic()` reaches `deadline` (None: never) or `wake` is set.

        True when woken.
        """
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, wake: threading.Event, deadline: float | None) -> bool:
        if deadline is None:
            return wake.wait()
        return wake.wait(max(0.0, deadline - time.monotonic()))


class HealthScheduler:
    """Checks every provider every interval on its own thread, one sweep at a time.

    Each provider has its own due time: the first sweep comes `first_delay` seconds after
    `start()`, then each provider is due one interval (± jitter) after its last check, however
    that check came about (schedule, "Check now", a validated save). A provider saved without
    a check is due `prompt_delay` seconds later (so an import of many becomes one sweep), a
    removed one is dropped. When providers are due the thread checks them all in one sweep and
    waits for it to end, so sweeps never overlap: what falls due meanwhile waits for the next.
    """

    def __init__(
        self,
        monitor: HealthMonitor,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        first_delay: float = 8.0,
        prompt_delay: float = 3.0,
        concurrency: int = BACKGROUND_PARALLEL_CHECKS,
    ) -> None:
        self._monitor = monitor
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._first_delay = first_delay
        self._prompt_delay = prompt_delay
        self._concurrency = concurrency
        self._lock = threading.Lock()
        self._due: dict[str, float] = {}
        self._started_at: float | None = None
        self._synced = False  # the provider list was read once since start
        self._next_prune = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.sweeps = 0  # how many sweeps ran (for tests and the log)
        monitor.subscribe(self)

    def start(self) -> None:
        """Start the background thread (once)."""
        if self._thread is not None:
            return
        self._started_at = self._clock.monotonic()
        self._next_prune = self._started_at + self._first_delay
        self._thread = threading.Thread(target=self._run, name="miaoda-health", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop the thread, abandoning a running sweep; True when it ended within `timeout`."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def due_times(self) -> dict[str, float]:
        """When each provider is next due, on the scheduler's clock."""
        with self._lock:
            return dict(self._due)

    # --- observer -------------------------------------------------------------------------

    def on_checked(self, provider_id: str) -> None:
        interval = self._monitor.settings.interval_seconds
        with self._lock:
            self._due[provider_id] = self._clock.monotonic() + self._jittered(interval)

    def on_provider_changed(self, provider_id: str, removed: bool) -> None:
        with self._lock:
            if removed:
                self._due.pop(provider_id, None)
            elif self._started_at is not None:  # before start, the first sweep covers it
                self._due[provider_id] = self._clock.monotonic() + self._prompt_delay
        self._wake.set()

    def on_settings_changed(self, settings: HealthSettings) -> None:
        latest = self._clock.monotonic() + settings.interval_seconds
        with self._lock:
            for provider_id, due in self._due.items():
                if due > latest:
                    self._due[provider_id] = latest - self._rng.uniform(
                        0, self._spread(settings.interval_seconds)
                    )
        self._wake.set()

    # --- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        log.info("health schedule started")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                deadline = self._tick()
            except Exception:
                log.exception("the health schedule hit an error; it carries on")
                deadline = self._clock.monotonic() + 30.0
            if self._stop.is_set():
                break
            self._clock.wait(self._wake, deadline)
        log.info("health schedule stopped")

    def _tick(self) -> float | None:
        """Run a sweep if anything is due; when to look again (None: when woken)."""
        settings = self._monitor.settings
        providers = self._monitor.providers()
        now = self._clock.monotonic()
        if now >= self._next_prune:  # daily, the first time right after the first sweep
            self._next_prune = now + 86_400
            self._monitor.prune()
        with self._lock:
            self._sync(providers, now)
            if not settings.enabled:
                return None
            due = [p for p in providers if self._due[p.id] <= now]
            for provider in due:
                # Provisional: the recorded check sets the real next time. This keeps a check
                # that gets discarded (its provider changed meanwhile) from looping at once.
                self._due[provider.id] = now + self._jittered(settings.interval_seconds)
        if due:
            self._sweep(due)
            return now  # look again at once: more may have fallen due during the sweep
        with self._lock:
            return min([*self._due.values(), self._next_prune])

    def _sync(self, providers: list[ProviderConfig], now: float) -> None:
        """Follow the provider list: new ones get a due time, gone ones are dropped."""
        ids = {p.id for p in providers}
        for gone in self._due.keys() - ids:
            del self._due[gone]
        first_pass, self._synced = not self._synced, True
        start = self._started_at if self._started_at is not None else now
        first = max(now, start + self._first_delay)
        for provider in providers:
            if provider.id in self._due:
                continue
            if first_pass:
                self._due[provider.id] = first + self._rng.uniform(0, FIRST_SWEEP_SPREAD)
            else:  # saved without this scheduler hearing of it (e.g. by another app instance)
                self._due[provider.id] = now + self._prompt_delay

    def _sweep(self, providers: list[ProviderConfig]) -> None:
        self.sweeps += 1
        started = time.perf_counter()
        statuses = self._monitor.check_many(
            providers, concurrency=self._concurrency, stop=self._stop
        )
        log.info(
            "health sweep %d: %d provider(s) in %.2f s (%s)",
            self.sweeps,
            len(providers),
            time.perf_counter() - started,
            ", ".join(f"{n} {s}" for s, n in Counter(s.status for s in statuses).most_common()),
        )

    def _jittered(self, interval: float) -> float:
        return interval + self._rng.uniform(-1.0, 1.0) * self._spread(interval)

    @staticmethod
    def _spread(interval: float) -> float:
        """How far a provider's turn may move from the interval: 10%, at most 30 s."""
        return min(0.1 * interval, 30.0)
