"""Circuit breakers (CONTRACT §10): each transition, driven by a fake clock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend.providers.circuit import (
    COOL_OFF_S,
    FAILOVER_CODES,
    Admission,
    Circuit,
    CircuitBreakers,
    Reason,
    iso_time,
)

P = "provider-1"
T0 = 1_800_000_000.0


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryStore:
    """A CircuitStore in a dict, counting saves."""

    def __init__(self) -> None:
        self.rows: dict[str, Circuit] = {}
        self.saves = 0

    def load_circuits(self) -> dict[str, Circuit]:
        return dict(self.rows)

    def save_circuit(self, provider_id: str, circuit: Circuit) -> None:
        self.rows[provider_id] = circuit
        self.saves += 1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def breakers(clock: FakeClock, store: MemoryStore) -> CircuitBreakers:
    return CircuitBreakers(store, clock=clock)


def fail(breakers: CircuitBreakers, times: int, code: str = "UPSTREAM_ERROR") -> None:
    for n in range(times):
        breakers.failed(P, code, f"failure {n + 1}")


def open_circuit(breakers: CircuitBreakers) -> None:
    fail(breakers, 3)
    assert breakers.view(P).state == "open"


# --- closed -> open ---------------------------------------------------------------------------


def test_a_provider_never_seen_is_closed_and_lets_every_request_through(
    breakers: CircuitBreakers,
) -> None:
    assert breakers.to_wire(P) == {
        "state": "closed",
        "since": None,
        "reason": None,
        "reopensAt": None,
    }
    admissions = [breakers.admit(P) for _ in range(5)]
    assert all(a is not None and not a.probe for a in admissions)


def test_three_failures_in_a_row_open_the_circuit_with_the_last_error(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    fail(breakers, 2)
    assert breakers.view(P).state == "closed"
    clock.advance(1)
    breakers.failed(P, "RATE_LIMITED", "Too many requests (429)")
    assert breakers.to_wire(P) == {
        "state": "open",
        "since": iso_time(T0 + 1),
        "reason": {"code": "RATE_LIMITED", "message": "Too many requests (429)"},
        "reopensAt": iso_time(T0 + 1 + COOL_OFF_S),
    }


@pytest.mark.parametrize("code", sorted(FAILOVER_CODES))
def test_every_failover_code_counts_towards_opening(breakers: CircuitBreakers, code: str) -> None:
    fail(breakers, 3, code)
    assert breakers.view(P).state == "open"


@pytest.mark.parametrize("code", ["BAD_REQUEST", "CONTEXT_LENGTH_EXCEEDED", "INTERNAL"])
def test_failures_that_are_the_requests_fault_do_not_count(
    breakers: CircuitBreakers, store: MemoryStore, code: str
) -> None:
    fail(breakers, 5, code)
    assert breakers.view(P).state == "closed"
    assert store.saves == 0


def test_a_success_between_failures_starts_the_count_over(breakers: CircuitBreakers) -> None:
    fail(breakers, 2)
    breakers.succeeded(P)
    fail(breakers, 2)
    assert breakers.view(P).state == "closed"
    fail(breakers, 1)
    assert breakers.view(P).state == "open"


# --- open ------------------------------------------------------------------------------------


def test_an_open_circuit_skips_every_request_until_the_cool_off_ends(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    assert breakers.admit(P) is None
    clock.advance(COOL_OFF_S - 0.001)
    assert breakers.admit(P) is None
    view = breakers.view(P)
    assert view.state == "open" and view.retry_in == pytest.approx(0.001, abs=1e-6)


def test_after_30_seconds_the_circuit_is_half_open_since_the_cool_off_ended(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    clock.advance(45)
    assert breakers.to_wire(P) == {
        "state": "half-open",
        "since": iso_time(T0 + COOL_OFF_S),
        "reason": {"code": "UPSTREAM_ERROR", "message": "failure 3"},
        "reopensAt": None,
    }


def test_a_request_sent_directly_while_open_restarts_the_cool_off_when_it_fails(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    clock.advance(20)
    breakers.failed(P, "TIMEOUT", "took too long")
    clock.advance(20)
    view = breakers.view(P)
    assert view.state == "open"
    assert view.circuit.reason == Reason("TIMEOUT", "took too long")


def test_a_request_sent_directly_that_answers_closes_an_open_circuit(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    clock.advance(5)
    breakers.succeeded(P)
    assert breakers.to_wire(P) == {
        "state": "closed",
        "since": iso_time(T0 + 5),
        "reason": None,
        "reopensAt": None,
    }
    assert breakers.admit(P) is not None


# --- half-open -------------------------------------------------------------------------------


def test_half_open_lets_exactly_one_of_ten_concurrent_requests_probe(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    clock.advance(COOL_OFF_S)
    start = threading.Barrier(10)

    def ask(_: int) -> Admission | None:
        start.wait()
        return breakers.admit(P)

    with ThreadPoolExecutor(10) as pool:
        admissions = list(pool.map(ask, range(10)))
    probes = [a for a in admissions if a is not None]
    assert len(probes) == 1 and probes[0].probe
    assert admissions.count(None) == 9
    assert breakers.view(P).probing


def test_a_probe_that_answers_closes_the_circuit(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    clock.advance(COOL_OFF_S)
    probe = breakers.admit(P)
    breakers.succeeded(P, probe)
    assert breakers.view(P).state == "closed"
    assert all(breakers.admit(P) is not None for _ in range(3))


def test_a_probe_that_fails_opens_the_circuit_for_another_cool_off(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    clock.advance(COOL_OFF_S)
    probe = breakers.admit(P)
    breakers.failed(P, "CONNECTION_FAILED", "refused", probe)
    assert breakers.to_wire(P)["state"] == "open"
    assert breakers.admit(P) is None
    clock.advance(COOL_OFF_S)
    assert breakers.admit(P) is not None


def test_a_cancelled_probe_sends_the_circuit_back_to_open(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    clock.advance(COOL_OFF_S + 2)
    probe = breakers.admit(P)
    breakers.cancelled(P, probe)
    view = breakers.view(P)
    assert view.state == "open" and not view.probing
    assert view.circuit.since == T0 + COOL_OFF_S + 2
    assert view.circuit.reason == Reason("UPSTREAM_ERROR", "failure 3")  # still why it opened
    clock.advance(COOL_OFF_S)
    assert breakers.admit(P) is not None


def test_a_cancelled_request_that_was_not_the_probe_changes_nothing(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    fail(breakers, 2)
    breakers.cancelled(P, breakers.admit(P))
    breakers.cancelled(P)
    fail(breakers, 1)
    assert breakers.view(P).state == "open"  # the count of 2 survived


def test_a_lost_probe_frees_its_place_after_the_lease(clock: FakeClock) -> None:
    breakers = CircuitBreakers(clock=clock, probe_lease=60)
    open_circuit(breakers)
    clock.advance(COOL_OFF_S)
    assert breakers.admit(P) is not None
    clock.advance(59)
    assert breakers.admit(P) is None
    clock.advance(1)
    again = breakers.admit(P)
    assert again is not None and again.probe


# --- health checks ---------------------------------------------------------------------------


def test_an_unhealthy_check_opens_a_closed_circuit_at_once(breakers: CircuitBreakers) -> None:
    breakers.health_checked(P, "unhealthy", "AUTH_FAILED", "The key was rejected (401).")
    assert breakers.to_wire(P)["reason"] == {
        "code": "AUTH_FAILED",
        "message": "The key was rejected (401).",
    }
    assert breakers.admit(P) is None


def test_a_passing_check_makes_an_open_circuit_half_open_without_waiting(
    breakers: CircuitBreakers, clock: FakeClock
) -> None:
    open_circuit(breakers)
    clock.advance(3)
    breakers.health_checked(P, "degraded", None, "slow")
    assert breakers.to_wire(P)["state"] == "half-open"
    assert breakers.to_wire(P)["since"] == iso_time(T0 + 3)
    probe = breakers.admit(P)
    assert probe is not None and probe.probe
    assert breakers.admit(P) is None


def test_a_passing_check_neither_closes_a_circuit_nor_forgets_failures(
    breakers: CircuitBreakers,
) -> None:
    fail(breakers, 2)
    breakers.health_checked(P, "healthy", None, None)
    fail(breakers, 1)
    assert breakers.view(P).state == "open"
    breakers.health_checked(P, "healthy", None, None)
    assert breakers.view(P).state == "half-open"


# --- persistence -----------------------------------------------------------------------------


def test_every_change_is_saved_and_a_new_instance_starts_from_it(
    store: MemoryStore, clock: FakeClock
) -> None:
    first = CircuitBreakers(store, clock=clock)
    fail(first, 3)
    clock.advance(10)
    second = CircuitBreakers(store, clock=clock)  # a restart
    assert second.admit(P) is None
    clock.advance(20)
    assert second.view(P).state == "half-open"


def test_a_request_that_changes_nothing_writes_nothing(
    breakers: CircuitBreakers, store: MemoryStore
) -> None:
    for _ in range(5):
        breakers.succeeded(P, breakers.admit(P))
    assert store.saves == 0


def test_a_forgotten_provider_is_closed_again_and_not_saved(
    breakers: CircuitBreakers, store: MemoryStore
) -> None:
    open_circuit(breakers)
    saves = store.saves
    breakers.forget(P)
    assert breakers.view(P).state == "closed"
    assert store.saves == saves
