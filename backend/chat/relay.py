"""The chat relay: a provider stream becomes the contract's event stream (docs/API.md).

`sse_events()` is the body of `POST /api/chat/stream`: `start` first, then everything the
provider produces as it arrives (all events waiting are written as one chunk), `usage`, and
`done` last, exactly once. An `error` is always followed by `done` with finishReason "error".
While nothing arrives a `: ping` comment goes out every `heartbeat` seconds, and before each
retry of a request that failed before any output a `: retrying {json}` comment says why. A
client that goes away (seen by `is_disconnected()`, polled every 0.1 s, or by the WSGI server
closing the body, even before its first chunk) cancels the upstream request at once. Text
events that waited in the same batch are merged into one.

Two observers: `on_finish` receives one record per request (for the analytics store), once,
when the body is closed; and `on_batch` sees every batch of provider events just before its
bytes are sent (the conversation form keeps the reply it is saving up to date with it; it must
be quick: it runs on the hot path). With an `on_batch` observer, `on_finish` comes earlier:
as soon as the outcome is known, before `done` is sent (at close only when the client went
away), so a client that has read `done` finds the reply saved. Without one it stays at close:
a short reply often arrives whole in one batch, and a database write there would delay its
first token. `collect_chat()` does the same for `POST /api/chat`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any, Protocol

from backend.errors import MiaodaError
from backend.models import ChatEvent
from backend.providers.stream import RETRYING

log = logging.getLogger("miaoda.chat")
PING = b": ping\n\n"
POLL_SECONDS = 0.1  # how often a waiting stream checks that its client is still there
_CONTENT = frozenset({"delta", "reasoning", "tool_call"})

FinishCallback = Callable[[dict[str, Any]], None]


class EventStream(Protocol):
    """What the relay reads: a provider's `ChatStream`, or a `FailoverStream` over several."""

    started: float

    def next_batch(self, timeout: float) -> list[ChatEvent] | None: ...

    def cancel(self) -> None: ...

    def usage(self) -> dict[str, Any]: ...


class Answered(Protocol):
    """Who answered a request (`backend.chat.failover.Report`)."""

    @property
    def route_id(self) -> str | None: ...

    @property
    def provider_id(self) -> str | None: ...

    @property
    def model(self) -> str | None: ...

    @property
    def key_id(self) -> str | None: ...


BatchCallback = Callable[[list[ChatEvent]], None]


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_str = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept


def wire_bytes(frames: str) -> bytes:
    """The UTF-8 bytes of SSE text.

    A lone UTF-16 surrogate cannot be UTF-8. Providers do send them: one that splits an emoji's
    surrogate pair across two chunks sends `"\\ud83d"` in one and `"\\ude00"` in the next.
    Such a character can only sit inside a JSON string here (everything else in a frame is
    ASCII), so it goes out as the same JSON escape it came in as, and the client's
    `JSON.parse` and string joining put the pair back together.
    """
    try:
        return frames.encode()
    except UnicodeEncodeError:
        return frames.encode("utf-8", "backslashreplace")


def sse_frame(kind: str, data: Any) -> str:
    """One SSE event: its type line and one JSON data line."""
    return f"event: {kind}\ndata: {_encode(data)}\n\n"


def text_frame(kind: str, pieces: list[str]) -> str:
    """One `delta` or `reasoning` event carrying the pieces joined."""
    return f'event: {kind}\ndata: {{"text":{_encode_str("".join(pieces))}}}\n\n'


