"""Honest health: real chat outcomes in a provider's status (docs/HEALTH.md, "Real chats").

The rules (`after_chat`, `combine`) as pure functions, then the monitor through the real bridge
and real storage: 3 provider-side failures in a row make a provider unhealthy whatever its check
said, an answer brings the check's verdict back, other errors do not count, the record survives
a restart and goes with an edit that changes where chats are sent. Checks are a scripted
function here; against a real upstream see tests/integration/test_health_honest.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from backend.bridge import Bridge
from backend.errors import (
    AuthFailed,
    BadRequest,
    ContextLengthExceeded,
    InternalError,
    MiaodaError,
    RateLimited,
    UpstreamError,
)
from backend.health.monitor import HealthMonitor
from backend.health.rules import CHAT_FAILURES_TO_FLAG, after_chat, combine
from backend.manager import CustomProviderManager
from backend.models import NO_CHATS, HealthStatus, ProviderConfig, RecentChats
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage
from tests.helpers import provider_config

T1 = "2026-11-26T10:00:00.000Z"
T2 = "2026-11-26T10:01:00.000Z"


def server_error(message: str = "The provider had a server error (500).") -> UpstreamError:
    return UpstreamError(message, upstream_status=500)


# --- the rules ----------------------------------------------------------------------------


def test_a_provider_side_failure_adds_one_and_becomes_the_last_error() -> None:
    once = after_chat(NO_CHATS, server_error(), T1)
    twice = after_chat(once, RateLimited("Slow down.", upstream_status=429), T2)
    assert twice == RecentChats(2, T2, ("RATE_LIMITED", "Slow down."), 429)


def test_an_answer_starts_the_count_over_and_clears_the_last_error() -> None:
    failing = RecentChats(5, T1, ("UPSTREAM_ERROR", "Down."), 500)
    assert after_chat(failing, None, T2) == RecentChats(0, T2, None, None)


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("Unknown parameter.", upstream_status=400),
        ContextLengthExceeded(upstream_status=400),
        InternalError(),
    ],
    ids=lambda e: e.code,
)
def test_errors_that_say_nothing_of_the_provider_leave_the_record_as_it_was(
    error: MiaodaError,
) -> None:
    failing = RecentChats(2, T1, ("UPSTREAM_ERROR", "Down."), 500)
    assert after_chat(failing, error, T2) is failing


def check(**fields: Any) -> HealthStatus:
    base: dict[str, Any] = {
        "status": "healthy",
        "last_checked": T1,
        "response_time": 80,
        "http_status": 200,
        "check_kind": "models",
        "model_available": True,
    }
    return HealthStatus("p", "p", **{**base, **fields})


def test_fewer_failures_than_the_threshold_leave_the_check_in_charge() -> None:
    chats = RecentChats(CHAT_FAILURES_TO_FLAG - 1, T2, ("UPSTREAM_ERROR", "Down."), 500)
    shown = combine(check(), chats)
    assert (shown.status, shown.basis, shown.recent_chats) == ("healthy", "check", chats)


def test_three_failures_in_a_row_are_unhealthy_with_the_last_error_though_the_check_passed() -> (
    None
):
    chats = RecentChats(3, T2, ("UPSTREAM_ERROR", "The gateway answered 500."), 500)
    shown = combine(check(), chats)
    assert (shown.status, shown.is_healthy, shown.basis) == ("unhealthy", False, "chats")
    assert (shown.error, shown.error_code, shown.http_status) == (
        "The gateway answered 500.",
        "UPSTREAM_ERROR",
        500,
    )
    # Still says what was probed, when, and how fast it answered.
    assert (shown.last_checked, shown.check_kind, shown.response_time) == (T1, "models", 80)


def test_failing_chats_decide_for_a_provider_never_checked() -> None:
    chats = RecentChats(4, T2, ("CONNECTION_FAILED", "Refused."), None)
    shown = combine(HealthStatus("p", "p"), chats)
    assert (shown.status, shown.basis, shown.error_code, shown.last_checked) == (
        "unhealthy",
        "chats",
        "CONNECTION_FAILED",
        None,
    )


def test_the_wire_form_says_what_decided_and_what_the_chats_saw() -> None:
    chats = RecentChats(3, T2, ("AUTH_FAILED", "Key refused."), 401)
    wire = combine(check(), chats).to_wire()
    assert wire["basis"] == "chats"
    assert wire["recentChats"] == {
        "failuresInARow": 3,
        "lastAt": T2,
        "lastError": {"code": "AUTH_FAILED", "message": "Key refused."},
    }


# --- the monitor ----------------------------------------------------------------------------


class Clock:
    """The monitor's wall clock: a new minute on every reading."""

    def __init__(self) -> None:
        self.minute = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            self.minute += 1
            return f"2026-11-26T{10 + self.minute // 60:02d}:{self.minute % 60:02d}:00.000Z"


