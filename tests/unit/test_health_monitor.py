"""The health monitor through the real bridge: status rules, cache and cursor, history, settings.

Checks here are plain functions (the monitor runs them on its thread pool); the provider layer's
own checks against a real fake server are in tests/integration/test_health_checks.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backend.bridge import Bridge
from backend.errors import KeyringUnavailable
from backend.health.monitor import HealthMonitor, HealthSettings, grade, needs_chat_check
from backend.manager import CustomProviderManager
from backend.models import HealthStatus, ProviderConfig
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage
from tests.helpers import CANARY_KEY, provider_config

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


class Now:
    """The monitor's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.moment = T0

    def __call__(self) -> str:
        return self.moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Checks:
    """A check function scripted per provider name; it records calls and can be held."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, Any] | BaseException] = {}
        self.calls: list[str] = []
        self.keys: list[str | None] = []
        self.holds: dict[str, threading.Event] = {}
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, config: ProviderConfig, api_key: str | None) -> HealthStatus:
        with self._lock:
            self.calls.append(config.name)
            self.keys.append(api_key)
        hold = self.holds.get(config.name)
        if hold is not None:
            self.entered.set()
            assert hold.wait(10), "the test never released the check"
        outcome = self.outcomes.get(config.name, {})
        if isinstance(outcome, BaseException):
            raise outcome
        fields: dict[str, Any] = {
            "status": "healthy",
            "response_time": 120,
            "http_status": 200,
            "check_kind": "models",
            "model_available": True,
            **outcome,
        }
        return HealthStatus(config.id, config.name, **fields)


class SaveCheck:
    """The connection test of a validated save."""

    def __init__(self) -> None:
        self.response_time = 300

    def __call__(self, config: ProviderConfig, api_key: str | None) -> HealthStatus:
        return HealthStatus(
            config.id,
            config.name,
            status="healthy",
            response_time=self.response_time,
            http_status=200,
            check_kind="chat",
            model_available=True,
        )


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def checks() -> Checks:
    return Checks()


@pytest.fixture
def secret_store(file_secret_store: EncryptedFileSecretStore) -> EncryptedFileSecretStore:
    """The monitor does not depend on the secret backend: only the file store."""
    return file_secret_store


@pytest.fixture
def check() -> SaveCheck:
    """The manager's connection check (of a validated save) is a `SaveCheck` here."""
    return SaveCheck()


@pytest.fixture
def monitor(
    manager: CustomProviderManager, storage: Storage, checks: Checks, now: Now
) -> Iterator[HealthMonitor]:
    """The monitor (and so `bridge`) checks with the scripted `checks`, on the clock `now`."""
    health = HealthMonitor(
        manager, storage, checks, clock=now, settings=HealthSettings(slow_threshold_ms=1000)
    )
    yield health
    health.close()


def add(bridge: Bridge, name: str = "groq", validate: bool = False, **fields: Any) -> str:
    config = provider_config(name=name, displayName=name.title(), **fields)
    result = bridge.addCustomProvider(config, {"validate": validate})
    assert result["success"], result
    return str(result["id"])


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


# --- the status rules ---------------------------------------------------------------------


def raw(**fields: Any) -> HealthStatus:
    return HealthStatus("p", "p", **{"status": "healthy", "check_kind": "models", **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"response_time": 200, "model_available": True}, "healthy"),
        ({"response_time": 3001}, "degraded"),
        ({"response_time": 3000}, "healthy"),
        ({"error_code": "RATE_LIMITED", "http_status": 429}, "degraded"),
        (
            {"error_code": "MODEL_NOT_FOUND", "http_status": 200, "model_available": False},
            "degraded",
        ),
        ({"error_code": "MODEL_NOT_FOUND", "check_kind": "chat", "http_status": 404}, "unhealthy"),
        ({"error_code": "AUTH_FAILED", "http_status": 401}, "unhealthy"),
        ({"error_code": "UPSTREAM_ERROR", "http_status": 500}, "unhealthy"),
        ({"error_code": "UPSTREAM_ERROR", "http_status": 503}, "unhealthy"),
        ({"error_code": "QUOTA_EXCEEDED", "http_status": 429}, "unhealthy"),
        ({"error_code": "CONNECTION_FAILED"}, "unhealthy"),
        ({"error_code": "TIMEOUT"}, "unhealthy"),
    ],
)
def test_status_rules(fields: dict[str, Any], expected: str) -> None:
    assert grade(raw(**fields), 3000).status == expected


