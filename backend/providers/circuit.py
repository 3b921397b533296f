"""Circuit breakers: one per provider, so a route skips a member that keeps failing (CONTRACT §10).

    closed ──3 failures in a row with a failover code, or an unhealthy check──▶ open
    open ──30 s later, or a passing health check──▶ half-open
    half-open ──one request (the probe) succeeds──▶ closed
    half-open ──the probe fails, or ends cancelled──▶ open (the 30 s start again)

`Circuit` and the `on_*` functions are the state machine: pure, each given the time. An open
circuit turns half-open by the passing of time alone, so that step is not stored: `view`
computes it, and a restart 30 s after a circuit opened finds it half-open.

`CircuitBreakers` keeps every provider's circuit behind one lock and is what callers use: a
route asks `admit` before sending to a member (None means skip it: open, or half-open with its
one probe already out), then reports the outcome with the `Admission` it got. A request to a
provider chosen directly is sent without asking, and its outcome is reported all the same.
Every change is handed to a `CircuitStore` (the data file), so a restart keeps open circuits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from backend.errors import MiaodaError
from backend.i18n import tr

log = logging.getLogger("miaoda.circuit")

CircuitState = Literal["closed", "open", "half-open"]

FAILOVER_CODES: Final = frozenset(
    {
        "CONNECTION_FAILED",
        "TIMEOUT",
        "UPSTREAM_ERROR",
        "RATE_LIMITED",
        "QUOTA_EXCEEDED",
        "AUTH_FAILED",
        "MODEL_NOT_FOUND",
        "INVALID_RESPONSE",
    }
)
"""Failures that say the provider, not the request, is at fault: they count towards opening
the circuit and hand a route's request to the next member. BAD_REQUEST and
CONTEXT_LENGTH_EXCEEDED are not among them: the next member would fail the same way."""

FAILURES_TO_OPEN: Final = 3
COOL_OFF_S: Final = 30.0
PROBE_LEASE_S: Final = 300.0
"""A probe that has not reported after this long is taken for lost (a bug, not a slow reply:
every request ends within its timeouts), so another request may probe instead."""

PASSING_CHECKS: Final = frozenset({"healthy", "degraded"})

# --- the state machine ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """The error that opened a circuit."""

    code: str
    message: str

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Circuit:
    """One provider's breaker as stored: `since` is when `state` began (epoch seconds; None for
    a circuit that never opened), `failures` the failover-code failures in a row while closed."""

    state: CircuitState = "closed"
    since: float | None = None
    reason: Reason | None = None
    failures: int = 0


CLOSED: Final = Circuit()


def view(circuit: Circuit, now: float, cool_off: float = COOL_OFF_S) -> Circuit:
    """The circuit as it stands at `now`: an open one whose cool-off has passed is half-open,
    since the moment it passed."""
    if circuit.state == "open" and circuit.since is not None and now >= circuit.since + cool_off:
        return replace(circuit, state="half-open", since=circuit.since + cool_off)
    return circuit


def on_success(circuit: Circuit, now: float) -> Circuit:
    """A request answered: the circuit closes and the count of failures starts over."""
    if circuit.state == "closed":
        return replace(circuit, failures=0) if circuit.failures else circuit
    return Circuit("closed", now, None, 0)


def on_failure(
    circuit: Circuit,
    code: str,
    message: str,
    now: float,
    *,
    threshold: int = FAILURES_TO_OPEN,
    cool_off: float = COOL_OFF_S,
) -> Circuit:
    """A request failed with `code`: only failover codes count. A closed circuit opens at the
    `threshold`-th in a row; a half-open one opens at once; an open one starts its cool-off
    over (a request chosen directly is sent even to an open provider)."""
    if code not in FAILOVER_CODES:
        return circuit
    current = view(circuit, now, cool_off)
    if current.state == "closed" and current.failures + 1 < threshold:
        return replace(current, failures=current.failures + 1)
    return Circuit("open", now, Reason(code, message), 0)


def on_probe_cancelled(circuit: Circuit, now: float, cool_off: float = COOL_OFF_S) -> Circuit:
    """The probe ended without a result: the circuit is open again, for a full cool-off."""
    current = view(circuit, now, cool_off)
    if current.state != "half-open":
        return circuit
    return Circuit("open", now, current.reason, 0)


def on_health_check(
    circuit: Circuit,
    status: str,
    code: str | None,
    message: str | None,
    now: float,
    cool_off: float = COOL_OFF_S,
) -> Circuit:
    """A health check graded `status`: unhealthy opens the circuit (or starts an open one's
    cool-off over); a passing check makes an open circuit half-open at once. A passing check
    never closes a circuit, nor clears failures: a provider whose model list answers may still
    fail every chat, and only a request that answers proves otherwise."""
    current = view(circuit, now, cool_off)
    if status == "unhealthy":
        reason = Reason(code or "UPSTREAM_ERROR", message or tr("providers.circuit.checkFailed"))
        return Circuit("open", now, reason, 0)
    if status in PASSING_CHECKS and current.state == "open":
        return Circuit("half-open", now, current.reason, 0)
    return circuit


def retry_in(circuit: Circuit, now: float, cool_off: float = COOL_OFF_S) -> float:
    """Seconds until the circuit lets a request through again (0: it does now)."""
    if circuit.state != "open" or circuit.since is None:
        return 0.0
    return max(0.0, circuit.since + cool_off - now)


# --- wire form ------------------------------------------------------------------------------


def iso_time(moment: float) -> str:
    """Epoch seconds as the app's timestamps: ISO 8601 UTC to the millisecond with a `Z`."""
    text = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """An `iso_time` back to epoch seconds (ValueError if it is not one)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def to_wire(circuit: Circuit) -> dict[str, Any]:
    """The contract's `circuit` object (pass a `view`)."""
    return {
        "state": circuit.state,
        "since": None if circuit.since is None else iso_time(circuit.since),
        "reason": None if circuit.reason is None else circuit.reason.to_wire(),
    }


