"""The chat relay: a provider stream becomes the contract's event stream (CONTRACT §6).

`PushRelay` writes the body of `POST /api/chat/stream`: `start` first, then everything the
provider produces as it arrives (all events waiting are written as one chunk), `usage`, and
`done` last, exactly once. An `error` is always followed by `done` with finishReason "error".
While nothing arrives a `: ping` comment goes out every `heartbeat` seconds, and before each
retry of a request that failed before any output a `: retrying {json}` comment says why. A
client that goes away (`client_gone()`, even before the first byte) cancels the upstream
request at once. Text events that waited in the same batch are merged into one. `on_finish`
receives one record per request for the analytics store. `collect_chat()` does the same for
`POST /api/chat`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from backend.errors import MiaodaError
from backend.models import ChatEvent, ChatRequest, ProviderConfig
from backend.providers import ChatStream, ProviderService
from backend.providers.stream import RETRYING

log = logging.getLogger("miaoda.chat")
PING = b": ping\n\n"
_CONTENT = frozenset({"delta", "reasoning", "tool_call"})

FinishCallback = Callable[[dict[str, Any]], None]


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


class Sink(Protocol):
    """Where a relay writes: an HTTP response on the event loop (`httpd.Responder`)."""

    @property
    def writable(self) -> bool: ...

    def on_writable(self, callback: Callable[[], None]) -> None: ...

    def write(self, data: bytes) -> None: ...

    def end(self, data: bytes = b"") -> None: ...


class PushRelay:
    """The contract's SSE bytes for one stream, written as events arrive, on the provider loop.

    The stream's producer (a coroutine on the same loop) appends decoded events and wakes the
    relay; the relay frames everything waiting and writes it in the same thread, so nothing is
    handed between threads on the way from the upstream socket to the client's. Create and use
    it on the loop thread; `client_gone()` is how a vanished client stops it.
    """

    def __init__(
        self,
        stream: ChatStream,
        sink: Sink,
        *,
        provider_id: str,
        model: str,
        request_id: str,
        heartbeat: float = 15.0,
        on_finish: FinishCallback | None = None,
    ) -> None:
        self._stream = stream
        self._sink = sink
        self._outcome = _Outcome(stream)
        self._start = {"requestId": request_id, "providerId": provider_id, "model": model}
        self._ids = (request_id, provider_id, model)
        self._heartbeat = heartbeat
        self._on_finish = on_finish
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._scheduled = False
        self._over = False
        self._last_sent = 0.0
        self._beat: asyncio.TimerHandle | None = None
        self.record: dict[str, Any] | None = None  # the analytics record, once over

    def start(self) -> None:
        """Write `start` and relay from now on."""
        if self._over:  # the client left before the relay began
            return
        self._sink.write(wire_bytes(sse_frame("start", self._start)))
        self._last_sent = time.perf_counter()
        self._beat = self._loop.call_later(self._heartbeat, self._ping)
        self._stream.on_ready(self._wake)
        self._pump()  # events that arrived before the listener was set

    def client_gone(self) -> None:
        """The client went away: cancel the upstream request at once and report."""
        if self._over:
            return
        self._outcome.finish_reason = self._outcome.finish_reason or "cancelled"
        self._finish()  # before the cancel, whose `done` nobody is left to read

    def _wake(self) -> None:
        if self._over:
            return
        if threading.get_ident() != self._thread:  # a cancel from another thread
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon_threadsafe(self._pump)
            return
        if self._outcome.ttft_ms is None:
            # Until the first token: write inside the producer's put, before it goes on
            # decoding the rest of that read, so the first token leaves at once.
            try:
                self._pump()
            except Exception:
                log.exception("relaying a chat stream failed")
                self.client_gone()
        elif not self._scheduled:
            # After it: once the producer yields, so everything decoded from one network
            # read (a fast provider packs hundreds of events into one) is one write.
            self._scheduled = True
            self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        self._scheduled = False
        if self._over:
            return
        if not self._sink.writable:
            self._sink.on_writable(self._wake)  # the client reads slowly: wait for it
            return
        batch = self._stream.take_now()
        now = time.perf_counter()
        data = b""
        if batch:
            data = wire_bytes(self._outcome.frames(batch, now))
            self._last_sent = now
        elif batch is None and not self._outcome.finished:
            data = wire_bytes(self._outcome.frames([], now))  # ended without its terminal
        if self._outcome.finished:
            self._finish(data)  # the last frames and the end of the body in one write
        elif data:
            self._sink.write(data)

    def _ping(self) -> None:
        if self._over:
            return
        now = time.perf_counter()
        if now - self._last_sent >= self._heartbeat:
            self._sink.write(PING)
            self._last_sent = now
        self._beat = self._loop.call_later(
            max(0.01, self._last_sent + self._heartbeat - now), self._ping
        )

    def _finish(self, data: bytes = b"") -> None:
        self._over = True
        if self._beat is not None:
            self._beat.cancel()
        self._stream.cancel()  # a no-op when the stream ended by itself
        self._sink.end(data)
        self.record = self._outcome.record(*self._ids)
        _report(self._on_finish, self.record)


def cancelled_record(
    stream: ChatStream, *, request_id: str, provider_id: str, model: str
) -> dict[str, Any]:
    """The analytics record of a stream whose client left before anything was relayed."""
    return _Outcome(stream).record(request_id, provider_id, model)


class _Outcome:
    """What the relay saw of one stream, turned into frames and a record."""

    def __init__(self, stream: ChatStream) -> None:
        self.stream = stream
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
        done = {
            "finishReason": self.finish_reason,
            "ttftMs": self.ttft_ms,
            "elapsedMs": self._ms(now),
        }
        parts.append(sse_frame("done", done))
        return "".join(parts)

    def record(self, request_id: str, provider_id: str, model: str) -> dict[str, Any]:
        """The analytics record for `on_finish`."""
        usage = self.usage or self.stream.usage()
        ended = self.ended_at if self.ended_at is not None else time.perf_counter()
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
        }

    def _ms(self, at: float) -> int:
        return round((at - self.stream.started) * 1000)


def collect_chat(
    service: ProviderService,
    config: ProviderConfig,
    api_key: str | None,
    request: ChatRequest,
    *,
    request_id: str,
    on_finish: FinishCallback | None = None,
) -> dict[str, Any]:
    """A non-streamed answer (`message`, `usage`, `finishReason`), recorded like a stream."""
    started = time.perf_counter()
    record: dict[str, Any] = {
        "requestId": request_id,
        "providerId": config.id,
        "model": config.model,
        "inputTokens": None,
        "outputTokens": None,
        "usageSource": None,
        "ttftMs": None,
        "finishReason": "error",
        "errorCode": None,
    }
    try:
        result = service.chat(config, api_key, request)
    except MiaodaError as error:
        record["errorCode"] = error.code
        raise
    else:
        usage = result["usage"]
        record.update(
            inputTokens=usage["inputTokens"],
            outputTokens=usage["outputTokens"],
            usageSource=usage["source"],
            finishReason=result["finishReason"],
        )
        return result
    finally:
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