class PassingCheck:
    """Every check passes, as a gateway's models list does while its chats fail."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, config: ProviderConfig, api_key: str | None) -> HealthStatus:
        self.calls += 1
        return HealthStatus(
            config.id,
            config.name,
            status="healthy",
            response_time=20,
            http_status=200,
            check_kind="models",
            model_available=True,
        )


@pytest.fixture
def secret_store(file_secret_store: EncryptedFileSecretStore) -> EncryptedFileSecretStore:
    """Chat outcomes do not depend on the secret backend: only the file store."""
    return file_secret_store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def monitor(
    manager: CustomProviderManager, storage: Storage, clock: Clock
) -> Iterator[HealthMonitor]:
    """The monitor (and so `bridge`) with checks that always pass."""
    health = HealthMonitor(manager, storage, PassingCheck(), clock=clock)
    yield health
    health.close()


def add(bridge: Bridge, name: str = "gateway", **fields: Any) -> str:
    config = provider_config(name=name, displayName=name.title(), **fields)
    result = bridge.addCustomProvider(config, {"validate": False})
    assert result["success"], result
    return str(result["id"])


def shown(bridge: Bridge) -> dict[str, Any]:
    [status] = bridge.getAllProviderHealthStatuses()["statuses"]
    return dict(status)


def fail(monitor: HealthMonitor, pid: str, times: int, error: MiaodaError | None = None) -> None:
    for _ in range(times):
        monitor.chat_outcome(pid, error or server_error())


def test_three_failed_chats_make_a_checked_healthy_provider_unhealthy(
    bridge: Bridge, monitor: HealthMonitor
) -> None:
    pid = add(bridge)
    checked = bridge.checkCustomProviderHealth(pid)["status"]
    assert (checked["status"], checked["basis"]) == ("healthy", "check")
    fail(monitor, pid, 2)
    assert (shown(bridge)["status"], shown(bridge)["recentChats"]["failuresInARow"]) == (
        "healthy",
        2,
    )
    fail(monitor, pid, 1)
    status = shown(bridge)
    assert (status["status"], status["isHealthy"], status["basis"]) == ("unhealthy", False, "chats")
    assert (status["errorCode"], status["httpStatus"]) == ("UPSTREAM_ERROR", 500)
    assert status["error"] == "The provider had a server error (500)."
    assert status["recentChats"]["lastError"] == {
        "code": "UPSTREAM_ERROR",
        "message": "The provider had a server error (500).",
    }
    # What was probed, and when, is still the check's.
    assert (status["checkKind"], status["lastChecked"]) == ("models", checked["lastChecked"])


def test_a_passing_check_after_failed_chats_does_not_say_healthy(
    bridge: Bridge, monitor: HealthMonitor
) -> None:
    pid = add(bridge)
    fail(monitor, pid, 3)
    status = bridge.checkCustomProviderHealth(pid)["status"]
    assert (status["status"], status["basis"], status["errorCode"]) == (
        "unhealthy",
        "chats",
        "UPSTREAM_ERROR",
    )
    assert status["lastChecked"] is not None and status["seq"] is not None
    assert shown(bridge) == status


def test_one_answer_after_the_failures_brings_the_checks_verdict_back(
    bridge: Bridge, monitor: HealthMonitor
) -> None:
    pid = add(bridge)
    bridge.checkCustomProviderHealth(pid)
    fail(monitor, pid, 4)
    monitor.chat_outcome(pid, None)
    status = shown(bridge)
    assert (status["status"], status["basis"], status["errorCode"]) == ("healthy", "check", None)
    assert status["recentChats"]["failuresInARow"] == 0
    assert status["recentChats"]["lastError"] is None
    assert status["recentChats"]["lastAt"] is not None


@pytest.mark.parametrize(
    "error",
    [BadRequest("Unknown parameter.", upstream_status=400), ContextLengthExceeded()],
    ids=lambda e: e.code,
)
def test_a_bad_request_neither_counts_nor_breaks_the_run_of_failures(
    bridge: Bridge, monitor: HealthMonitor, error: MiaodaError
) -> None:
    pid = add(bridge)
    fail(monitor, pid, 2)
    fail(monitor, pid, 3, error)
    assert shown(bridge)["recentChats"]["failuresInARow"] == 2
    fail(monitor, pid, 1)
    assert (shown(bridge)["status"], shown(bridge)["errorCode"]) == ("unhealthy", "UPSTREAM_ERROR")


def test_the_last_failure_names_the_error_shown(bridge: Bridge, monitor: HealthMonitor) -> None:
    pid = add(bridge)
    fail(monitor, pid, 2)
    fail(monitor, pid, 1, AuthFailed("The gateway refused the key.", upstream_status=401))
    status = shown(bridge)
    assert (status["errorCode"], status["httpStatus"], status["error"]) == (
        "AUTH_FAILED",
        401,
        "The gateway refused the key.",
    )


def test_a_provider_never_checked_shows_its_chats_too(
    bridge: Bridge, monitor: HealthMonitor
) -> None:
    pid = add(bridge)
    before = shown(bridge)
    assert (before["status"], before["basis"]) == ("unknown", "check")
    assert before["recentChats"] == {"failuresInARow": 0, "lastAt": None, "lastError": None}
    fail(monitor, pid, 3)
    assert (shown(bridge)["status"], shown(bridge)["lastChecked"]) == ("unhealthy", None)


def test_each_change_the_chats_make_is_reported_by_the_updates_cursor(
    bridge: Bridge, monitor: HealthMonitor
) -> None:
    pid = add(bridge)
    bridge.checkCustomProviderHealth(pid)
    cursor = bridge.getHealthUpdates()["cursor"]
    fail(monitor, pid, 3)
    changed = bridge.getHealthUpdates(cursor)
    assert [s["status"] for s in changed["statuses"]] == ["unhealthy"]
    monitor.chat_outcome(pid, None)
    again = bridge.getHealthUpdates(changed["cursor"])
    assert [s["status"] for s in again["statuses"]] == ["healthy"]
    # An error that does not count changes nothing, so nothing is reported.
    monitor.chat_outcome(pid, BadRequest("Unknown parameter."))
    assert bridge.getHealthUpdates(again["cursor"])["statuses"] == []


def test_history_points_stay_the_checks_results(bridge: Bridge, monitor: HealthMonitor) -> None:
    pid = add(bridge)
    fail(monitor, pid, 3)
    bridge.checkCustomProviderHealth(pid)
    [point] = bridge.getHealthHistory(pid)["history"]["points"]
    assert (point["status"], point["basis"], point["recentChats"]) == ("healthy", "check", None)


def test_failed_chats_survive_a_restart(
    bridge: Bridge,
    monitor: HealthMonitor,
    manager: CustomProviderManager,
    storage: Storage,
    clock: Clock,
) -> None:
    pid = add(bridge)
    bridge.checkCustomProviderHealth(pid)
    fail(monitor, pid, 3)
    restarted = HealthMonitor(manager, storage, PassingCheck(), clock=clock)
    try:
        [status] = restarted.statuses()
        assert (status.status, status.basis, status.error_code) == (
            "unhealthy",
            "chats",
            "UPSTREAM_ERROR",
        )
        assert status.recent_chats is not None and status.recent_chats.failures_in_a_row == 3
        restarted.chat_outcome(pid, None)
    finally:
        restarted.close()
    again = HealthMonitor(manager, storage, PassingCheck(), clock=clock)
    try:
        [status] = again.statuses()
        assert (status.status, status.basis) == ("healthy", "check")
    finally:
        again.close()


def test_an_edit_that_changes_where_chats_go_forgets_the_old_failures(
    bridge: Bridge, monitor: HealthMonitor, manager: CustomProviderManager, storage: Storage
) -> None:
    pid = add(bridge)
    bridge.checkCustomProviderHealth(pid)
    fail(monitor, pid, 3)
    bridge.updateCustomProvider(pid, {"displayName": "Renamed"}, {"validate": False})
    assert shown(bridge)["status"] == "unhealthy"  # nothing that chats depend on changed
    bridge.updateCustomProvider(pid, {"apiKey": "sk-a-new-key-000001"}, {"validate": False})
    status = shown(bridge)
    assert (status["status"], status["basis"], status["recentChats"]["failuresInARow"]) == (
        "healthy",
        "check",
        0,
    )
    restarted = HealthMonitor(manager, storage, PassingCheck())
    try:
        assert restarted.statuses()[0].status == "healthy"  # forgotten on disk too
    finally:
        restarted.close()


def test_outcomes_of_a_removed_provider_are_ignored(bridge: Bridge, monitor: HealthMonitor) -> None:
    pid = add(bridge)
    cursor = bridge.getHealthUpdates()["cursor"]
    bridge.removeCustomProvider(pid)
    fail(monitor, pid, 3)
    assert monitor.statuses() == []
    assert bridge.getHealthUpdates(cursor)["statuses"] == []


def test_outcomes_reported_from_many_threads_at_once_are_all_counted(
    bridge: Bridge, monitor: HealthMonitor
) -> None:
    pid = add(bridge)
    start = threading.Barrier(8)

    def report() -> None:
        start.wait()
        fail(monitor, pid, 25)

    workers = [threading.Thread(target=report) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert shown(bridge)["recentChats"]["failuresInARow"] == 200