# --- the breakers ---------------------------------------------------------------------------


class CircuitStore(Protocol):
    """Where circuits are kept across restarts (backend.storage.RouteStore in the app)."""

    def load_circuits(self) -> dict[str, Circuit]: ...

    def save_circuit(self, provider_id: str, circuit: Circuit) -> None: ...


class Admission:
    """A request's leave to go to a provider; `probe` when it is the half-open circuit's one
    request. Hand it back with the outcome, so only the probe's outcome frees the probe."""

    __slots__ = ("probe", "provider_id")

    def __init__(self, provider_id: str, probe: bool) -> None:
        self.provider_id = provider_id
        self.probe = probe


@dataclass(frozen=True)
class CircuitView:
    """A circuit as a route sees it at one moment: `probing` when half-open with its probe
    already out (so a route skips it), `retry_in` the seconds until it lets a request in."""

    circuit: Circuit
    probing: bool
    retry_in: float
    reopens_at: float | None = None  # epoch seconds an open circuit lets its probe in

    @property
    def state(self) -> CircuitState:
        return self.circuit.state

    @property
    def passable(self) -> bool:
        """Whether a request may be sent now: closed, or half-open with no probe out."""
        return self.state == "closed" or (self.state == "half-open" and not self.probing)

    def to_wire(self) -> dict[str, Any]:
        """The contract's `circuit` object, and `reopensAt`: when an open circuit goes
        half-open (ISO 8601), else null, so a screen can count down without knowing the
        cool-off."""
        wire = to_wire(self.circuit)
        wire["reopensAt"] = None if self.reopens_at is None else iso_time(self.reopens_at)
        return wire


