"""The background health schedule: every provider checked every interval, on its own thread.

    HealthScheduler  the thread `miaoda-health`: keeps a due time per provider, asks the
                     monitor to check whatever is due in one sweep, prunes the history daily.
    Clock            monotonic time and a way to wait on it; `SystemClock` is the real one.

The scheduler hears of checks, provider changes and settings as the monitor's observer
(`HealthMonitor.subscribe`). The schedule is described in docs/HEALTH.md.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from typing import Protocol

from backend.health.monitor import HealthMonitor
from backend.health.rules import HealthSettings
from backend.models import ProviderConfig

log = logging.getLogger("miaoda.health")

BACKGROUND_PARALLEL_CHECKS = 8  # the schedule is in no hurry
FIRST_SWEEP_SPREAD = 3.0  # seconds over which the first sweep's checks are jittered


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
