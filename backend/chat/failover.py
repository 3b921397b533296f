"""Sending a chat to what its `providerId` names: one provider, or a route of them (CONTRACT §10).

`Targets.resolve()` turns the id into a `Target`: a provider (with its key and the request's
model; the request's parameters travel in the `ChatRequest`, over the provider's) or a route
(its members are read, with their keys, only when each one's turn comes, so a key pool's
rotation and a circuit's state are current). `Targets.open_stream()`
gives a `FailoverStream`, which the relay reads like a provider's `ChatStream`:

- A provider chosen directly is sent as before (the provider's retry policy applies) and the
  stream passes through untouched; its outcome — the first output, or a failure before it —
  goes to the provider's circuit and to `on_outcome` (the health monitor).
- A route's members are tried in the strategy's order (`backend.chat.strategy`). A member
  whose circuit is open is skipped without a request (`attempt` skipped). A member is sent with
  `IN_ROUTE` (one attempt, no waits); when it fails before its first output with a failover code
  (`FAILOVER_CODES`), `attempt` failed is queued and the next member is opened at once; with
  another code, or when it was the last, the request fails with that member's error. The
  moment a member produces output (or ends without any, which is an answer too), `attempt`
  answering is queued just before it, and from then on its events pass straight through:
  nothing after the first token is ever retried.

Everything runs on the reader's thread, inside `next_batch`: opening a provider stream only
hands a coroutine to the provider loop, so a member refused at connect is followed by the next
member's request within the same read. `cancel()` may come from any thread (a delete of the
conversation): it stops the member being read, or the next one before it is opened.
`Targets.complete()` does the same for `POST /api/chat`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from backend.chat.strategy import Step, Turns, all_paused, order_members
from backend.errors import (
    InternalError,
    InvalidConfig,
    InvalidResponse,
    MiaodaError,
    NotFound,
    upstream_failure,
)
from backend.i18n import tr
from backend.manager import CustomProviderManager
from backend.models import ChatEvent, ChatRequest, KeyRotation, ProviderConfig
from backend.providers import IN_ROUTE, ChatStream, ProviderService
from backend.providers.circuit import FAILOVER_CODES, Admission, CircuitBreakers
from backend.providers.stream import CANCELLED, CONTENT_KINDS, RETRYING, error_event
from backend.storage import Route, RouteStore

log = logging.getLogger("miaoda.chat")

# Receives each provider's outcome: None when it answered, else the failure before answering.
OutcomeCallback = Callable[[str, MiaodaError | None], None]
# Receives the analytics record of each member that failed inside a route (see the relay's).
RecordCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Target:
    """What one chat request is sent to: `provider` (with `key`) or `route`, never both."""

    id: str
    provider: ProviderConfig | None = None
    key: str | None = None
    route: Route | None = None

    @property
    def route_id(self) -> str | None:
        return None if self.route is None else self.route.id

    @property
    def model(self) -> str | None:
        """The model a direct request asks for; None for a route (each member uses its own)."""
        return None if self.provider is None else self.provider.model


class Targets:
    """Resolves a chat's `providerId` and sends the request there (see the module docstring)."""

    def __init__(
        self,
        manager: CustomProviderManager,
        providers: ProviderService,
        routes: RouteStore | None,
        circuits: CircuitBreakers | None,
        *,
        on_outcome: OutcomeCallback | None = None,
        on_record: RecordCallback | None = None,
        defer: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._manager = manager
        self._providers = providers
        self._routes = routes
        self._circuits = circuits or CircuitBreakers()
        self._turns = Turns()
        self._on_outcome = on_outcome
        self._on_record = on_record
        # Where failed members' records are stored: here, or handed to `defer` (the app's
        # background writer) so that the next member's first token never waits for a disk sync.
        self._defer = defer

    # --- resolving ------------------------------------------------------------------------------

    def resolve(self, target_id: str, *, model: str | None) -> Target:
        """The provider or route `target_id` names, with the request's model.

        NotFound when it names neither; InvalidConfig for a model override of a route, or a
        route without members.
        """
        try:
            config, key = self._manager.with_key(target_id)
        except NotFound:
            route = None if self._routes is None else self._routes.get_route(target_id)
            if route is None:
                raise NotFound(
                    tr("routes.targetGone"), fields={"providerId": [tr("routes.targetGoneField")]}
                ) from None
            if model:
                raise InvalidConfig(
                    tr("routes.noModel"), fields={"model": [tr("routes.noModelField")]}
                ) from None
            if not route.members:
                raise InvalidConfig(
                    tr("routes.empty", name=route.display_name),
                    fields={"providerId": [tr("routes.emptyField")]},
                ) from None
            return Target(route.id, route=route)
        if model:
            config = replace(config, model=model)
        return Target(config.id, provider=config, key=key)

    # --- streaming ------------------------------------------------------------------------------

    def open_stream(self, target: Target, request: ChatRequest) -> FailoverStream:
        """Start the request; read it with `next_batch` (see `FailoverStream`)."""
        started = time.perf_counter()
        if target.provider is not None:
            config = target.provider
            stream = self._providers.open_stream(config, target.key, request)
            return FailoverStream(self, None, [], request, started, _Member(config, stream, None))
        assert target.route is not None
        return FailoverStream(self, target, self._plan(target.route), request, started, None)

    def _plan(self, route: Route) -> list[Step]:
        members = route.members
        views = self._circuits.views(members)
        ttft = None
        if route.strategy == "fastest" and self._routes is not None:
            ttft = self._routes.recent_ttft_ms(members)
        return order_members(route, views, turn=self._turns.take(route.id), ttft_ms=ttft)

    # --- whole answers --------------------------------------------------------------------------

    def report_for(self, target: Target) -> Report:
        """An empty report of who answered a request to `target`, for `complete`."""
        report = Report(target.route_id, None, None, [])
        if target.provider is not None:
            report.tried(target.provider)
        return report

    def complete(self, target: Target, request: ChatRequest, report: Report) -> dict[str, Any]:
        """A non-streamed answer (`message`, `usage`, `finishReason`); `report` (from
        `report_for`) is filled in as members are tried. A route that gets no answer raises the
        last member's failure (or, when every member was skipped, the paused error)."""
        if target.provider is not None:
            config = target.provider
            try:
                result = self._providers.chat(config, target.key, request)
            except MiaodaError as error:
                self._outcome(config.id, error, None)
                raise
            self._outcome(config.id, None, None)
            return result
        assert target.route is not None
        walk = _Walk(self, target.route, self._plan(target.route), report.attempts.append)
        paused = walk.paused()
        if paused is not None:
            raise paused
        while (member := walk.next()) is not None:
            config, key, admission = member
            started = time.perf_counter()
            report.tried(config)
            try:
                result = self._providers.chat(config, key, request, retry=IN_ROUTE)
            except MiaodaError as error:
                self._outcome(config.id, error, admission)
                if not walk.failed(config, error):
                    break  # the request's own record is this member's
                self._record(_failed_record(config, error, target.route.id, started))
                continue
            except BaseException:
                self._circuits.cancelled(config.id, admission)
                raise
            self._outcome(config.id, None, admission)
            walk.answering(config)
            return result
        raise walk.final_error()

    # --- shared ---------------------------------------------------------------------------------

    def _outcome(
        self, provider_id: str, error: MiaodaError | None, admission: Admission | None
    ) -> None:
        """Tell the circuit and the health monitor how a request to the provider went."""
        if error is None:
            self._circuits.succeeded(provider_id, admission)
        else:
            self._circuits.failed_with(provider_id, error, admission)
        if self._on_outcome is not None:
            try:
                self._on_outcome(provider_id, error)
            except Exception:
                log.exception("reporting the outcome of a chat with %s failed", provider_id)

    def _record(self, record: dict[str, Any]) -> None:
        store = self._on_record
        if store is None:
            return
        if self._defer is not None:
            self._defer(lambda: store(record))
            return
        try:
            store(record)
        except Exception:
            log.exception("recording a failed attempt failed")

    def _name(self, provider_id: str) -> str:
        try:
            return self._manager.get(provider_id).display_name
        except MiaodaError:
            return provider_id

    def _skipped(self, provider_id: str) -> dict[str, Any]:
        view = self._circuits.view(provider_id)
        reason = view.circuit.reason
        if reason is None:
            message = tr("routes.skipped")
        else:
            message = tr("routes.skippedAfter", code=reason.code)
        try:
            model: str | None = self._manager.get(provider_id).model
        except MiaodaError:
            model = None
        return {
            "providerId": provider_id,
            "providerName": self._name(provider_id),
            "model": model,
            "outcome": "skipped",
            "code": "CIRCUIT_OPEN",
            "message": message + ".",
        }


@dataclass
class Report:
    """Who answered a request: the route asked (None for a direct request), the provider and
    model that answered (None when none did; for a route that failed, the last one tried), the
    members considered (`attempt` objects), and the key pool the provider was sent with."""

    route_id: str | None
    provider_id: str | None
    model: str | None
    attempts: list[dict[str, Any]]
    rotation: KeyRotation | None = field(default=None, repr=False)

    @property
    def key_id(self) -> str | None:
        """The id of the provider's key the request was last sent with, if it has keys."""
        return None if self.rotation is None else self.rotation.current

    def tried(self, config: ProviderConfig) -> None:
        """`config`'s provider is the one being asked now."""
        self.provider_id, self.model, self.rotation = config.id, config.model, config.rotation


@dataclass
class _Member:
    """The member being read: its config, its stream and the circuit's leave (None: direct)."""

    config: ProviderConfig
    stream: ChatStream
    admission: Admission | None


class FailoverStream:
    """A request to a provider or a route, read like a `ChatStream` (see the module docstring).

    `report` says who answered (for `done` and the stored reply), `started` is when the request
    began (the first member's time to first token includes the members that failed before it).
    """

    def __init__(
        self,
        targets: Targets,
        target: Target | None,
        steps: list[Step],
        request: ChatRequest,
        started: float,
        member: _Member | None,
    ) -> None:
        self._targets = targets
        self._target = target
        route = None if target is None else target.route
        self._walk = None if route is None else _Walk(targets, route, steps, self._note)
        self._notes: list[ChatEvent] = []
        self._request = request
        self.started = started
        self._lock = threading.Lock()
        self._member = member  # set under the lock: cancel() reads it from another thread
        self._cancelled = False
        self._answering = False
        self._finished = False
        self._error: MiaodaError | None = None
        self._unreported: list[tuple[_Member, MiaodaError, dict[str, Any] | None]] = []
        route_id = None if target is None else target.route_id
        first = None if member is None else member.config
        self.report = Report(route_id, None, None, [])
        if first is not None:
            self.report.tried(first)

    # --- the ChatStream interface -----------------------------------------------------------

    def next_batch(self, timeout: float) -> list[ChatEvent] | None:
        """Events available now, waiting up to `timeout` s; [] on timeout; None at the end."""
        if self._answering:
            assert self._member is not None
            return self._member.stream.next_batch(timeout)
        if self._finished:
            return None
        if self._target is None:
            return self._direct(timeout)
        return self._trying(timeout)

    def cancel(self) -> None:
        """Stop the request: the member being read, or the next before it is opened."""
        with self._lock:
            self._cancelled = True
            member = self._member
        if member is not None:
            member.stream.cancel()

    @property
    def error(self) -> MiaodaError | None:
        """The failure the request ended with, once its `error` event was handed out."""
        if self._member is not None and self._answering:
            return self._member.stream.error
        return self._error

    def usage(self) -> dict[str, Any]:
        """The answering member's token counts (zero before any member answered)."""
        if self._member is None:
            return {"inputTokens": 0, "outputTokens": 0, "source": "estimated"}
        return self._member.stream.usage()

    @property
    def first_output(self) -> float | None:
        return None if self._member is None else self._member.stream.first_output

    # --- a provider chosen directly --------------------------------------------------------------

    def _direct(self, timeout: float) -> list[ChatEvent] | None:
        member = self._member
        assert member is not None
        batch = member.stream.next_batch(timeout)
        if not batch:
            return batch
        for event in batch:
            kind = event.kind
            if kind in CONTENT_KINDS or kind == "done":
                self._answering = True
                if event.data.get("finishReason") == "cancelled" and kind == "done":
                    self._targets._circuits.cancelled(member.config.id, None)
                else:
                    self._targets._outcome(member.config.id, None, None)
                break
            if kind == "error":
                self._answering = True  # the rest of this stream passes through as it is
                self._targets._outcome(member.config.id, _error_of(member.stream, event), None)
                break
        return batch

    # --- a route ----------------------------------------------------------------------------

    def _trying(self, timeout: float) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        deadline = time.monotonic() + timeout
        while True:
            member = self._member
            if member is None:
                opened = self._open_next(out)
                self._report_failures()  # after the next member's request is on its way
                if not opened:
                    return out  # finished: `out` ends with the terminal
                if out:
                    return out  # the attempts so far go out before waiting on the new member
                continue
            batch = member.stream.next_batch(max(0.0, deadline - time.monotonic()))
            if batch is None:  # the stream vanished without its terminal
                batch = [error_event(InvalidResponse(tr("routes.streamEndedEarly")))]
            for index, event in enumerate(batch):
                kind = event.kind
                if kind in CONTENT_KINDS or kind == "done":
                    before = [e for e in batch[:index] if e.kind != RETRYING]
                    return self._answered(member, before + batch[index:], out)
                if kind == "error":
                    if self._failed(member, _error_of(member.stream, event), out):
                        return out
                    break  # the next member is opened on the next turn of the loop
                # Nothing else comes before the first output of a one-attempt request but a
                # notice; it belongs to this member, and goes out only if it answers.
            else:
                if time.monotonic() >= deadline:
                    return out

    def _open_next(self, out: list[ChatEvent]) -> bool:
        """Open the next member that may be tried, noting the skipped ones in `out`; False when
        the request is over (then `out` ends with its terminal)."""
        walk = self._walk
        assert walk is not None
        paused = walk.paused()
        if paused is not None:
            out.extend(self._take_notes())
            self._end(out, paused)
            return False
        while (member := walk.next()) is not None:
            out.extend(self._take_notes())
            config, key, admission = member
            with self._lock:
                if self._cancelled:
                    self._targets._circuits.cancelled(config.id, admission)
                    self._finished = True
                    out.append(CANCELLED)
                    return False
                stream = self._targets._providers.open_stream(
                    config, key, self._request, retry=IN_ROUTE
                )
                self._member = _Member(config, stream, admission)
            self.report.tried(config)
            return True
        out.extend(self._take_notes())
        self._end(out, walk.final_error())
        return False

    def _note(self, attempt: dict[str, Any]) -> None:
        self._notes.append(self._attempt_event(attempt))

    def _take_notes(self) -> list[ChatEvent]:
        notes, self._notes = self._notes, []
        return notes

    def _answered(
        self, member: _Member, rest: list[ChatEvent], out: list[ChatEvent]
    ) -> list[ChatEvent]:
        first = next(e for e in rest if e.kind in CONTENT_KINDS or e.kind == "done")
        if first.kind == "done" and first.data.get("finishReason") == "cancelled":
            self._targets._circuits.cancelled(member.config.id, member.admission)
        else:
            self._targets._outcome(member.config.id, None, member.admission)
            assert self._walk is not None
            self._walk.answering(member.config)
            out.extend(self._take_notes())
        self._answering = True
        out.extend(rest)
        return out

    def _failed(self, member: _Member, error: MiaodaError, out: list[ChatEvent]) -> bool:
        """Note a member's failure; True when the request ends with it (`out` then ends with
        its terminal), False when the next member gets its turn."""
        assert self._walk is not None
        goes_on = self._walk.failed(member.config, error)
        out.extend(self._take_notes())
        with self._lock:
            self._member = None
        self._error = error
        # A member the request moves on from gets a usage record of its own; the request's own
        # record (the relay's) is that of the member it ends with. Reported once the next
        # member is opened: the reports change circuits and health records, and the next
        # member's request should not wait for that.
        record = _failed_record(member.config, error, self.report.route_id, member.stream.started)
        self._unreported.append((member, error, record if goes_on else None))
        if goes_on:
            return False
        self._report_failures()
        self._end(out, error)
        return True

    def _report_failures(self) -> None:
        """Tell circuits, health and the usage records about the members that failed."""
        while self._unreported:
            member, error, record = self._unreported.pop(0)
            self._targets._outcome(member.config.id, error, member.admission)
            if record is not None:
                self._targets._record(record)

    def _end(self, out: list[ChatEvent], error: MiaodaError) -> None:
        self._error = error
        self._finished = True
        out.append(error_event(error))

    def _attempt_event(self, attempt: dict[str, Any]) -> ChatEvent:
        self.report.attempts.append(attempt)
        return ChatEvent("attempt", attempt)


class _Walk:
    """A route's members in their turn, for a streamed and a whole answer alike: which member
    to send to next (its circuit admitted it and its config and key could be read), and the
    `attempt` objects of the members skipped, failed and answering, handed to `note` in order.
    Circuits, health and usage records stay with the caller, which knows when to report them.
    """

    def __init__(
        self,
        targets: Targets,
        route: Route,
        steps: list[Step],
        note: Callable[[dict[str, Any]], None],
    ) -> None:
        self._targets = targets
        self.route = route
        self._steps = steps
        self._note = note
        self._index = 0
        self._error: MiaodaError | None = None

    def paused(self) -> MiaodaError | None:
        """At the start, when every member is paused: each noted as skipped, and the error the
        request ends with at once (the first member's opening error, saying so)."""
        if self._index:
            return None
        paused = all_paused(self._steps)
        if paused is None:
            return None
        for step in self._steps:
            self._note(self._targets._skipped(step.provider_id))
        self._index = len(self._steps)
        reason = paused.reason
        return _paused_error(self.route, reason.code, reason.message, paused.retry_after)

    def next(self) -> tuple[ProviderConfig, str | None, Admission] | None:
        """The next member to send to, with its key and its circuit's admission; None when no
        member is left. Members whose circuit is open are noted as skipped; one that cannot be
        read (removed meanwhile, its key unreadable) is noted as failed and passed over."""
        targets = self._targets
        while self._index < len(self._steps):
            step = self._steps[self._index]
            self._index += 1
            admission = None if step.skip else targets._circuits.admit(step.provider_id)
            if admission is None:
                self._note(targets._skipped(step.provider_id))
                continue
            try:
                config, key = targets._manager.with_key(step.provider_id)
            except MiaodaError as unusable:
                targets._circuits.cancelled(step.provider_id, admission)
                name = targets._name(step.provider_id)
                self._note(_attempt(step.provider_id, name, None, "failed", unusable))
                self._error = unusable
                continue
            return config, key, admission
        return None

    def failed(self, config: ProviderConfig, error: MiaodaError) -> bool:
        """Note the member's failure; whether the request goes on to another member (only
        for the failover codes, and while a member that may be tried is left)."""
        self._note(_attempt(config.id, config.display_name, config.model, "failed", error))
        self._error = error
        return error.code in FAILOVER_CODES and _any_left(self._steps, self._index - 1)

    def answering(self, config: ProviderConfig) -> None:
        self._note(_attempt(config.id, config.display_name, config.model, "answering", None))

    def final_error(self) -> MiaodaError:
        """What a request that no member answered ends with: the last failure, or the paused
        error when every member was skipped."""
        return self._error or _all_skipped(self.route)


def _attempt(
    provider_id: str,
    name: str,
    model: str | None,
    outcome: str,
    error: MiaodaError | None,
) -> dict[str, Any]:
    return {
        "providerId": provider_id,
        "providerName": name,
        "model": model,
        "outcome": outcome,
        "code": None if error is None else error.code,
        "message": None if error is None else error.message,
    }


def _any_left(steps: Sequence[Step], index: int) -> bool:
    """Whether a member after `steps[index]` may still be tried."""
    return any(not step.skip for step in steps[index + 1 :])


def _error_of(stream: ChatStream, event: ChatEvent) -> MiaodaError:
    """The failure behind a stream's `error` event."""
    if stream.error is not None:
        return stream.error
    data = event.data
    code, message = str(data.get("code")), str(data.get("message") or "")
    if code == InternalError.code:
        return InternalError(message)
    return upstream_failure(
        code, message, retry_after=data.get("retryAfter"), upstream_status=data.get("httpStatus")
    )


def _all_skipped(route: Route) -> MiaodaError:
    """Every member skipped, and no failure of theirs to tell."""
    return _paused_error(route, "UPSTREAM_ERROR", tr("routes.allSkipped"), 1)


def _paused_error(route: Route, code: str, message: str, retry_after: float) -> MiaodaError:
    """Every member skipped: the error that opened the first one's circuit, saying so."""
    reason = message.rstrip(".。")
    text = tr("routes.paused", name=route.display_name, reason=reason, seconds=f"{retry_after:g}")
    return upstream_failure(code, text, retry_after=retry_after)


def _failed_record(
    config: ProviderConfig, error: MiaodaError, route_id: str | None, started: float
) -> dict[str, Any]:
    """The usage record of a member that failed inside a route before the next was tried."""
    return {
        "requestId": uuid.uuid4().hex,
        "providerId": config.id,
        "model": config.model,
        "inputTokens": None,
        "outputTokens": None,
        "usageSource": None,
        "ttftMs": None,
        "elapsedMs": round((time.perf_counter() - started) * 1000),
        "finishReason": "error",
        "errorCode": error.code,
        "routeId": route_id,
        "keyId": None if config.rotation is None else config.rotation.current,
    }