class CircuitBreakers:
    """Every provider's circuit; thread-safe. Changes are saved through `store`, if given."""

    def __init__(
        self,
        store: CircuitStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        threshold: int = FAILURES_TO_OPEN,
        cool_off: float = COOL_OFF_S,
        probe_lease: float = PROBE_LEASE_S,
        defer: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._store = store
        # Where saves run: on the changing thread by default, or handed to `defer` (the app's
        # background writer) so that a request never waits for a disk sync.
        self._defer = defer
        self._clock = clock
        self._threshold = threshold
        self._cool_off = cool_off
        self._probe_lease = probe_lease
        self._lock = threading.Lock()
        # Saves are serialised apart from the state lock: a disk sync must not hold up
        # `admit` on other threads, and each save writes the newest state, whatever order
        # the threads arrive in.
        self._save_lock = threading.Lock()
        self._circuits: dict[str, Circuit] = dict(store.load_circuits()) if store else {}
        self._probes: dict[str, tuple[Admission, float]] = {}

    # --- reads ------------------------------------------------------------------------------

    def view(self, provider_id: str) -> CircuitView:
        """The provider's circuit now."""
        with self._lock:
            return self._view(provider_id, self._clock())

    def views(self, provider_ids: Iterable[str]) -> dict[str, CircuitView]:
        """Several providers' circuits, all at the same moment."""
        with self._lock:
            now = self._clock()
            return {pid: self._view(pid, now) for pid in provider_ids}

    def to_wire(self, provider_id: str) -> dict[str, Any]:
        """The contract's `circuit` object of a provider."""
        return self.view(provider_id).to_wire()

    # --- a route's requests -----------------------------------------------------------------

    def admit(self, provider_id: str) -> Admission | None:
        """Leave to send a route's request to this provider now, or None to skip it.

        Closed: every request goes. Open: none. Half-open: exactly one, the probe, until it
        reports; the others skip the provider meanwhile.
        """
        with self._lock:
            now = self._clock()
            current = view(self._circuits.get(provider_id, CLOSED), now, self._cool_off)
            if current.state == "closed":
                return Admission(provider_id, probe=False)
            if current.state == "open" or self._probing(provider_id, now):
                return None
            admission = Admission(provider_id, probe=True)
            self._probes[provider_id] = (admission, now)
            return admission

    def succeeded(self, provider_id: str, admission: Admission | None = None) -> None:
        """The request answered (its first output arrived): the circuit closes."""
        self._change(provider_id, admission, on_success)

    def failed(
        self, provider_id: str, code: str, message: str, admission: Admission | None = None
    ) -> None:
        """The request failed before answering with error `code`."""
        self._change(
            provider_id,
            admission,
            lambda c, now: on_failure(
                c, code, message, now, threshold=self._threshold, cool_off=self._cool_off
            ),
        )

    def failed_with(self, provider_id: str, err: MiaodaError, admission: Admission | None) -> None:
        """`failed` with an app error's code and message."""
        self.failed(provider_id, err.code, err.message, admission)

    def cancelled(self, provider_id: str, admission: Admission | None = None) -> None:
        """The request ended without a result (stopped, or the client went away). Only a
        probe's cancellation changes anything: the circuit is open again."""
        if admission is None or not admission.probe:
            return
        self._change(
            provider_id, admission, lambda c, now: on_probe_cancelled(c, now, self._cool_off)
        )

    # --- health checks and provider changes -------------------------------------------------

    def health_checked(
        self, provider_id: str, status: str, code: str | None, message: str | None
    ) -> None:
        """A health check of the provider was graded `status` (see `on_health_check`)."""
        self._change(
            provider_id,
            None,
            lambda c, now: on_health_check(c, status, code, message, now, self._cool_off),
        )

    def forget(self, provider_id: str) -> None:
        """The provider was removed (its stored circuit goes with its row)."""
        with self._lock:
            self._circuits.pop(provider_id, None)
            self._probes.pop(provider_id, None)

    # --- internals --------------------------------------------------------------------------

    def _view(self, provider_id: str, now: float) -> CircuitView:
        current = view(self._circuits.get(provider_id, CLOSED), now, self._cool_off)
        probing = current.state == "half-open" and self._probing(provider_id, now)
        reopens = None
        if current.state == "open" and current.since is not None:
            reopens = current.since + self._cool_off
        return CircuitView(current, probing, retry_in(current, now, self._cool_off), reopens)

    def _probing(self, provider_id: str, now: float) -> bool:
        """Whether a probe of this provider is out and not yet taken for lost."""
        taken = self._probes.get(provider_id)
        return taken is not None and now - taken[1] < self._probe_lease

    def _change(
        self,
        provider_id: str,
        admission: Admission | None,
        step: Callable[[Circuit, float], Circuit],
    ) -> None:
        with self._lock:
            now = self._clock()
            taken = self._probes.get(provider_id)
            if admission is not None and taken is not None and taken[0] is admission:
                del self._probes[provider_id]
            before = self._circuits.get(provider_id, CLOSED)
            after = step(before, now)
            if after == before:
                return
            if after.state != "half-open":
                # A probe still out belongs to the half-open spell that just ended.
                self._probes.pop(provider_id, None)
            self._circuits[provider_id] = after
            if after.state != before.state:
                log.info("circuit of %s: %s -> %s", provider_id, before.state, after.state)
        if self._defer is None:
            self._save(provider_id)
        else:
            self._defer(lambda: self._save(provider_id))

    def _save(self, provider_id: str) -> None:
        if self._store is None:
            return
        with self._save_lock:
            with self._lock:
                circuit = self._circuits.get(provider_id)
            if circuit is None:
                return  # forgotten meanwhile: the provider is gone
            try:
                self._store.save_circuit(provider_id, circuit)
            except MiaodaError as err:
                # The circuit still works from memory; only a restart would forget this change.
                log.warning("could not save the circuit of %s: %s", provider_id, err.message)


def wire_map(views: Mapping[str, CircuitView]) -> dict[str, dict[str, Any]]:
    """Provider id -> `circuit` object."""
    return {pid: v.to_wire() for pid, v in views.items()}
