"""The background health schedule on a clock the tests move by hand (no sleeping for minutes)."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.health.monitor import HealthMonitor, HealthSettings
from backend.health.schedule import FIRST_SWEEP_SPREAD, HealthScheduler
from backend.manager import CustomProviderManager
from backend.models import HealthStatus, ProviderConfig
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage
from tests.helpers import provider_config

INTERVAL = 300.0
SPREAD = 30.0  # the jitter: 10% of the interval, at most 30 s
FIRST = 8.0


class FakeClock:
    """A monotonic clock that moves only in `advance`; `wait` blocks until then or a wake."""

    def __init__(self) -> None:
        self._now = 1000.0
        self._cond = threading.Condition()
        self.waits = 0  # how many times the scheduler went to wait
        self.waiting = False

    def monotonic(self) -> float:
        with self._cond:
            return self._now

    def wait(self, wake: threading.Event, deadline: float | None) -> bool:
        with self._cond:
            until = math.inf if deadline is None else deadline
            self.waits += 1
            self.waiting = True
            self._cond.notify_all()
            try:
                while not wake.is_set() and self._now < until:
                    self._cond.wait(0.005)  # `wake.set()` does not notify this condition
            finally:
                self.waiting = False
        return wake.is_set()

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds
            self._cond.notify_all()

    def settle(self, since: int, timeout: float = 5.0) -> None:
        """Wait until the scheduler has gone back to waiting after wait number `since`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self.waits > since and self.waiting):
                left = deadline - time.monotonic()
                assert left > 0, "the scheduler did not come back to wait"
                self._cond.wait(left)

    def step(self, seconds: float) -> None:
        """Advance and wait for the scheduler to act on it and wait again."""
        since = self.waits
        self.advance(seconds)
        self.settle(since)


class NoJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


