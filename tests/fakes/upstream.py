"""A fake LLM upstream that is a real HTTP server (127.0.0.1, an OS-chosen port, one thread).

Tests script replies per path (`script()`); each request takes the next reply, and the last one
repeats. A reply is a whole body, or a stream of chunks sent with chunked transfer encoding and
flushed one by one, optionally with delays; it can hang before its headers, hang mid-stream, or
cut the connection (FIN or RST). Every request is recorded, and so is the moment the server
noticed the client had gone: while waiting the handler watches its socket with `select()`, so a
closed client connection is seen within a few milliseconds.

`openai_stream()`, `anthropic_stream()` and the chunk helpers build protocol streams; the
helpers at the end drive the provider layer against the server (`fake_config`, `drain`).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from backend.models import ChatEvent, ChatMessage, ChatRequest, ProviderConfig, default_auth
from backend.providers import ChatStream


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[bytes] | None = None  # when set: a chunked stream, one flush per chunk
    delay: float = 0.0  # seconds before each chunk after the first
    hang_before_headers: float = 0.0  # wait this long (or until the client leaves) first
    hang_after: int | None = None  # after this many chunks, go silent for `hang_for` seconds
    hang_for: float = 30.0
    close_after: int | None = None  # after this many chunks, drop the connection
    reset: bool = False  # drop with a TCP reset instead of a normal close
    drop: bool = False  # close the connection without answering at all

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        """A JSON body."""
        return cls(
            status,
            {"content-type": "application/json", **(headers or {})},
            json.dumps(payload).encode(),
        )

    @classmethod
    def stream(cls, chunks: Sequence[bytes], delay: float = 0.0, **options: Any) -> Reply:
        """An event stream sent chunk by chunk."""
        headers = {"content-type": "text/event-stream", **options.pop("headers", {})}
        return cls(200, headers, chunks=list(chunks), delay=delay, **options)


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    started: float  # time.monotonic()
    closed_at: float | None = None  # when the server saw the client go away

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class FakeUpstream:
    """The server; use as a context manager or call `start()`/`close()`."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.upstream = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-upstream", daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL of the server, without a trailing slash."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeUpstream:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; hanging handlers give up at once."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def script(self, path: str, *replies: Reply) -> None:
        """Answer requests to `path` with these replies in order (the last one repeats)."""
        with self._lock:
            self._scripts[path] = list(replies)

    def requests_to(self, path: str) -> list[Seen]:
        """The recorded requests to one path."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for_disconnect(self, timeout: float) -> Seen | None:
        """The first request whose client went away, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                gone = next((r for r in self.requests if r.closed_at is not None), None)
                left = deadline - time.monotonic()
                if gone is not None or left <= 0:
                    return gone
                self._changed.wait(left)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """True once `count` requests arrived (waiting up to `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def _next_reply(self, seen: Seen) -> Reply:
        with self._changed:
            self.requests.append(seen)
            self._changed.notify_all()
            replies = self._scripts.get(seen.path)
            if not replies:
                return Reply.json({"error": {"message": f"no script for {seen.path}"}}, status=404)
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _mark_closed(self, seen: Seen) -> None:
        with self._changed:
            if seen.closed_at is None:
                seen.closed_at = time.monotonic()
            self._changed.notify_all()


class _Server(ThreadingHTTPServer):
    # The load test opens dozens of connections at once (streams and health checks). With
    # the default listen backlog of 5 the kernel drops the surplus SYNs, and each dropped one
    # costs the client a 1 s (then 2 s) retransmit wait no real provider would add.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked encoding

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm holds the first chunk back until the client ACKs
        # the headers, adding a delayed-ACK pause (~40 ms) no real provider has.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the request log instead

    def _serve(self) -> None:
        upstream: FakeUpstream = self.server.upstream  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        size = int(self.headers.get("content-length") or 0)
        seen = Seen(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(size) if size else b"",
            started=time.monotonic(),
        )
        reply = upstream._next_reply(seen)
        try:
            if reply.hang_before_headers and self._client_left(reply.hang_before_headers, upstream):
                return self._gone(upstream, seen)
            if reply.drop:
                return self._drop(reply.reset)
            if reply.chunks is None:
                self._send_whole(reply)
            elif not self._send_stream(reply, upstream):
                return self._gone(upstream, seen)
        except (BrokenPipeError, ConnectionResetError):
            self._gone(upstream, seen)

    def _send_whole(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _send_stream(self, reply: Reply, upstream: FakeUpstream) -> bool:
        """Send the chunks; False when the client went away."""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for count, chunk in enumerate(reply.chunks or []):
            if count in (reply.close_after, reply.hang_after):
                break
            if count and reply.delay and self._client_left(reply.delay, upstream):
                return False
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            if reply.close_after is None and reply.hang_after is None:
                self.wfile.write(b"0\r\n\r\n")
                return True
        # The script ends this stream abnormally: go silent first, or cut it right away.
        if reply.hang_after is not None and self._client_left(reply.hang_for, upstream):
            return False
        self._drop(reply.reset)
        return True

    def _client_left(self, seconds: float, upstream: FakeUpstream) -> bool:
        """Wait up to `seconds`, watching the socket; True as soon as the client has gone."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while True:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([sock], [], [], max(0.0, min(left, 0.02)))
            if readable:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except (ConnectionResetError, OSError):
                    return True
                time.sleep(min(max(left, 0.0), 0.02))  # data, not EOF: avoid a busy loop
            if left <= 0 or upstream.stopping.is_set():
                return False

    def _drop(self, reset: bool) -> None:
        if reset:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _gone(self, upstream: FakeUpstream, seen: Seen) -> None:
        upstream._mark_closed(seen)
        self.close_connection = True

    def finish(self) -> None:
        # The connection may have been dropped on purpose or by the client.
        with contextlib.suppress(OSError):
            super().finish()