def test_a_checker_that_says_unhealthy_without_a_code_is_believed() -> None:
    assert grade(raw(status="unhealthy", response_time=10), 3000).status == "unhealthy"


def test_a_slow_answer_says_how_slow_in_its_error() -> None:
    status = grade(raw(response_time=4200), 3000)
    assert status.error_code is None
    assert status.error is not None and "4.2 s" in status.error and "3.0 s" in status.error


def test_only_a_missing_models_endpoint_falls_back_to_the_chat_check() -> None:
    assert needs_chat_check(raw(error_code="BAD_REQUEST", http_status=404))
    assert needs_chat_check(raw(error_code="BAD_REQUEST", http_status=405))
    assert needs_chat_check(raw(error_code="INVALID_RESPONSE"))
    assert not needs_chat_check(raw(error_code="AUTH_FAILED", http_status=401))
    assert not needs_chat_check(raw(error_code="BAD_REQUEST", http_status=404, check_kind="chat"))


# --- checks and the cache ---------------------------------------------------------------


def test_a_provider_never_checked_is_unknown_and_reading_sends_nothing(
    bridge: Bridge, checks: Checks
) -> None:
    pid = add(bridge)
    [status] = bridge.getAllProviderHealthStatuses()["statuses"]
    assert (status["providerId"], status["status"], status["lastChecked"]) == (pid, "unknown", None)
    assert checks.calls == []


def test_a_check_becomes_the_cached_status_with_every_contract_field(
    bridge: Bridge, checks: Checks, now: Now
) -> None:
    pid = add(bridge)
    checked = bridge.checkCustomProviderHealth(pid)["status"]
    assert checked["status"] == "healthy" and checked["lastChecked"] == now()
    [cached] = bridge.getAllProviderHealthStatuses()["statuses"]
    assert cached == checked
    assert set(cached) >= {
        "providerId",
        "providerName",
        "isHealthy",
        "status",
        "lastChecked",
        "responseTime",
        "error",
        "errorCode",
        "httpStatus",
        "checkKind",
        "modelAvailable",
    }
    assert checks.keys == [CANARY_KEY]


def test_the_status_of_a_slow_provider_is_degraded(bridge: Bridge, checks: Checks) -> None:
    pid = add(bridge)
    checks.outcomes["groq"] = {"response_time": 1500}
    status = bridge.checkCustomProviderHealth(pid)["status"]
    assert (status["status"], status["errorCode"], status["isHealthy"]) == ("degraded", None, False)


def test_a_check_that_crashes_is_unhealthy_and_the_others_still_count(
    bridge: Bridge, checks: Checks
) -> None:
    add(bridge, "good")
    add(bridge, "broken")
    checks.outcomes["broken"] = RuntimeError("boom")
    statuses = {s["providerName"]: s for s in bridge.checkAllCustomProvidersHealth()["statuses"]}
    assert statuses["good"]["status"] == "healthy"
    assert (statuses["broken"]["status"], statuses["broken"]["errorCode"]) == (
        "unhealthy",
        "INTERNAL",
    )
    assert "boom" not in statuses["broken"]["error"]


