"""The tool loop of a chat request (docs/API.md, "Tools in a chat"; CONTRACT §12).

A request that names `toolServers` is offered the enabled tools of those servers (a
`ToolCatalog`, `backend.tools.model`; `ToolBox.offer`). When a round of the model ends with
tool calls, each call is run: at once when its tool's approval is `always`, after the user
answers a `tool_approval` event (`answerToolApproval`) when it is `ask`. Calls of one round run
in parallel. The assistant's message with its calls and one `tool` message per call then go
back to the model, in the same target (a route fails over in every round), and the next round
begins; at most `MAX_ROUNDS` rounds are sent, and a last round that still asks for tools ends
the request with `finishReason: "tool_limit"` (its calls are shown, not run).

Two drivers share the rules: `ToolLoop`, the event stream the relay reads for
`/api/chat/stream` (it reads like a `FailoverStream`), and `complete_loop` for `/api/chat`,
where `ask` tools are declined at once (nobody can answer). The app gives every call its own id
(`call_…`, unique within the request): the `tool_call` event, the approval, the result, the
history sent back and the stored conversation all use it, whatever id the provider sent.

What a tool returns is untrusted text: every stored secret is masked (`REDACTOR`) and it is cut
to `RESULT_LIMIT` characters ("[… 12,345 characters cut]") before it is emitted, stored or sent
to the model. Words the model reads (a declined call, an unknown tool) stay English, as all text
for a model does (docs/TRANSLATION.md); the UI words its own from the `tool_result` fields.

Events the loop adds to a stream: `tool_approval {callId, serverId, serverName, name, arguments}`
and `tool_result {callId, serverId, name, content, isError, elapsedMs, declined, cutChars}`
(`name` is the tool's name on its server, the one `setMcpToolPolicy` takes). The rounds' own
`usage` events are summed into one before `done` (none after an error or a cancel, as for one
round); a route's `attempt` events go out for the first round only (the contract's order: they
follow `start`).

A stop (the client goes away, or the conversation is deleted) cancels the round being read,
every running call (`Future.cancel`) and every pending approval at once. A conversation
(`Ledger`) stores the chain as the loop runs: each round's reply, and one `tool` message per
result, in the order they finish.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from backend.chat.failover import FailoverStream, Report
from backend.errors import MiaodaError, NotFound
from backend.i18n import tr
from backend.models import ChatEvent, ChatMessage, ChatRequest, ToolCall, ToolSpec
from backend.providers.stream import CANCELLED, CONTENT_KINDS, error_event
from backend.redact import REDACTOR
from backend.tools.model import OfferedTool, ToolCatalog, ToolOutcome

log = logging.getLogger("miaoda.chat")

MAX_ROUNDS = 10
"""Requests one chat request may send to the model; the last one's calls are not run."""
RESULT_LIMIT = 64_000
"""Characters of one tool result the model (and the user, and the store) gets at most."""
APPROVAL_SECONDS = 300.0
"""How long a call waits for the user's answer before it is declined."""
CALL_GRACE = 5.0
"""Seconds past a tool's own timeout after which the loop stops waiting for its call."""

Decision = Literal["allow", "deny"]

# What the model reads (English, like every text for a model: docs/TRANSLATION.md).
DECLINED = "The user declined to run this tool."
NOT_ANSWERED = "The user did not answer the request to run this tool in time, so it was not run."
NOT_ASKED = (
    "This tool needs the user's approval, which a request without a stream cannot ask for, "
    "so it was not run."
)
UNKNOWN_TOOL = "There is no tool named {name}."
BAD_ARGUMENTS = "The arguments are not a JSON object, so the tool was not run."
NO_ANSWER = "The tool did not answer within {seconds:g} s."
FAILED = "The tool call failed: {reason}"
NO_OUTPUT = "(The tool returned no output.)"
CUT = "[… {count:,} characters cut]"