class Checks:
    """A check function that records calls, can be held, and can raise for some providers."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failing: set[str] = set()
        self.holds: dict[str, threading.Event] = {}
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, config: ProviderConfig, api_key: str | None) -> HealthStatus:
        with self._lock:
            self.calls.append(config.name)
        hold = self.holds.get(config.name)
        if hold is not None:
            self.entered.set()
            hold.wait(30)
        if config.name in self.failing:
            raise RuntimeError("a bug in a check")
        return HealthStatus(config.id, config.name, "healthy", response_time=100)

    def count(self, name: str) -> int:
        with self._lock:
            return self.calls.count(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def checks() -> Checks:
    return Checks()


@pytest.fixture
def manager(storage: Storage, data_dir: Path) -> CustomProviderManager:
    return CustomProviderManager(storage, EncryptedFileSecretStore(data_dir))


@pytest.fixture
def monitor(
    manager: CustomProviderManager, storage: Storage, checks: Checks
) -> Iterator[HealthMonitor]:
    health = HealthMonitor(manager, storage, checks)
    yield health
    health.close()


@pytest.fixture
def scheduler(monitor: HealthMonitor, clock: FakeClock) -> Iterator[HealthScheduler]:
    schedule = HealthScheduler(monitor, clock=clock, rng=random.Random(4), first_delay=FIRST)
    yield schedule
    assert schedule.stop(timeout=2.0)


def add(manager: CustomProviderManager, name: str) -> str:
    provider, _ = manager.add(provider_config(name=name, apiKey=None), validate=False)
    return provider.id


def start(scheduler: HealthScheduler, clock: FakeClock) -> None:
    since = clock.waits
    scheduler.start()
    clock.settle(since)


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def quiet(checks: Checks, expected: int) -> None:
    """Nothing more is checked for a moment (real time): the scheduler stays idle."""
    time.sleep(0.2)
    assert len(checks.calls) == expected, checks.calls


# --- timing --------------------------------------------------------------------------------


def test_the_first_sweep_comes_soon_after_start_not_at_once(
    manager: CustomProviderManager, scheduler: HealthScheduler, clock: FakeClock, checks: Checks
) -> None:
    add(manager, "a")
    add(manager, "b")
    start(scheduler, clock)
    quiet(checks, 0)
    clock.advance(FIRST - 0.5)
    quiet(checks, 0)
    clock.step(0.5 + FIRST_SWEEP_SPREAD)
    assert sorted(checks.calls) == ["a", "b"]


def test_every_provider_is_checked_again_each_interval_with_jitter(
    manager: CustomProviderManager, scheduler: HealthScheduler, clock: FakeClock, checks: Checks
) -> None:
    add(manager, "a")
    start(scheduler, clock)
    clock.step(FIRST + FIRST_SWEEP_SPREAD)
    assert checks.calls == ["a"]
    [due] = scheduler.due_times().values()
    assert INTERVAL - SPREAD <= due - clock.monotonic() <= INTERVAL + SPREAD
    clock.advance(INTERVAL - SPREAD - 1)
    quiet(checks, 1)
    for _ in range(3):
        clock.step(INTERVAL + SPREAD + 1)
    assert checks.calls == ["a"] * 4


def test_jitter_spreads_providers_apart(
    manager: CustomProviderManager, scheduler: HealthScheduler, clock: FakeClock
) -> None:
    for i in range(20):
        add(manager, f"p{i:02d}")
    start(scheduler, clock)
    clock.step(FIRST + FIRST_SWEEP_SPREAD)
    dues = sorted(scheduler.due_times().values())
    assert dues[-1] - dues[0] > 5  # not all at the same moment


def test_a_provider_added_later_is_checked_within_seconds(
    manager: CustomProviderManager, scheduler: HealthScheduler, clock: FakeClock, checks: Checks
) -> None:
    start(scheduler, clock)
    clock.step(FIRST + FIRST_SWEEP_SPREAD + 60)
    since = clock.waits
    add(manager, "new")
    clock.settle(since)  # the save woke the scheduler
    quiet(checks, 0)
    clock.step(3.0)
    assert checks.calls == ["new"]


def test_an_edited_provider_is_checked_again_promptly(
    manager: CustomProviderManager, scheduler: HealthScheduler, clock: FakeClock, checks: Checks
) -> None:
    pid = add(manager, "a")
    start(scheduler, clock)
    clock.step(FIRST + FIRST_SWEEP_SPREAD)
    since = clock.waits
    manager.update(pid, {"model": "another-model"}, validate=False)
    clock.settle(since)
    clock.step(3.0)
    assert checks.calls == ["a", "a"]


def test_an_import_of_many_providers_is_one_sweep(
    manager: CustomProviderManager, scheduler: HealthScheduler, clock: FakeClock, checks: Checks
) -> None:
    start(scheduler, clock)
    clock.step(FIRST + FIRST_SWEEP_SPREAD + 60)
    sweeps = scheduler.sweeps
    for i in range(5):
        add(manager, f"p{i}")
    time.sleep(0.1)
    clock.step(3.0)
    assert len(checks.calls) == 5 and scheduler.sweeps == sweeps + 1


def test_a_removed_provider_is_dropped(
    manager: CustomProviderManager, scheduler: HealthScheduler, clock: FakeClock, checks: Checks
) -> None:
    keep = add(manager, "keep")
    gone = add(manager, "gone")
    start(scheduler, clock)
    since = clock.waits
    manager.remove(gone)
    clock.settle(since)
    assert set(scheduler.due_times()) == {keep}
    clock.step(FIRST + FIRST_SWEEP_SPREAD)
    assert checks.calls == ["keep"]


def test_a_check_made_elsewhere_moves_the_next_turn_back(
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    scheduler: HealthScheduler,
    clock: FakeClock,
    checks: Checks,
) -> None:
    pid = add(manager, "a")
    start(scheduler, clock)
    monitor.check(pid)  # e.g. "Check now" just before the first sweep
    clock.advance(FIRST + FIRST_SWEEP_SPREAD)
    quiet(checks, 1)


def test_check_all_more_often_than_the_interval_leaves_the_schedule_no_turn_until_it_stops(
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    scheduler: HealthScheduler,
    clock: FakeClock,
    checks: Checks,
) -> None:
    # What tests/stress/test_load.py runs into: its "check all" loop beats the schedule to
    # every turn, so the schedule's own checks only start once that loop stops.
    names = ["a", "b", "c"]
    for name in names:
        add(manager, name)
    start(scheduler, clock)
    every = INTERVAL - SPREAD - 70  # "Check all" again before any turn comes
    rounds = 4
    for _ in range(rounds):
        monitor.check_all()
        now = clock.monotonic()
        assert all(due >= now + INTERVAL - SPREAD for due in scheduler.due_times().values())
        # Each step passes the wait the schedule set before this "check all" moved the turns
        # on: it wakes, finds nothing due, and waits again.
        clock.step(every)
    assert scheduler.sweeps == 0
    assert sorted(checks.calls) == sorted(names * rounds)
    # "Check all" stops: one interval (+ jitter) after its last round, all are the schedule's.
    clock.step(INTERVAL + SPREAD - every)
    assert scheduler.sweeps == 1
    assert sorted(checks.calls) == sorted(names * (rounds + 1))


def test_history_older_than_30_days_is_pruned_at_the_first_sweep(
    manager: CustomProviderManager,
    storage: Storage,
    scheduler: HealthScheduler,
    clock: FakeClock,
) -> None:
    pid = add(manager, "a")
    old = HealthStatus(pid, "a", "healthy", last_checked="2020-01-01T00:00:00.000Z")
    storage.add_health_check(old)
    start(scheduler, clock)
    clock.step(FIRST + FIRST_SWEEP_SPREAD)
    history = storage.health_history(pid)
    assert len(history) == 1 and history[0].last_checked != old.last_checked


# --- never overlapping ---------------------------------------------------------------------


def test_a_sweep_still_running_defers_the_next_one(
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    scheduler: HealthScheduler,
    clock: FakeClock,
    checks: Checks,
) -> None:
    add(manager, "slow")
    add(manager, "fast")
    checks.holds["slow"] = release = threading.Event()
    start(scheduler, clock)
    clock.advance(FIRST + FIRST_SWEEP_SPREAD)
    assert checks.entered.wait(5)
    wait_until(lambda: any(s.status == "healthy" for s in monitor.statuses()))  # "fast" is done
    for _ in range(3):  # three intervals pass while the first sweep is stuck
        clock.advance(INTERVAL + SPREAD)
    time.sleep(0.3)
    assert scheduler.sweeps == 1 and checks.count("fast") == 1
    since = clock.waits
    release.set()
    clock.settle(since)
    # The turns missed meanwhile became one more sweep, not three.
    assert scheduler.sweeps == 2
    assert checks.count("fast") == 2 and checks.count("slow") == 1


def test_a_provider_is_never_checked_twice_at_once_by_the_schedule(
    manager: CustomProviderManager, scheduler: HealthScheduler, clock: FakeClock, checks: Checks
) -> None:
    add(manager, "a")
    active, most = 0, 0
    lock = threading.Lock()

    def slow_check(config: ProviderConfig, api_key: str | None) -> HealthStatus:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return checks(config, api_key)

    scheduler._monitor.set_checker(slow_check)
    start(scheduler, clock)
    for _ in range(20):  # turns fall due far faster than checks finish
        clock.advance(INTERVAL)
        time.sleep(0.01)
    clock.step(INTERVAL + SPREAD)
    assert scheduler.sweeps >= 3 and most == 1


# --- failures ------------------------------------------------------------------------------


def test_a_check_that_raises_does_not_stop_the_schedule(
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    scheduler: HealthScheduler,
    clock: FakeClock,
    checks: Checks,
) -> None:
    add(manager, "broken")
    add(manager, "fine")
    checks.failing.add("broken")
    start(scheduler, clock)
    clock.step(FIRST + FIRST_SWEEP_SPREAD)
    statuses = {s.provider_name: s for s in monitor.statuses()}
    assert (statuses["broken"].status, statuses["broken"].error_code) == ("unhealthy", "INTERNAL")
    assert statuses["fine"].status == "healthy"
    clock.step(INTERVAL + SPREAD)
    assert checks.count("broken") == 2 and checks.count("fine") == 2


def test_an_error_outside_the_checks_does_not_stop_the_schedule(
    manager: CustomProviderManager, storage: Storage, clock: FakeClock, checks: Checks
) -> None:
    class Flaky(HealthMonitor):
        failures = 1

        def providers(self) -> list[ProviderConfig]:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("the storage hiccupped")
            return super().providers()

    add(manager, "a")
    flaky = Flaky(manager, storage, checks)
    schedule = HealthScheduler(flaky, clock=clock, rng=random.Random(4), first_delay=0)
    try:
        start(schedule, clock)
        assert checks.calls == []
        clock.step(30.0)  # it waits a little, then carries on
        clock.step(FIRST_SWEEP_SPREAD)  # the first sweep, jittered
        assert checks.calls == ["a"]
    finally:
        assert schedule.stop()


# --- settings ------------------------------------------------------------------------------


def test_a_shorter_interval_takes_effect_at_once(
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    scheduler: HealthScheduler,
    clock: FakeClock,
    checks: Checks,
) -> None:
    add(manager, "a")
    start(scheduler, clock)
    clock.step(FIRST + FIRST_SWEEP_SPREAD)
    since = clock.waits
    monitor.update_settings({"intervalSeconds": 60})
    clock.settle(since)
    clock.step(60.0)
    assert checks.calls == ["a", "a"]
    clock.step(66.0)
    assert checks.calls == ["a", "a", "a"]


def test_a_disabled_schedule_checks_nothing_until_enabled(
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    scheduler: HealthScheduler,
    clock: FakeClock,
    checks: Checks,
) -> None:
    add(manager, "a")
    monitor.update_settings({"enabled": False})
    start(scheduler, clock)
    clock.advance(FIRST + FIRST_SWEEP_SPREAD + 10 * INTERVAL)
    quiet(checks, 0)
    since = clock.waits
    monitor.update_settings({"enabled": True})
    clock.settle(since)
    assert checks.calls == ["a"]


def test_the_interval_is_read_from_the_stored_settings(
    manager: CustomProviderManager, storage: Storage, clock: FakeClock, checks: Checks
) -> None:
    storage.set_setting("health.intervalSeconds", 45)
    monitor = HealthMonitor(manager, storage, checks, settings=HealthSettings())
    assert monitor.settings.interval_seconds == 45


# --- stopping ------------------------------------------------------------------------------


def test_stop_ends_the_thread_within_a_second_even_during_a_sweep(
    manager: CustomProviderManager, monitor: HealthMonitor, checks: Checks
) -> None:
    add(manager, "stuck")
    checks.holds["stuck"] = release = threading.Event()
    schedule = HealthScheduler(monitor, rng=NoJitter(), first_delay=0.0)  # the real clock
    schedule.start()
    try:
        assert checks.entered.wait(10)
        started = time.monotonic()
        assert schedule.stop(timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert not any(t.name == "miaoda-health" and t.is_alive() for t in threading.enumerate())
    finally:
        release.set()


def test_stop_while_idle_is_immediate(scheduler: HealthScheduler, clock: FakeClock) -> None:
    start(scheduler, clock)
    started = time.monotonic()
    assert scheduler.stop(timeout=1.0)
    assert time.monotonic() - started < 0.2


def test_stop_before_start_and_twice_is_harmless(scheduler: HealthScheduler) -> None:
    assert scheduler.stop()
    assert scheduler.stop()