def test_a_key_that_cannot_be_read_is_an_unhealthy_status_not_a_failure(
    storage: Storage, data_dir: Path, checks: Checks, now: Now
) -> None:
    class LockedStore(EncryptedFileSecretStore):
        def get(self, provider_id: str) -> str | None:
            raise KeyringUnavailable()

    manager = CustomProviderManager(storage, LockedStore(data_dir))
    monitor = HealthMonitor(manager, storage, checks, clock=now)
    provider, _ = manager.add(provider_config(), validate=False)
    status = monitor.check(provider.id)
    assert (status.status, status.error_code) == ("unhealthy", "KEYRING_UNAVAILABLE")
    assert checks.calls == []


def test_check_all_runs_checks_at_the_same_time(bridge: Bridge, checks: Checks) -> None:
    names = [f"p{i:02d}" for i in range(12)]
    for name in names:
        add(bridge, name)
    release = threading.Event()
    for name in names:
        checks.holds[name] = release
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.append(bridge.checkAllCustomProvidersHealth()))
    worker.start()
    # One by one, only the first check would ever be waiting.
    wait_until(lambda: len(checks.calls) >= 8)
    release.set()
    worker.join(5)
    assert [s["providerName"] for s in done[0]["statuses"]] == names  # display order


def test_checking_an_unknown_provider_is_not_found(bridge: Bridge) -> None:
    assert bridge.checkCustomProviderHealth("nope")["error"]["code"] == "NOT_FOUND"


# --- the save's own test counts ------------------------------------------------------------


def test_a_validated_save_records_its_test_as_the_latest_status(
    bridge: Bridge, checks: Checks
) -> None:
    result = bridge.addCustomProvider(provider_config(), {"validate": True})
    assert result["check"]["status"] == "healthy" and result["check"]["checkKind"] == "chat"
    [cached] = bridge.getAllProviderHealthStatuses()["statuses"]
    assert cached["status"] == "healthy" and cached["checkKind"] == "chat"
    history = bridge.getHealthHistory(result["id"])["history"]
    assert history["count"] == 1
    assert checks.calls == []


def test_a_slow_save_test_is_recorded_as_degraded(bridge: Bridge, check: SaveCheck) -> None:
    pid = add(bridge)
    check.response_time = 2500
    result = bridge.updateCustomProvider(pid, {"displayName": "Groq 2"}, {"validate": True})
    assert result["check"]["status"] == "degraded"
    assert bridge.getAllProviderHealthStatuses()["statuses"][0]["status"] == "degraded"


def test_a_save_without_a_test_keeps_no_stale_status(bridge: Bridge) -> None:
    pid = add(bridge)
    bridge.checkCustomProviderHealth(pid)
    bridge.updateCustomProvider(pid, {"model": "other"}, {"validate": False})
    # The old status described the old settings; it stays until the next check replaces it.
    assert bridge.getAllProviderHealthStatuses()["statuses"][0]["status"] == "healthy"


# --- the updates cursor --------------------------------------------------------------------


def test_updates_without_a_cursor_return_every_provider_and_a_cursor(bridge: Bridge) -> None:
    add(bridge, "a")
    add(bridge, "b")
    first = bridge.getHealthUpdates()
    assert first["reset"] is True
    assert [s["status"] for s in first["statuses"]] == ["unknown", "unknown"]
    assert isinstance(first["cursor"], str) and first["inFlight"] == []


def test_updates_since_a_cursor_hold_only_what_changed(bridge: Bridge) -> None:
    a = add(bridge, "a")
    b = add(bridge, "b")
    cursor = bridge.getHealthUpdates()["cursor"]
    assert bridge.getHealthUpdates(cursor)["statuses"] == []
    bridge.checkCustomProviderHealth(a)
    changed = bridge.getHealthUpdates(cursor)
    assert [s["providerId"] for s in changed["statuses"]] == [a]
    bridge.checkCustomProviderHealth(b)
    bridge.checkCustomProviderHealth(a)
    later = bridge.getHealthUpdates(changed["cursor"])
    assert [s["providerId"] for s in later["statuses"]] == [b, a]  # in the order they changed
    assert later["statuses"][0]["seq"] < later["statuses"][1]["seq"]
    assert bridge.getHealthUpdates(later["cursor"])["statuses"] == []