# --- approvals ----------------------------------------------------------------------------


@dataclass
class _Pending:
    """One call waiting for the user: the answer (None until given) and whom to wake."""

    wake: Callable[[], None]
    decision: Decision | None = None


class ToolApprovals:
    """The calls waiting for `answerToolApproval`, by (requestId, callId). An entry leaves
    when it is answered, when the loop gives up waiting, or when its request stops; any of
    these makes a later answer `NOT_FOUND`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Pending] = {}

    def ask(self, request_id: str, call_id: str, wake: Callable[[], None]) -> _Pending:
        pending = _Pending(wake)
        with self._lock:
            self._pending[(request_id, call_id)] = pending
        return pending

    def answer(self, request_id: str, call_id: str, decision: Decision) -> None:
        """The user's answer; NotFound when no such call waits (unknown, answered, over)."""
        with self._lock:
            pending = self._pending.pop((request_id, call_id), None)
            if pending is not None:
                pending.decision = decision
        if pending is None:
            raise NotFound(
                tr("toolLoop.approvalGone"), fields={"callId": [tr("toolLoop.approvalGoneField")]}
            )
        pending.wake()

    def withdraw(self, request_id: str, call_id: str) -> None:
        """Stop waiting for one call (its time is up)."""
        with self._lock:
            self._pending.pop((request_id, call_id), None)

    def withdraw_all(self, request_id: str) -> None:
        """Stop waiting for every call of a request (it stopped)."""
        with self._lock:
            for key in [k for k in self._pending if k[0] == request_id]:
                del self._pending[key]

    def waiting(self, request_id: str | None = None) -> int:
        """How many calls wait for an answer (of one request, or of all)."""
        with self._lock:
            return sum(1 for key in self._pending if request_id in (None, key[0]))


# --- what is offered ----------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """The tools one request offers, by the name the model sees."""

    tools: Mapping[str, OfferedTool]

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(
            ToolSpec(t.exposed_name, t.description, dict(t.input_schema))
            for t in self.tools.values()
        )


class ToolBox:
    """The chat's side of the tools: the catalogue (None: no tools are ever offered, and
    `toolServers` is ignored), the approvals waiting, and the loop's limits (tests shorten
    them)."""

    def __init__(
        self,
        catalog: ToolCatalog | None = None,
        *,
        approval_seconds: float = APPROVAL_SECONDS,
        max_rounds: int = MAX_ROUNDS,
        result_limit: int = RESULT_LIMIT,
    ) -> None:
        self.catalog = catalog
        self.approvals = ToolApprovals()
        self.approval_seconds = approval_seconds
        self.max_rounds = max_rounds
        self.result_limit = result_limit

    def offer(self, server_ids: Sequence[str]) -> Offer | None:
        """The enabled tools of these servers, or None when there are none to offer."""
        catalog = self.catalog
        if catalog is None or not server_ids:
            return None
        offered = catalog.offered(list(dict.fromkeys(server_ids)))
        if not offered:
            return None
        return Offer({tool.exposed_name: tool for tool in offered})


# --- one call -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolResult:
    """A settled call, as emitted, stored and sent back: `content` is redacted and capped."""

    call_id: str
    server_id: str | None
    name: str
    content: str
    is_error: bool
    elapsed_ms: int
    declined: bool = False
    cut_chars: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The `tool_result` event's object."""
        return {
            "callId": self.call_id,
            "serverId": self.server_id,
            "name": self.name,
            "content": self.content,
            "isError": self.is_error,
            "elapsedMs": self.elapsed_ms,
            "declined": self.declined,
            "cutChars": self.cut_chars,
        }

    def message(self) -> ChatMessage:
        """The `tool` message that answers the call in the history."""
        return ChatMessage("tool", self.content, tool_call_id=self.call_id, is_error=self.is_error)