def sse_events(
    stream: EventStream,
    *,
    provider_id: str | None,
    model: str | None,
    request_id: str,
    is_disconnected: Callable[[], bool],
    heartbeat: float = 15.0,
    on_finish: FinishCallback | None = None,
    on_batch: BatchCallback | None = None,
    start_fields: Mapping[str, Any] | None = None,
    answered: Callable[[], Answered] | None = None,
) -> Iterator[bytes]:
    """The contract's SSE bytes for one stream, as a WSGI body (iterate it, then close it).

    `start_fields` are added to the `start` event (the conversation form's ids, a route's id).
    `answered` says who answered once the stream is over (a route's member): `done` carries
    its `providerId` and `routeId`, and the record its provider and model."""
    outcome = _Outcome(stream, answered)
    start: dict[str, Any] = {"requestId": request_id, "providerId": provider_id, "model": model}
    if start_fields:
        start.update(start_fields)
    reported = False

    def finish() -> None:
        nonlocal reported
        if not reported:
            reported = True
            _report(on_finish, outcome.record(request_id, provider_id or "", model or ""))

    frames = _relay(stream, outcome, start, is_disconnected, heartbeat, on_batch, finish)
    return _Body(frames, stream, finish)


def _relay(
    stream: EventStream,
    outcome: _Outcome,
    start: dict[str, Any],
    is_disconnected: Callable[[], bool],
    heartbeat: float,
    on_batch: BatchCallback | None,
    finish: Callable[[], None],
) -> Generator[bytes, None, None]:
    yield wire_bytes(sse_frame("start", start))
    last_sent = time.perf_counter()
    while not outcome.finished:
        if is_disconnected():
            outcome.finish_reason = outcome.finish_reason or "cancelled"
            return  # nobody is left to read a `done`; closing the body cancels the stream
        batch = stream.next_batch(min(POLL_SECONDS, heartbeat))
        now = time.perf_counter()
        if batch:
            text = outcome.frames(batch, now)
            if on_batch is not None:
                _observe(on_batch, batch)
                if outcome.finished:
                    finish()
            yield wire_bytes(text)
            last_sent = now
        elif batch is None:
            text = outcome.frames([], now)  # ended without a terminal: close it
            if on_batch is not None:
                finish()
            yield wire_bytes(text)
        elif now - last_sent >= heartbeat:
            yield PING
            last_sent = now


def _observe(on_batch: BatchCallback, batch: list[ChatEvent]) -> None:
    try:
        on_batch(batch)
    except Exception:
        # The reply being saved may fall behind; the user's stream must not break for it.
        log.exception("observing a chat batch failed")


class _Body:
    """The WSGI body: closing it stops the stream and reports once, even before the first
    chunk was asked for (a generator's `finally` would not run if it never started)."""

    def __init__(
        self, frames: Generator[bytes, None, None], stream: EventStream, finish: Callable[[], None]
    ) -> None:
        self._frames = frames
        self._stream = stream
        self._finish = finish
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._frames)
        except BaseException:
            self.close()  # the end, or a failure: either way this stream is over
            raise

    def close(self) -> None:
        """Cancel the upstream request if it is still open and report the outcome (once)."""
        if self._closed:
            return
        self._closed = True
        self._stream.cancel()  # idempotent; a no-op when the stream already ended
        self._frames.close()
        self._finish()