def test_the_snapshot_carries_the_cursor_too(bridge: Bridge) -> None:
    pid = add(bridge)
    snapshot = bridge.getAllProviderHealthStatuses()
    bridge.checkCustomProviderHealth(pid)
    assert len(bridge.getHealthUpdates(snapshot["cursor"])["statuses"]) == 1


def test_a_cursor_from_another_run_of_the_app_starts_over(bridge: Bridge) -> None:
    add(bridge)
    answer = bridge.getHealthUpdates("0000dead.42")
    assert answer["reset"] is True and len(answer["statuses"]) == 1


def test_a_cursor_that_is_not_text_is_refused(bridge: Bridge) -> None:
    assert bridge.getHealthUpdates(42)["error"]["code"] == "INVALID_CONFIG"


def test_updates_name_the_providers_being_checked_right_now(bridge: Bridge, checks: Checks) -> None:
    pid = add(bridge)
    checks.holds["groq"] = release = threading.Event()
    worker = threading.Thread(target=bridge.checkCustomProviderHealth, args=(pid,))
    worker.start()
    assert checks.entered.wait(5)
    assert bridge.getHealthUpdates()["inFlight"] == [pid]
    release.set()
    worker.join(5)
    assert bridge.getHealthUpdates()["inFlight"] == []


def test_removing_a_provider_drops_its_status_and_is_reported(bridge: Bridge) -> None:
    pid = add(bridge)
    bridge.checkCustomProviderHealth(pid)
    cursor = bridge.getHealthUpdates()["cursor"]
    bridge.removeCustomProvider(pid)
    assert bridge.getAllProviderHealthStatuses()["statuses"] == []
    assert bridge.getHealthUpdates(cursor)["removed"] == [pid]


def test_the_result_of_a_check_of_a_removed_provider_is_discarded(
    bridge: Bridge, checks: Checks, monitor: HealthMonitor
) -> None:
    pid = add(bridge)
    checks.holds["groq"] = release = threading.Event()
    worker = threading.Thread(target=bridge.checkCustomProviderHealth, args=(pid,))
    worker.start()
    assert checks.entered.wait(5)
    bridge.removeCustomProvider(pid)
    release.set()
    worker.join(5)
    assert monitor.updates()["statuses"] == []
    assert all(s.provider_id != pid for s in monitor.statuses())


def test_the_result_of_a_check_that_began_before_an_edit_is_discarded(
    bridge: Bridge, checks: Checks
) -> None:
    pid = add(bridge)
    checks.holds["groq"] = release = threading.Event()
    worker = threading.Thread(target=bridge.checkCustomProviderHealth, args=(pid,))
    worker.start()
    assert checks.entered.wait(5)
    bridge.updateCustomProvider(
        pid, {"baseURL": "https://elsewhere.example/v1"}, {"validate": False}
    )
    release.set()
    worker.join(5)
    assert bridge.getAllProviderHealthStatuses()["statuses"][0]["status"] == "unknown"
    assert bridge.getHealthHistory(pid)["history"]["count"] == 0


def test_statuses_survive_a_restart(
    bridge: Bridge, manager: CustomProviderManager, storage: Storage, checks: Checks, now: Now
) -> None:
    pid = add(bridge)
    checks.outcomes["groq"] = {"error_code": "AUTH_FAILED", "http_status": 401}
    bridge.checkCustomProviderHealth(pid)
    again = HealthMonitor(manager, storage, checks, clock=now)
    [status] = again.statuses()
    assert (status.status, status.error_code, status.last_checked) == (
        "unhealthy",
        "AUTH_FAILED",
        now(),
    )


# --- history -------------------------------------------------------------------------------