@dataclass
class _Call:
    """One call of the round being run."""

    id: str
    name: str  # as the model called it (the offered tool's exposed name)
    arguments: str
    tool: OfferedTool | None
    parsed: dict[str, Any] | None = None
    pending: _Pending | None = None
    asked_until: float = 0.0
    future: concurrent.futures.Future[ToolOutcome] | None = None
    run_until: float = 0.0
    started: float = 0.0
    result: ToolResult | None = None

    def to_call(self) -> ToolCall:
        return ToolCall(self.id, self.name, self.arguments)

    def settle(
        self, box: ToolBox, text: str, is_error: bool, elapsed_ms: int = 0, declined: bool = False
    ) -> ToolResult:
        """Its result: the text redacted, then cut to the box's limit."""
        content, cut = cap(REDACTOR.redact(text), box.result_limit)
        tool = self.tool
        self.result = ToolResult(
            call_id=self.id,
            server_id=None if tool is None else tool.server_id,
            name=self.name if tool is None else tool.name,
            content=content or NO_OUTPUT,
            is_error=is_error,
            elapsed_ms=elapsed_ms,
            declined=declined,
            cut_chars=cut,
        )
        return self.result

    def approval_event(self) -> ChatEvent:
        assert self.tool is not None
        return ChatEvent(
            "tool_approval",
            {
                "callId": self.id,
                "serverId": self.tool.server_id,
                "serverName": self.tool.server_name,
                "name": self.tool.name,
                "arguments": self.arguments,
            },
        )


def cap(text: str, limit: int) -> tuple[str, int]:
    """`text` cut to `limit` characters with a note saying how many were cut, and that count."""
    if len(text) <= limit:
        return text, 0
    cut = len(text) - limit
    return text[:limit] + "\n" + CUT.format(count=cut), cut


def _arguments(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text or "{}")
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _outcome_of(future: concurrent.futures.Future[ToolOutcome]) -> tuple[str, bool, int | None]:
    """(text, is_error, elapsed_ms or None) of a finished call."""
    if future.cancelled():
        return FAILED.format(reason="cancelled"), True, None
    error = future.exception()
    if error is not None:
        reason = str(error) or type(error).__name__
        return FAILED.format(reason=reason), True, None
    outcome = future.result()
    return outcome.content, outcome.is_error, outcome.elapsed_ms


def _new_id(taken: set[str]) -> str:
    while True:
        call_id = "call_" + uuid.uuid4().hex[:24]
        if call_id not in taken:
            taken.add(call_id)
            return call_id


def _ms(since: float, now: float | None = None) -> int:
    return round(((time.perf_counter() if now is None else now) - since) * 1000)


# --- usage over rounds -----------------------------------------------------------------------


def add_usage(total: dict[str, Any] | None, usage: Mapping[str, Any]) -> dict[str, Any]:
    """Two rounds' token counts as one: reported only when both were."""
    if total is None:
        return dict(usage)
    summed: dict[str, Any] = {
        "inputTokens": (total.get("inputTokens") or 0) + (usage.get("inputTokens") or 0),
        "outputTokens": (total.get("outputTokens") or 0) + (usage.get("outputTokens") or 0),
        "source": "reported"
        if total.get("source") == usage.get("source") == "reported"
        else "estimated",
    }
    cached = [u["cachedInputTokens"] for u in (total, usage) if u.get("cachedInputTokens")]
    if cached:
        summed["cachedInputTokens"] = sum(cached)
    return summed


# --- the conversation's side -----------------------------------------------------------------


