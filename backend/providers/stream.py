"""The hand-off from a stream's producer to its consumer: `ChatStream`.

The producer (a coroutine on the provider loop) appends decoded events under a lock. The
consumer (the chat relay, on a server thread) waits on a `threading.Event` and takes everything
waiting in one step (`next_batch`), so the hand-off cost is paid per batch, not per token.

Terminal design: the last item a stream yields is exactly one terminal event, either
`ChatEvent("error", {"code", "message", "retryAfter"?, "httpStatus"?})` or
`ChatEvent("done", {"finishReason": "stop" | "length" | "tool_calls" | "cancelled"})`.
On success a `usage` event comes right before `done`. After the terminal event has been
handed out, `next_batch` returns None. `cancel()` is itself a terminal: the first of the
producer's terminal and the cancel wins, anything after it is dropped.

One event is not part of the contract: `ChatEvent("retrying", {"code", "message", "retryIn",
"attempt", "attempts"})`, queued before the runtime waits to retry a request that failed before
any output (a rate limit with Retry-After can mean a minute of silence). The chat relay turns it
into an SSE comment, which the contract allows, so the UI can say why nothing arrives yet.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final

from backend.errors import MiaodaError
from backend.models import ChatEvent
from backend.providers.wire.base import estimate_tokens

TERMINAL_KINDS = frozenset({"error", "done"})
CONTENT_KINDS = frozenset({"delta", "reasoning", "tool_call"})
CANCELLED = ChatEvent("done", {"finishReason": "cancelled"})
RETRYING: Final = "retrying"


def error_event(error: MiaodaError) -> ChatEvent:
    """The terminal `error` event for a failure."""
    data: dict[str, Any] = {"code": error.code, "message": error.message}
    wire = error.to_dict()
    if "retryAfter" in wire:
        data["retryAfter"] = wire["retryAfter"]
    if error.upstream_status is not None:
        data["httpStatus"] = error.upstream_status
    return ChatEvent("error", data)


class UsageMeter:
    """Counts output as it passes, for estimates and for "has output started?"."""

    def __init__(self, input_chars: int) -> None:
        self.input_chars = input_chars
        self.output_chars = 0
        self.reported: tuple[int, int] | None = None
        self.cached: int | None = None  # reported cached input tokens (part of the input)
        self.first_output: float | None = None  # time.perf_counter() of the first token

    @property
    def output_started(self) -> bool:
        """True once any delta, reasoning or tool call was produced (retries stop here)."""
        return self.first_output is not None

    def count(self, events: list[ChatEvent]) -> None:
        """Note the output in `events` (delta, reasoning and tool_call events only)."""
        if not events:
            return
        if self.first_output is None:
            self.first_output = time.perf_counter()
        chars = 0
        for event in events:
            data = event.data
            text = data.get("text")
            chars += len(text) if text is not None else len(data["name"]) + len(data["arguments"])
        self.output_chars += chars

    def wire(self) -> dict[str, Any]:
        """The contract's usage object: reported counts, else an estimate (≈ 4 chars a token)."""
        if self.reported is not None:
            inputs, outputs = self.reported
            out: dict[str, Any] = {
                "inputTokens": inputs,
                "outputTokens": outputs,
                "source": "reported",
            }
            if self.cached is not None:
                out["cachedInputTokens"] = self.cached
            return out
        return {
            "inputTokens": estimate_tokens(self.input_chars),
            "outputTokens": estimate_tokens(self.output_chars),
            "source": "estimated",
        }


class Channel:
    """A deque plus an Event: many events per lock, one terminal event at most."""

    def __init__(self) -> None:
        self._items: deque[ChatEvent] = deque()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._drained = False
        self.error: MiaodaError | None = None  # the failure behind a terminal `error` event

    def put_many(self, events: list[ChatEvent]) -> None:
        """Append non-terminal events (dropped once the channel is closed)."""
        with self._lock:
            if self._closed:
                return
            self._items.extend(events)
            if self._ready.is_set():  # set() takes a lock each time; skip it when set
                return  # the consumer was told already and has not taken them yet
            self._ready.set()

    def close(
        self,
        terminal: ChatEvent,
        before: Iterable[ChatEvent] = (),
        error: MiaodaError | None = None,
    ) -> bool:
        """Append `before` and the terminal event; False when another terminal came first."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            self.error = error
            self._items.extend(before)
            self._items.append(terminal)
            self._ready.set()
        return True

    def take(self, timeout: float) -> list[ChatEvent] | None:
        """Everything waiting (after up to `timeout` s for something); None once finished."""
        if self._drained:
            return None
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            self._ready.wait(max(0.0, deadline - time.monotonic()))
            # Clear before draining: an append after the drain sets the Event again.
            self._ready.clear()
            with self._lock:
                batch = list(self._items)
                self._items.clear()
            if batch:
                self._drained = batch[-1].kind in TERMINAL_KINDS
                return batch
            if time.monotonic() >= deadline:
                return []


class ChatStream:
    """A sync handle over one running stream (see the module docstring for its terminal)."""

    def __init__(
        self, channel: Channel, meter: UsageMeter, stop: Callable[[], object], started: float
    ) -> None:
        self._channel = channel
        self._meter = meter
        self._stop = stop
        self.started = started  # time.perf_counter() when the stream was opened

    def next_batch(self, timeout: float) -> list[ChatEvent] | None:
        """Events available now, waiting up to `timeout` s for one; [] on timeout; None at end."""
        return self._channel.take(timeout)

    def cancel(self) -> None:
        """Stop the stream and close its upstream connection; safe to call many times.

        A stream that already ended is left alone: after its last event it may still be
        reading the rest of the body (briefly, see `_http.drain`) so that the connection goes
        back to the pool; cancelling it there would throw the connection away.
        """
        if self._channel.close(CANCELLED):
            self._stop()

    @property
    def error(self) -> MiaodaError | None:
        """The failure that ended the stream, once its `error` event was queued."""
        return self._channel.error

    def usage(self) -> dict[str, Any]:
        """Token counts so far: the provider's when it reported them, else an estimate."""
        return self._meter.wire()

    @property
    def first_output(self) -> float | None:
        """`time.perf_counter()` when the first delta, reasoning or tool call was decoded."""
        return self._meter.first_output