def check_at(
    bridge: Bridge, checks: Checks, now: Now, pid: str, at: datetime, **outcome: Any
) -> None:
    now.moment = at
    checks.outcomes["groq"] = outcome
    assert bridge.checkCustomProviderHealth(pid)["success"]


def test_history_gives_points_uptime_and_latency_percentiles(
    bridge: Bridge, checks: Checks, now: Now
) -> None:
    pid = add(bridge)
    times = [100, 200, 300, 400, 500, 600, 700, 800]
    for minute, ms in enumerate(times):
        check_at(bridge, checks, now, pid, T0 + timedelta(minutes=minute), response_time=ms)
    check_at(
        bridge,
        checks,
        now,
        pid,
        T0 + timedelta(minutes=9),
        error_code="TIMEOUT",
        response_time=10_000,
    )
    check_at(
        bridge,
        checks,
        now,
        pid,
        T0 + timedelta(minutes=10),
        error_code="RATE_LIMITED",
        response_time=50,
    )
    history = bridge.getHealthHistory(pid)["history"]
    assert history["count"] == 10 and len(history["points"]) == 10
    assert history["uptime"] == 90.0  # degraded counts as up; the timeout does not
    assert history["latency"] == {"p50": 400, "p95": 800, "max": 800}  # failures left out
    assert history["statusCounts"] == {"healthy": 8, "degraded": 1, "unhealthy": 1}
    assert history["points"][0]["lastChecked"] < history["points"][-1]["lastChecked"]


def test_history_defaults_to_the_last_24_hours(bridge: Bridge, checks: Checks, now: Now) -> None:
    pid = add(bridge)
    check_at(bridge, checks, now, pid, T0)
    check_at(bridge, checks, now, pid, T0 + timedelta(hours=30))
    history = bridge.getHealthHistory(pid)["history"]
    assert history["count"] == 1
    assert history["since"] == "2026-11-26T16:00:00.000Z"


def test_history_since_takes_any_iso_time(bridge: Bridge, checks: Checks, now: Now) -> None:
    pid = add(bridge)
    for hour in range(3):
        check_at(bridge, checks, now, pid, T0 + timedelta(hours=hour))
    history = bridge.getHealthHistory(pid, {"since": "2026-11-26T12:00:00+01:00"})["history"]
    assert history["since"] == "2026-11-26T11:00:00.000Z" and history["count"] == 2


def test_history_with_a_since_that_is_not_a_time_is_refused(bridge: Bridge) -> None:
    pid = add(bridge)
    error = bridge.getHealthHistory(pid, {"since": "yesterday"})["error"]
    assert error["code"] == "INVALID_CONFIG" and "since" in error["fields"]


def test_history_of_a_provider_never_checked_is_empty(bridge: Bridge) -> None:
    history = bridge.getHealthHistory(add(bridge))["history"]
    assert (history["count"], history["uptime"], history["latency"]["p50"]) == (0, None, None)


def test_prune_keeps_30_days_of_history(
    bridge: Bridge, checks: Checks, now: Now, monitor: HealthMonitor
) -> None:
    pid = add(bridge)
    check_at(bridge, checks, now, pid, T0)
    check_at(bridge, checks, now, pid, T0 + timedelta(days=20))
    now.moment = T0 + timedelta(days=31)
    assert monitor.prune() == 1
    since = {"since": "2026-01-01T00:00:00Z"}
    assert bridge.getHealthHistory(pid, since)["history"]["count"] == 1


# --- settings ------------------------------------------------------------------------------


def test_health_settings_have_defaults_and_limits(bridge: Bridge) -> None:
    answer = bridge.getHealthSettings()
    assert answer["settings"] == {
        "intervalSeconds": 300,
        "slowThresholdMs": 1000,  # this test's monitor was given 1 s
        "timeoutSeconds": 10,
        "enabled": True,
    }
    assert answer["limits"]["intervalSeconds"] == {"min": 30, "max": 86400}


