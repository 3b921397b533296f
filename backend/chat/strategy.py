"""Which members of a route to try, in which order (CONTRACT §10): pure, for the failover run.

`order_members` puts a route's members in its strategy's order and marks each one to skip
(its circuit is open, or half-open with its one probe already out) or to try. Trying still
goes through `CircuitBreakers.admit`, which may skip a half-open member after all when another
request took its probe in the meantime. `all_paused` says what a request whose every member
is skipped fails with. `Turns` counts each route's requests for round-robin.

    failover      members in the order the route lists them
    round-robin   the same order, rotated by one more member on each request
    fastest       members never measured first (in route order, so they get measured),
                  then by their recent median time to first token, quickest first
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from backend.i18n import tr
from backend.providers.circuit import CLOSED, CircuitView, Reason
from backend.storage import Route

_CLOSED_VIEW: Final = CircuitView(CLOSED, probing=False, retry_in=0.0)


@dataclass(frozen=True)
class Step:
    """One member of the plan: `skip` without a request, or try it."""

    provider_id: str
    skip: bool
    circuit: CircuitView


@dataclass(frozen=True)
class Paused:
    """Why a request whose every member was skipped fails at once: the error that opened the
    first member's circuit, and the whole seconds until the first member lets one in."""

    reason: Reason
    retry_after: int


def order_members(
    route: Route,
    circuits: Mapping[str, CircuitView],
    *,
    turn: int = 0,
    ttft_ms: Mapping[str, float] | None = None,
) -> list[Step]:
    """The route's members in its strategy's order, each marked skip or try.

    `circuits` holds each member's circuit (a missing one is closed), `turn` the request's
    number for round-robin (see `Turns`), `ttft_ms` recent times to first token for fastest.
    """
    members = list(route.members)
    if route.strategy == "round-robin" and members:
        shift = turn % len(members)
        members = members[shift:] + members[:shift]
    elif route.strategy == "fastest":
        times = ttft_ms or {}
        unmeasured = [m for m in members if m not in times]
        # sorted() is stable: equal times keep the route's order.
        measured = sorted((m for m in members if m in times), key=lambda m: times[m])
        members = unmeasured + measured
    steps = []
    for provider_id in members:
        circuit = circuits.get(provider_id, _CLOSED_VIEW)
        steps.append(Step(provider_id, not circuit.passable, circuit))
    return steps


def all_paused(steps: Sequence[Step]) -> Paused | None:
    """None when some member may be tried; else what the request fails with at once."""
    if not steps or any(not step.skip for step in steps):
        return None
    reason = next((s.circuit.circuit.reason for s in steps if s.circuit.circuit.reason), None)
    soonest = min(step.circuit.retry_in for step in steps)
    reason = reason or Reason("UPSTREAM_ERROR", tr("routes.providerFailed"))
    return Paused(reason, max(1, math.ceil(soonest)))


class Turns:
    """Each route's count of requests, for round-robin; thread-safe, kept in memory only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}

    def take(self, route_id: str) -> int:
        """This request's turn: 0 for a route's first request, then 1, 2, ..."""
        with self._lock:
            turn = self._next.get(route_id, 0)
            self._next[route_id] = turn + 1
            return turn