# --- stream builders ----------------------------------------------------------------------


def sse(data: Any, event: str | None = None) -> bytes:
    """One SSE event: `data` is dumped as JSON unless it is already text."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


def openai_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    """One `chat.completion.chunk` event."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "model": "fake",
        "choices": [choice],
    }
    return sse({**payload, **extra})


def openai_usage(prompt: int, completion: int) -> bytes:
    """The final usage chunk with empty `choices` (stream_options.include_usage)."""
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return sse(
        {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [], "usage": usage}
    )


def openai_stream(
    pieces: Sequence[str],
    *,
    usage: tuple[int, int] | None = (12, 40),
    finish: str = "stop",
    done: bool = True,
) -> list[bytes]:
    """A Chat Completions stream: role, one chunk per piece, finish, usage, `[DONE]`."""
    chunks = [openai_chunk({"role": "assistant", "content": ""})]
    chunks += [openai_chunk({"content": piece}) for piece in pieces]
    chunks.append(openai_chunk({}, finish))
    if usage is not None:
        chunks.append(openai_usage(*usage))
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks


def anthropic_stream(
    pieces: Sequence[str], *, usage: tuple[int, int] = (12, 40), stop: str = "end_turn"
) -> list[bytes]:
    """A Messages stream: message_start, one text block with a delta per piece, message_stop."""
    start: dict[str, Any] = {"type": "message", "role": "assistant", "content": [], "model": "fake"}
    start["usage"] = {"input_tokens": usage[0], "output_tokens": 1}
    chunks = [
        sse({"type": "message_start", "message": start}, "message_start"),
        sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    for piece in pieces:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": piece},
        }
        chunks.append(sse(delta, "content_block_delta"))
    chunks += [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": usage[1]},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return chunks


def anthropic_event(payload: dict[str, Any]) -> bytes:
    """One Anthropic event, its SSE type taken from the payload."""
    return sse(payload, str(payload["type"]))


def generated_pieces(count: int) -> Iterator[str]:
    """`count` short text pieces (for benchmarks)."""
    for i in range(count):
        yield f"tok{i} "


# --- helpers for tests that drive the provider layer against this server --------------------


def fake_config(base_url: str, type: str = "openai-compatible", **overrides: Any) -> ProviderConfig:
    """A provider config pointing at the fake server (bearer auth unless told otherwise)."""
    fields: dict[str, Any] = {
        "id": "prov-1",
        "name": "fake",
        "display_name": "Fake",
        "base_url": base_url,
        "model": "fake-model",
        "type": type,
        "auth": default_auth(type),  # type: ignore[arg-type]
    }
    return ProviderConfig(**{**fields, **overrides})


def user_request(text: str = "Hello", **overrides: Any) -> ChatRequest:
    """A one-message chat request."""
    return ChatRequest(
        **{"provider_id": "prov-1", "messages": (ChatMessage("user", text),), **overrides}
    )


def drain(stream: ChatStream, timeout: float = 10.0) -> list[ChatEvent]:
    """Every event of a stream, up to and including its terminal one."""
    events: list[ChatEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = stream.next_batch(0.2)
        if batch is None:
            return events
        events += batch
    raise AssertionError(f"stream did not finish within {timeout} s; got {events}")


class SleepRecorder(list[float]):
    """An injectable `sleep` that records the delays asked for and does not wait."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
