"""Which members a route tries, in which order (CONTRACT §10): each strategy, and skipping."""

from __future__ import annotations

import threading

from backend.chat.strategy import Paused, Step, Turns, all_paused, order_members
from backend.providers.circuit import CLOSED, Circuit, CircuitView, Reason
from backend.storage import Route

OPEN = CircuitView(Circuit("open", 100.0, Reason("RATE_LIMITED", "429"), 0), False, 12.5)
HALF_OPEN = CircuitView(Circuit("half-open", 100.0, Reason("TIMEOUT", "slow"), 0), False, 0.0)
PROBING = CircuitView(Circuit("half-open", 100.0, Reason("TIMEOUT", "slow"), 0), True, 0.0)
CLOSED_VIEW = CircuitView(CLOSED, False, 0.0)


def route(strategy: str, members: tuple[str, ...] = ("a", "b", "c")) -> Route:
    return Route("r1", "r", "R", strategy, members, "2026-01-01T00:00:00.000Z", "")


def order(steps: list[Step]) -> list[str]:
    return [s.provider_id for s in steps]


def skipped(steps: list[Step]) -> list[str]:
    return [s.provider_id for s in steps if s.skip]


def test_failover_tries_members_in_the_order_the_route_lists_them() -> None:
    steps = order_members(route("failover"), {}, turn=7)
    assert order(steps) == ["a", "b", "c"]
    assert skipped(steps) == []


def test_round_robin_starts_each_request_one_member_further() -> None:
    firsts = [order(order_members(route("round-robin"), {}, turn=t)) for t in range(4)]
    assert firsts == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]


def test_fastest_orders_by_recent_time_to_first_token() -> None:
    steps = order_members(route("fastest"), {}, ttft_ms={"a": 900.0, "b": 120.0, "c": 400.0})
    assert order(steps) == ["b", "c", "a"]


def test_fastest_tries_members_never_measured_first_so_they_get_measured() -> None:
    steps = order_members(route("fastest"), {}, ttft_ms={"a": 300.0, "c": 100.0})
    assert order(steps) == ["b", "c", "a"]


def test_fastest_keeps_the_route_order_between_equal_times() -> None:
    steps = order_members(route("fastest"), {}, ttft_ms={"a": 200.0, "b": 200.0, "c": 100.0})
    assert order(steps) == ["c", "a", "b"]


def test_open_members_and_half_open_members_with_a_probe_out_are_skipped() -> None:
    circuits = {"a": OPEN, "b": PROBING, "c": CLOSED_VIEW}
    steps = order_members(route("failover"), circuits)
    assert skipped(steps) == ["a", "b"]
    assert steps[0].circuit is OPEN


def test_a_half_open_member_without_a_probe_out_is_tried() -> None:
    steps = order_members(route("failover", ("a",)), {"a": HALF_OPEN})
    assert skipped(steps) == []


def test_skipped_members_keep_their_place_in_the_order() -> None:
    steps = order_members(route("round-robin"), {"b": OPEN}, turn=1)
    assert order(steps) == ["b", "c", "a"]
    assert skipped(steps) == ["b"]


def test_a_route_without_members_has_nothing_to_try() -> None:
    assert order_members(route("round-robin", ()), {}, turn=3) == []
    assert all_paused([]) is None


def test_while_some_member_may_be_tried_the_request_is_not_paused() -> None:
    steps = order_members(route("failover"), {"a": OPEN, "b": PROBING})
    assert all_paused(steps) is None


def test_all_members_skipped_fails_with_the_first_members_error_and_soonest_retry() -> None:
    later = CircuitView(Circuit("open", 90.0, Reason("AUTH_FAILED", "401"), 0), False, 2.2)
    steps = order_members(route("failover", ("a", "b")), {"a": OPEN, "b": later})
    assert all_paused(steps) == Paused(Reason("RATE_LIMITED", "429"), 3)


def test_a_probe_being_out_everywhere_still_asks_to_retry_after_at_least_a_second() -> None:
    steps = order_members(route("failover", ("a",)), {"a": PROBING})
    assert all_paused(steps) == Paused(Reason("TIMEOUT", "slow"), 1)


def test_turns_count_each_routes_requests_apart_and_never_repeat_under_threads() -> None:
    turns = Turns()
    assert [turns.take("x"), turns.take("x"), turns.take("y")] == [0, 1, 0]
    taken: list[int] = []
    lock = threading.Lock()

    def take_many() -> None:
        for _ in range(200):
            value = turns.take("z")
            with lock:
                taken.append(value)

    threads = [threading.Thread(target=take_many) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(1000))