class Ledger(Protocol):
    """Where a conversation keeps the chain as the loop runs (`backend.chat.conversations`)."""

    def observe(self, batch: list[ChatEvent]) -> None:
        """Events of the round being streamed (text, calls with the app's ids, its usage)."""
        ...

    def end_streamed_round(self, record: dict[str, Any]) -> None:
        """The streamed round asked for tools: its reply is complete (`finishReason`
        "tool_calls", the round's `ttftMs`, `elapsedMs`)."""
        ...

    def end_whole_round(self, result: dict[str, Any], elapsed_ms: int) -> None:
        """The same for a whole answer (its `message` carries the app's call ids)."""
        ...

    def tool_result(self, result: ToolResult) -> None:
        """A call settled."""
        ...

    def next_round(self) -> None:
        """The next round is about to be sent: its reply starts."""
        ...

    def opened(self, report: Report) -> None:
        """The next round was sent; `report` says who answers it."""
        ...


def _guard(what: str, action: Callable[..., None], *args: Any) -> None:
    """Run a ledger step; a store that fails (the conversation was deleted meanwhile) must not
    break the user's stream."""
    try:
        action(*args)
    except Exception:
        log.exception("storing the tool loop's %s failed", what)


# --- the streamed loop ---------------------------------------------------------------------