def test_health_settings_are_saved_and_survive_a_restart(
    bridge: Bridge, manager: CustomProviderManager, storage: Storage, checks: Checks
) -> None:
    answer = bridge.setHealthSettings({"intervalSeconds": 60, "enabled": False})
    assert answer["settings"]["intervalSeconds"] == 60 and answer["settings"]["enabled"] is False
    again = HealthMonitor(manager, storage, checks)
    assert again.settings.interval_seconds == 60 and again.settings.enabled is False
    assert again.settings.slow_threshold_ms == 3000  # never set: the default


@pytest.mark.parametrize(
    "updates",
    [
        {"intervalSeconds": 29},
        {"intervalSeconds": 86_401},
        {"intervalSeconds": "300"},
        {"intervalSeconds": True},
        {"slowThresholdMs": 50},
        {"timeoutSeconds": 0.5},
        {"enabled": "yes"},
        {"colour": "red"},
    ],
)
def test_invalid_health_settings_are_refused_by_field(
    bridge: Bridge, updates: dict[str, Any]
) -> None:
    error = bridge.setHealthSettings(updates)["error"]
    assert error["code"] == "INVALID_CONFIG" and set(error["fields"]) == set(updates)
    assert bridge.getHealthSettings()["settings"]["intervalSeconds"] == 300


def test_health_settings_must_be_an_object(bridge: Bridge) -> None:
    assert bridge.setHealthSettings([1])["error"]["code"] == "INVALID_CONFIG"


def test_the_timeout_setting_reaches_the_check(
    manager: CustomProviderManager, storage: Storage, now: Now
) -> None:
    seen: list[float] = []

    class Probe:
        def start_models_checks(self, deliver: Any, *, timeout: float, **options: Any) -> Any:
            seen.append(timeout)
            return Batch(deliver)

        def fetch_chat_status(self, config: Any, key: Any, *, timeout: float) -> HealthStatus:
            raise AssertionError("no fallback expected")

    class Batch:
        def __init__(self, deliver: Any) -> None:
            self.deliver = deliver

        def submit(self, tag: int, config: ProviderConfig, key: str | None) -> None:
            self.deliver(tag, HealthStatus(config.id, config.name, "healthy", check_kind="models"))

        def cancel(self) -> None:
            pass

    monitor = HealthMonitor(manager, storage, Probe(), clock=now)
    monitor.update_settings({"timeoutSeconds": 4})
    provider, _ = manager.add(provider_config(), validate=False)
    assert monitor.check(provider.id).status == "healthy"
    assert seen == [4]


def test_a_sweep_sends_each_key_only_to_the_base_url_it_was_saved_with(
    manager: CustomProviderManager, storage: Storage, now: Now
) -> None:
    """A sweep's provider list is taken before its checks start; an edit in between must not
    pair the new key with the old base URL, and a provider removed in between is not checked."""
    seen: list[tuple[str, str | None]] = []

    def check(config: ProviderConfig, api_key: str | None) -> HealthStatus:
        seen.append((config.base_url, api_key))
        return HealthStatus(
            config.id, config.name, status="healthy", response_time=5, check_kind="models"
        )

    health = HealthMonitor(manager, storage, check, clock=now)
    try:
        edited, _ = manager.add(
            provider_config(baseURL="https://a.example.com/v1", apiKey="sk-for-a-000001"),
            validate=False,
        )
        gone, _ = manager.add(provider_config(name="gone"), validate=False)
        listed = [manager.get(edited.id), manager.get(gone.id)]  # the sweep's list
        manager.update(
            edited.id,
            {"baseURL": "https://b.example.com/v1", "apiKey": "sk-for-b-000002"},
            validate=False,
        )
        manager.remove(gone.id)
        statuses = health.check_many(listed)
    finally:
        health.close()
    assert seen == [("https://b.example.com/v1", "sk-for-b-000002")]
    assert statuses[1].status == "unknown"