class _Outcome:
    """What the relay saw of one stream, turned into frames and a record."""

    def __init__(self, stream: EventStream, answered: Callable[[], Answered] | None) -> None:
        self.stream = stream
        self.answered = answered
        self.finished = False
        self.finish_reason: str | None = None
        self.error_code: str | None = None
        self.ttft_ms: int | None = None
        self.usage: dict[str, Any] | None = None
        self.ended_at: float | None = None

    def frames(self, batch: list[ChatEvent], now: float) -> str:
        """SSE text for a batch, ending with `done` when the batch holds the terminal.

        Adjacent text events of one kind that waited in the same batch go out as one event:
        they reached us at the same moment, so merging delays nothing, and the client parses
        one frame instead of hundreds when a fast provider outruns the relay.
        """
        parts: list[str] = []
        texts: list[str] = []
        text_kind = ""
        for event in batch:
            kind = event.kind
            if kind in _CONTENT and self.ttft_ms is None:
                self.ttft_ms = self._ms(now)
            if kind == "delta" or kind == "reasoning":
                if kind != text_kind and texts:
                    parts.append(text_frame(text_kind, texts))
                    texts = []
                text_kind = kind
                texts.append(event.data["text"])
                continue
            if texts:
                parts.append(text_frame(text_kind, texts))
                texts = []
            if kind == "done":
                self.finish_reason = event.data["finishReason"]
                break
            if kind == "error":
                self.error_code = event.data.get("code")
                self.finish_reason = "error"
                parts.append(sse_frame("error", event.data))
                break
            if kind == "usage":
                self.usage = dict(event.data)
            elif kind == RETRYING:
                # Not a contract event: a comment (which clients may ignore) saying why the
                # reply has not started, e.g. `: retrying {"code":"RATE_LIMITED",...,"retryIn":20}`.
                parts.append(f": {RETRYING} {_encode(event.data)}\n\n")
                continue
            parts.append(sse_frame(kind, event.data))
        else:
            if texts:
                parts.append(text_frame(text_kind, texts))
            if batch:
                return "".join(parts)
            self.finish_reason = "error"  # the stream vanished without its terminal event
        self.finished, self.ended_at = True, now
        done: dict[str, Any] = {
            "finishReason": self.finish_reason,
            "ttftMs": self.ttft_ms,
            "elapsedMs": self._ms(now),
        }
        if self.answered is not None:
            who = self.answered()
            done["providerId"], done["routeId"] = who.provider_id, who.route_id
        parts.append(sse_frame("done", done))
        return "".join(parts)

    def record(self, request_id: str, provider_id: str, model: str) -> dict[str, Any]:
        """The analytics record for `on_finish`."""
        usage = self.usage or self.stream.usage()
        ended = self.ended_at if self.ended_at is not None else time.perf_counter()
        who = None if self.answered is None else self.answered()
        if who is not None:
            provider_id = who.provider_id or who.route_id or provider_id
            model = who.model or model
        return {
            "requestId": request_id,
            "providerId": provider_id,
            "model": model,
            "inputTokens": usage["inputTokens"],
            "outputTokens": usage["outputTokens"],
            "usageSource": usage["source"],
            "ttftMs": self.ttft_ms,
            "elapsedMs": self._ms(ended),
            "finishReason": self.finish_reason or "cancelled",
            "errorCode": self.error_code,
            "routeId": None if who is None else who.route_id,
            "keyId": None if who is None else who.key_id,
            "cachedInputTokens": usage.get("cachedInputTokens"),
        }

    def _ms(self, at: float) -> int:
        return round((at - self.stream.started) * 1000)


def collect_chat(
    send: Callable[[], dict[str, Any]],
    answered: Answered,
    *,
    request_id: str,
    on_finish: FinishCallback | None = None,
) -> dict[str, Any]:
    """A non-streamed answer (`message`, `usage`, `finishReason`), recorded like a stream.

    `send()` asks for it; `answered` says who answered (filled in as `send` runs), which the
    answer carries as `providerId` and `routeId`, as a stream's `done` does."""
    started = time.perf_counter()
    record: dict[str, Any] = {
        "requestId": request_id,
        "inputTokens": None,
        "outputTokens": None,
        "usageSource": None,
        "ttftMs": None,
        "finishReason": "error",
        "errorCode": None,
    }
    try:
        result = send()
    except MiaodaError as error:
        record["errorCode"] = error.code
        raise
    else:
        usage = result["usage"]
        record.update(
            inputTokens=usage["inputTokens"],
            outputTokens=usage["outputTokens"],
            usageSource=usage["source"],
            cachedInputTokens=usage.get("cachedInputTokens"),
            finishReason=result["finishReason"],
        )
        return {**result, "providerId": answered.provider_id, "routeId": answered.route_id}
    finally:
        record["providerId"] = answered.provider_id or answered.route_id or ""
        record["model"] = answered.model or ""
        record["routeId"], record["keyId"] = answered.route_id, answered.key_id
        record["elapsedMs"] = round((time.perf_counter() - started) * 1000)
        _report(on_finish, record)


def _report(on_finish: FinishCallback | None, record: dict[str, Any]) -> None:
    if on_finish is None:
        return
    try:
        on_finish(record)
    except Exception:
        # Losing one analytics record must not break the chat the user sees.
        log.exception("recording chat request %s failed", record.get("requestId"))