class ToolLoop:
    """The rounds of one streamed request, read like one stream (see the module docstring).

    `open_round(request)` sends one round to the target (`Targets.open_stream`); the first is
    sent here, so a refusal raises before anything is streamed. `next_batch` runs on the
    relay's thread; `cancel` may come from any thread.
    """

    def __init__(
        self,
        box: ToolBox,
        offer: Offer,
        request: ChatRequest,
        open_round: Callable[[ChatRequest], FailoverStream],
        *,
        request_id: str,
        ledger: Ledger | None = None,
    ) -> None:
        self.started = time.perf_counter()
        self._box = box
        self._offer = offer
        self._open_round = open_round
        self._request_id = request_id
        self._ledger = ledger
        self._request = replace(request, tools=offer.specs)
        self._messages = list(request.messages)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._cancelled = False
        self._over = False
        self._running_tools = False
        self._rounds = 1
        self._ids: set[str] = set()
        self._calls: list[_Call] = []
        self._text: list[str] = []
        self._total: dict[str, Any] | None = None
        self._round_usage: dict[str, Any] | None = None
        self._stream = open_round(self._request)
        self._first: float | None = None

    # --- the EventStream interface ---------------------------------------------------------

    @property
    def report(self) -> Report:
        """Who answers the round being read (`done` names them)."""
        return self._stream.report

    @property
    def error(self) -> MiaodaError | None:
        return self._stream.error

    @property
    def rounds(self) -> int:
        return self._rounds

    def next_batch(self, timeout: float) -> list[ChatEvent] | None:
        """Events available now, waiting up to `timeout` s; [] on timeout; None at the end."""
        if self._over:
            return None
        if self._running_tools:
            return self._tools_batch(timeout)
        return self._model_batch(timeout)

    def cancel(self) -> None:
        """Stop: the round being read, every running call, every pending approval."""
        with self._lock:
            self._cancelled = True
            stream = self._stream
            futures = [c.future for c in self._calls if c.future is not None and c.result is None]
        stream.cancel()
        for future in futures:
            future.cancel()
        self._box.approvals.withdraw_all(self._request_id)
        self._wake.set()

    def usage(self) -> dict[str, Any]:
        """The tokens of every round so far (the one being read included)."""
        if self._running_tools or self._over:
            return self._total or self._stream.usage()
        return add_usage(self._total, self._round_usage or self._stream.usage())

    def round_times(self) -> tuple[int | None, int]:
        """The round being read: ms to its first output (None: none yet) and since it began."""
        started = self._stream.started
        first = None if self._first is None else _ms(started, self._first)
        return first, _ms(started)

    # --- reading a round of the model --------------------------------------------------------

    def _model_batch(self, timeout: float) -> list[ChatEvent] | None:
        batch = self._stream.next_batch(timeout)
        if batch is None:
            self._over = True
            return None
        out: list[ChatEvent] = []
        seen: list[ChatEvent] = []
        for event in batch:
            kind = event.kind
            if kind == "attempt":
                if self._rounds == 1:
                    out.append(event)
                continue
            if kind in CONTENT_KINDS and self._first is None:
                self._first = time.perf_counter()
            if kind == "tool_call":
                event = self._take_call(event)
            elif kind == "delta":
                self._text.append(event.data["text"])
            elif kind == "usage":
                self._round_usage = dict(event.data)
                seen.append(event)
                continue  # one usage for the whole request goes out at its end
            elif kind == "error":
                seen.append(event)
                self._observe(seen)
                self._over = True
                return [*out, event]
            elif kind == "done":
                self._observe(seen)
                return out + self._round_done(event)
            seen.append(event)
            out.append(event)
        self._observe(seen)
        return out

    def _observe(self, seen: list[ChatEvent]) -> None:
        ledger = self._ledger
        if ledger is not None and seen:
            _guard("reply", ledger.observe, seen)

    def _take_call(self, event: ChatEvent) -> ChatEvent:
        data = event.data
        name, arguments = str(data["name"]), str(data["arguments"])
        call = _Call(_new_id(self._ids), name, arguments, self._offer.tools.get(name))
        with self._lock:
            self._calls.append(call)
        return ChatEvent("tool_call", {**data, "id": call.id})

    def _round_done(self, event: ChatEvent) -> list[ChatEvent]:
        reason = event.data.get("finishReason")
        self._total = add_usage(self._total, self._round_usage or self._stream.usage())
        if reason == "cancelled":
            self._over = True
            return [event]
        if not self._calls or reason not in ("tool_calls", "stop"):
            self._over = True
            return [*self._usage_events(), event]
        if self._cancelled:  # stopped as the round ended: its calls are not run
            self._over = True
            return [CANCELLED]
        if self._rounds >= self._box.max_rounds:
            self._over = True
            return [*self._usage_events(), ChatEvent("done", {"finishReason": "tool_limit"})]
        ledger = self._ledger
        if ledger is not None:
            ttft, elapsed = self.round_times()
            record = {"finishReason": "tool_calls", "ttftMs": ttft, "elapsedMs": elapsed}
            _guard("reply", ledger.end_streamed_round, record)
        self._running_tools = True
        return self._start_calls()

    def _usage_events(self) -> list[ChatEvent]:
        """The one `usage` event of a request that ended normally (an error or a cancel sends
        none; the record still counts every round, see `usage`)."""
        return [] if self._total is None else [ChatEvent("usage", self._total)]

    # --- running the calls -----------------------------------------------------------------

    def _start_calls(self) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        now = time.monotonic()
        for call in self._calls:
            problem = _problem(call)
            if problem is not None:
                out += self._settled(call, problem, True)
            elif call.tool is not None and call.tool.approval == "ask":
                call.pending = self._box.approvals.ask(self._request_id, call.id, self._wake.set)
                call.asked_until = now + self._box.approval_seconds
                out.append(call.approval_event())
            else:
                self._run(call)
        return out + self._tools_batch(0.0)

    def _run(self, call: _Call) -> None:
        tool = call.tool
        assert tool is not None and call.parsed is not None
        with self._lock:
            if self._cancelled:
                return
            call.started = time.perf_counter()
            call.run_until = time.monotonic() + tool.call_timeout + CALL_GRACE
            future = call.future = _start(self._box.catalog, tool, call.parsed)
        future.add_done_callback(lambda _: self._wake.set())

    def _tools_batch(self, timeout: float) -> list[ChatEvent]:
        deadline = time.monotonic() + timeout
        while True:
            if self._cancelled:
                return self._stop()
            self._wake.clear()
            out = self._poll()
            if all(call.result is not None for call in self._calls):
                return out + self._next_round()
            if out:
                return out
            now = time.monotonic()
            if now >= deadline:
                return out
            due = [c.asked_until for c in self._calls if c.pending and c.result is None]
            due += [c.run_until for c in self._calls if c.future and c.result is None]
            self._wake.wait(max(0.0, min([deadline, *due]) - now))

    def _poll(self) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        now = time.monotonic()
        for call in self._calls:
            if call.result is not None:
                continue
            pending = call.pending
            if pending is not None:
                if pending.decision is None and now >= call.asked_until:
                    self._box.approvals.withdraw(self._request_id, call.id)
                if pending.decision == "allow":
                    call.pending = None
                    self._run(call)
                elif pending.decision == "deny":
                    out += self._settled(call, DECLINED, True, declined=True)
                elif now >= call.asked_until:
                    out += self._settled(call, NOT_ANSWERED, True, declined=True)
                continue
            future = call.future
            if future is None:
                continue
            if future.done():
                text, is_error, elapsed = _outcome_of(future)
                elapsed = _ms(call.started) if elapsed is None else elapsed
                out += self._settled(call, text, is_error, elapsed)
            elif now >= call.run_until:
                future.cancel()
                assert call.tool is not None
                text = NO_ANSWER.format(seconds=call.tool.call_timeout)
                out += self._settled(call, text, True, _ms(call.started))
        return out

    def _settled(
        self,
        call: _Call,
        text: str,
        is_error: bool,
        elapsed_ms: int = 0,
        *,
        declined: bool = False,
    ) -> list[ChatEvent]:
        result = call.settle(self._box, text, is_error, elapsed_ms, declined)
        ledger = self._ledger
        if ledger is not None:
            _guard("tool result", ledger.tool_result, result)
        return [ChatEvent("tool_result", result.to_wire())]

    def _stop(self) -> list[ChatEvent]:
        """Cancelled while the calls ran: the request ends (unsettled calls stay not run)."""
        self._over = True
        return [CANCELLED]

    # --- the next round ----------------------------------------------------------------------

    def _next_round(self) -> list[ChatEvent]:
        calls = self._calls
        assistant = ChatMessage(
            "assistant",
            REDACTOR.redact("".join(self._text)),
            tool_calls=tuple(call.to_call() for call in calls),
        )
        self._messages += [assistant, *(call.result.message() for call in calls if call.result)]
        request = replace(self._request, messages=tuple(self._messages))
        ledger = self._ledger
        with self._lock:
            if self._cancelled:
                return self._stop()
            self._rounds += 1
            self._calls, self._text = [], []
            self._round_usage, self._first = None, None
            self._running_tools = False
            if ledger is not None:
                _guard("reply", ledger.next_round)
            try:
                self._stream = self._open_round(request)
            except MiaodaError as error:
                self._over = True
                failed = error_event(error)
                self._observe([failed])
                return [failed]
        if ledger is not None:
            _guard("reply", ledger.opened, self._stream.report)
        return []


def _start(
    catalog: ToolCatalog | None, tool: OfferedTool, arguments: Mapping[str, Any]
) -> concurrent.futures.Future[ToolOutcome]:
    """The call's future; a catalogue that is gone, or refuses at once, gives a failed one."""
    try:
        if catalog is None:
            raise RuntimeError("no tools are available")
        return catalog.call(tool, arguments)
    except Exception as error:
        log.warning("calling tool %s failed at once: %s", tool.name, type(error).__name__)
        failed: concurrent.futures.Future[ToolOutcome] = concurrent.futures.Future()
        failed.set_exception(error)
        return failed


def _problem(call: _Call) -> str | None:
    """Why a call cannot run at all (no such tool, arguments that are not an object)."""
    if call.tool is None:
        return UNKNOWN_TOOL.format(name=call.name)
    call.parsed = _arguments(call.arguments)
    if call.parsed is None:
        return BAD_ARGUMENTS
    return None


# --- the whole-answer loop -------------------------------------------------------------------


@dataclass
class WholeAnswer:
    """What `complete_loop` gives: the answer of `POST /api/chat` (usage summed over rounds)
    and the last round's own usage (for its stored reply)."""

    result: dict[str, Any]
    last_usage: dict[str, Any] | None = None


def complete_loop(
    box: ToolBox,
    offer: Offer,
    request: ChatRequest,
    send: Callable[[ChatRequest], dict[str, Any]],
    *,
    ledger: Ledger | None = None,
) -> WholeAnswer:
    """The loop for a non-streamed request: `send(request)` gets one whole round
    (`Targets.complete`); `ask` tools are declined at once. Failures of a round raise."""
    request = replace(request, tools=offer.specs)
    messages = list(request.messages)
    taken: set[str] = set()
    total: dict[str, Any] | None = None
    added: list[dict[str, Any]] = []
    settled: list[ToolResult] = []
    rounds = 0
    while True:
        rounds += 1
        started = time.perf_counter()
        result = send(replace(request, messages=tuple(messages)))
        usage = result["usage"]
        total = add_usage(total, usage)
        message = dict(result["message"])
        calls = [
            _Call(_new_id(taken), str(c.get("name")), str(c.get("arguments") or "{}"), None)
            for c in message.get("toolCalls") or []
        ]
        for call in calls:
            call.tool = offer.tools.get(call.name)
        message["toolCalls"] = [call.to_call().to_wire() for call in calls]
        reason = result.get("finishReason")
        answer = WholeAnswer({**result, "message": message}, usage)
        if not calls or reason not in ("tool_calls", "stop"):
            break
        if rounds >= box.max_rounds:
            answer.result["finishReason"] = "tool_limit"
            break
        if ledger is not None:
            elapsed = _ms(started)
            round_result = {**answer.result, "finishReason": "tool_calls"}
            _guard("reply", ledger.end_whole_round, round_result, elapsed)
        _run_whole(box, calls)
        for call in calls:
            assert call.result is not None
            settled.append(call.result)
            if ledger is not None:
                _guard("tool result", ledger.tool_result, call.result)
        assistant = ChatMessage(
            "assistant",
            REDACTOR.redact(str(message.get("content") or "")),
            tool_calls=tuple(call.to_call() for call in calls),
        )
        messages.append(assistant)
        added.append(
            {"role": "assistant", "content": assistant.content, "toolCalls": message["toolCalls"]}
        )
        for call in calls:
            assert call.result is not None
            messages.append(call.result.message())
            added.append({"role": "tool", "toolCallId": call.id, "content": call.result.content})
        if ledger is not None:
            _guard("reply", ledger.next_round)
    answer.result["usage"] = total
    answer.result["toolMessages"] = added
    answer.result["toolResults"] = [r.to_wire() for r in settled]
    return answer


def _run_whole(box: ToolBox, calls: list[_Call]) -> None:
    """Run a round's calls in parallel and wait for them (each at most its timeout)."""
    running: list[_Call] = []
    for call in calls:
        problem = _problem(call)
        if problem is not None:
            call.settle(box, problem, True)
        elif call.tool is not None and call.tool.approval == "ask":
            call.settle(box, NOT_ASKED, True, declined=True)
        else:
            assert call.tool is not None and call.parsed is not None
            call.started = time.perf_counter()
            call.run_until = time.monotonic() + call.tool.call_timeout + CALL_GRACE
            call.future = _start(box.catalog, call.tool, call.parsed)
            running.append(call)
    for call in running:
        future = call.future
        assert future is not None and call.tool is not None
        try:
            future.exception(timeout=max(0.0, call.run_until - time.monotonic()))
        except concurrent.futures.TimeoutError:
            future.cancel()
            text = NO_ANSWER.format(seconds=call.tool.call_timeout)
            call.settle(box, text, True, _ms(call.started))
            continue
        except concurrent.futures.CancelledError:
            pass
        text, is_error, elapsed = _outcome_of(future)
        call.settle(box, text, is_error, _ms(call.started) if elapsed is None else elapsed)
