"""A small HTTP/1.1 server on an asyncio event loop, for the app's loopback port only.

Why not a stock WSGI server: the chat stream's bytes come from the provider event loop, and a
WSGI server hands every request to a worker thread and every chunk back to its I/O thread. Each
hand-off is a wake-up of another thread, and together they added about 2 ms to the first token
(docs/PERFORMANCE.md). Here the loop that reads the provider's stream also owns the sockets, so a
native route (the chat stream) parses, frames and writes an upstream chunk in one thread.
Everything else goes to the WSGI app (Flask) on a thread pool, as any WSGI server would
(`backend.server.httpd_wsgi`).

What it speaks, and refuses (each refusal is an error status, then the connection closes):
- HTTP/1.1 and 1.0 requests with CRLF line ends; keep-alive (1.1 by default), pipelined
  requests answered in order; `Expect: 100-continue`.
- Bodies by `Content-Length` only: a `Transfer-Encoding` request body gets 411 (browsers and
  HTTP libraries send a length for the JSON this API takes); both headers at once is a
  request-smuggling shape and gets 400.
- Head over 64 KiB: 431. Body over `max_body`: 413 before the body is read (what arrives
  is discarded so the client can read the answer). Malformed request line or header: 400.
  Another HTTP version: 505. Header names with `_` are dropped (they would alias `-` names in
  the WSGI environ).
- Time limits: a request head must arrive within 30 s of its first byte and a body within 60 s
  of its head (slow-drip clients); an idle keep-alive connection is closed after 120 s. More
  than 128 open connections: 503.
- Responses: `Content-Length` when the app gives one; otherwise chunked (HTTP/1.1) or
  delimited by closing (HTTP/1.0). No body for HEAD, 204 and 304.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus

log = logging.getLogger("miaoda.httpd")

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
HEAD_SECONDS = 30.0
BODY_SECONDS = 60.0
IDLE_SECONDS = 120.0
DISCARD_SECONDS = 5.0
MAX_CONNECTIONS = 128
_SWEEP_SECONDS = 1.0
# Checked with regular expressions: a loop over the bytes in Python cost ~30 µs a request.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-zA-Z]+")
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f-\xff]")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # controls other than tab
_NO_BODY = frozenset({204, 304})
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class HttpError(Exception):
    """A request the server refuses before any handler sees it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    """One parsed request: its head, then its whole body."""

    method: str
    target: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: list[tuple[str, str]]  # names lower-cased, in arrival order
    body: bytes = b""
    peer: tuple[str, int] = ("", 0)
    port: int = 0  # the server's own port
    path: str = field(init=False)
    query: str = field(init=False)
    _index: dict[str, str] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        path, _, query = self.target.partition("?")
        self.path, self.query = path, query

    def header(self, name: str) -> str | None:
        """The value of header `name` (lower case); repeated headers joined by ", "."""
        index = self._index
        if index is None:  # built once: a request's headers are looked up about ten times
            index = {}
            for key, value in self.headers:
                index[key] = f"{index[key]}, {value}" if key in index else value
            self._index = index
        return index.get(name)

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return False  # HTTP/1.0: one request per connection


def parse_head(head: bytes) -> Request:
    """The request line and headers (without the blank line); HttpError when malformed."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HttpError(400, "Malformed request line.")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise HttpError(400, "Malformed request method.")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/"):
            raise HttpError(505, "Only HTTP/1.1 and HTTP/1.0 are spoken here.")
        raise HttpError(400, "Malformed request line.")
    if _BAD_TARGET.search(target) or not (target.startswith(b"/") or target == b"*"):
        raise HttpError(400, "Malformed request target.")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, "Too many request headers.")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise HttpError(400, "Malformed request header.")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise HttpError(400, "Malformed request header value.")
        headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
    return Request(method.decode("ascii"), target.decode("ascii"), version.decode("ascii"), headers)


def body_length(request: Request) -> int:
    """The declared body length; HttpError for a missing, conflicting or chunked length."""
    lengths = {value.strip() for key, value in request.headers if key == "content-length"}
    encoded = request.header("transfer-encoding") is not None
    if encoded and lengths:
        raise HttpError(400, "A request may not carry both Content-Length and Transfer-Encoding.")
    if encoded:
        raise HttpError(411, "Send the request body with a Content-Length.")
    if not lengths:
        return 0
    if len(lengths) > 1:
        raise HttpError(400, "Conflicting Content-Length headers.")
    (text,) = lengths
    if not text.isdigit() or len(text) > 15:
        raise HttpError(400, "Malformed Content-Length.")
    return int(text)


Handler = Callable[[Request, "Responder"], None]


class Responder:
    """The answer to one request; every method runs on the loop thread.

    `start` then any number of `write` then `end`. A handler that learns the client went away
    (`gone`, `on_gone`) stops; writes after that are dropped.
    """

    def __init__(self, conn: _Connection, request: Request) -> None:
        self._conn = conn
        self._request = request
        self._framing = ""  # "length", "chunked", "close" or "none", once started
        self._ended = False
        self._gone_callbacks: list[Callable[[], None]] = []
        self._head = b""  # the status line and headers, until the first bytes of body go out
        self.started = False

    @property
    def gone(self) -> bool:
        """True once the client closed the connection (or the server is stopping)."""
        return self._conn.closed

    def on_gone(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on the loop) when the client goes away before the end."""
        if self.gone:
            callback()
        else:
            self._gone_callbacks.append(callback)

    def on_writable(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the socket buffer drained after `writable` was False."""
        self._conn.drained_callbacks.append(callback)

    @property
    def writable(self) -> bool:
        """False while the client reads slower than we write (flow control)."""
        return not self._conn.paused

    def start(self, status: int, headers: Iterable[tuple[str, str]], *, body: bytes = b"") -> None:
        """Set the status line and headers; they go out with the first `write` or `end`, so
        a head and the first part of the body leave in one packet. `body`: the whole body.

        Framing follows the headers: a Content-Length is used as given; otherwise the body is
        chunked on HTTP/1.1 and delimited by closing on HTTP/1.0.
        """
        if self.started or self.gone:
            return
        self.started = True
        request = self._request
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        length = None
        for name, value in headers:
            lower = name.lower()
            if lower in ("connection", "transfer-encoding", "keep-alive"):
                continue  # hop-by-hop: this server decides them
            if lower == "content-length":
                length = value
            lines.append(f"{name}: {value}")
        if request.method == "HEAD" or status in _NO_BODY or status < 200:
            self._framing = "none"
        elif length is not None:
            self._framing = "length"
        elif request.version == "HTTP/1.1":
            self._framing = "chunked"
            lines.append("Transfer-Encoding: chunked")
        else:
            self._framing = "close"
        keep = request.keep_alive and self._framing != "close" and not self._conn.must_close
        if not keep:
            self._conn.must_close = True
            lines.append("Connection: close")
        self._head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body:
            self.write(body)

    def write(self, data: bytes) -> None:
        """Send part of the body (with the head, if that has not gone out yet)."""
        if not data or self._ended or not self.started or self._framing == "none":
            return
        if self._framing == "chunked":
            data = b"%x\r\n%b\r\n" % (len(data), data)
        if self._head:
            data, self._head = self._head + data, b""
        self._conn.send(data)

    def end(self, data: bytes = b"") -> None:
        """Send `data`, finish the answer; the connection then reads the next request or closes."""
        if self._ended:
            return
        if not self.started:
            self.start(500, [("Content-Type", "text/plain"), ("Content-Length", "0")])
        if data and self._framing != "none":
            if self._framing == "chunked":
                data = b"%x\r\n%b\r\n" % (len(data), data)
        else:
            data = b""
        if self._framing == "chunked":
            data += b"0\r\n\r\n"
        self._ended = True
        payload, self._head = self._head + data, b""
        if payload and not self.gone:
            self._conn.send(payload)
        self._conn.finished(self)

    def _client_gone(self) -> None:
        callbacks, self._gone_callbacks = self._gone_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a disconnect callback failed")


_HEAD, _BODY, _HANDLING, _DISCARD = "head", "body", "handling", "discard"


class _Connection(asyncio.Protocol):
    """One client connection: reads requests one at a time and hands each to a handler."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._state = _HEAD
        self._request: Request | None = None
        self._needed = 0
        self._responder: Responder | None = None
        self.deadline = time.monotonic() + IDLE_SECONDS
        self.closed = False
        self.paused = False
        self.must_close = False
        self.drained_callbacks: list[Callable[[], None]] = []
        self._peer: tuple[str, int] = ("", 0)
        self._port = 0

    # --- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self._peer = (str(peer[0]), int(peer[1]))
        own = transport.get_extra_info("sockname")
        if isinstance(own, tuple):
            self._port = int(own[1])
        if not self._server.admit(self):
            self._refuse(HttpError(503, "Too many open connections."))

    def data_received(self, data: bytes) -> None:
        if self._state == _DISCARD:
            self._needed -= len(data)
            if self._needed <= 0:
                self._close()
            return
        self._buffer += data
        if self._state == _HANDLING:
            if len(self._buffer) > MAX_HEAD_BYTES and self._transport is not None:
                self._transport.pause_reading()  # a pipelined request waits its turn
            return
        self._advance()

    def eof_received(self) -> bool | None:
        return None  # the client is gone (or half-closed, which HTTP clients do not do)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._server.forget(self)
        responder, self._responder = self._responder, None
        if responder is not None:
            responder._client_gone()
        self._drained()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._drained()

    # --- reading ---------------------------------------------------------------------

    def _advance(self) -> None:
        """Parse what the buffer holds: a head, then its body, then hand the request on."""
        try:
            if self._state == _HEAD:
                if not self._buffer:
                    return
                if self.deadline > time.monotonic() + HEAD_SECONDS:
                    self.deadline = time.monotonic() + HEAD_SECONDS  # a request has begun
                while self._buffer[:2] == b"\r\n":
                    del self._buffer[:2]  # tolerated before a request line (RFC 9112 2.2)
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEAD_BYTES:
                        raise HttpError(431, "The request head is too large.")
                    return
                if end > MAX_HEAD_BYTES:
                    raise HttpError(431, "The request head is too large.")
                request = parse_head(bytes(self._buffer[:end]))
                del self._buffer[: end + 4]
                request.peer, request.port = self._peer, self._port
                if request.version == "HTTP/1.1" and request.header("host") is None:
                    raise HttpError(400, "An HTTP/1.1 request needs a Host header.")
                self._needed = body_length(request)
                if self._needed > self._server.max_body:
                    self._too_large(request)
                    return
                self._request, self._state = request, _BODY
                self.deadline = time.monotonic() + BODY_SECONDS
                if self._needed and "100-continue" in (request.header("expect") or "").lower():
                    self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            if self._state == _BODY:
                if len(self._buffer) < self._needed:
                    return
                pending = self._request
                assert pending is not None
                pending.body = bytes(self._buffer[: self._needed])
                del self._buffer[: self._needed]
                self._dispatch(pending)
        except HttpError as err:
            self._refuse(err)

    def _dispatch(self, request: Request) -> None:
        self._state = _HANDLING
        self._request = None
        responder = Responder(self, request)
        self._responder = responder
        try:
            self._server.route(request)(request, responder)
        except Exception:
            log.exception("a handler failed on %s", request.path[:200])
            if not responder.started:
                responder.start(500, [("Content-Type", "text/plain"), ("Content-Length", "0")])
            self.must_close = True
            responder.end()

    def finished(self, responder: Responder) -> None:
        """The answer to the current request was sent in full."""
        if responder is not self._responder:
            return
        self._responder = None
        if self.must_close or self.closed:
            self._close()
            return
        self._state = _HEAD
        self.deadline = time.monotonic() + IDLE_SECONDS
        if self._transport is not None:
            self._transport.resume_reading()
        if self._buffer:
            # A pipelined request waits for the loop's next turn: answered inside this call,
            # a run of requests answered at once would nest one stack frame deeper each.
            asyncio.get_running_loop().call_soon(self._advance_pipelined)

    def _advance_pipelined(self) -> None:
        if self._state == _HEAD and not self.closed:
            self._advance()

    def _too_large(self, request: Request) -> None:
        limit = self._server.max_body
        err = HttpError(413, f"The request is larger than {limit // (1024 * 1024)} MB.")
        remaining = self._needed - len(self._buffer)
        self._refuse(err, request)
        # Read and drop what is on its way, so the client gets to read the answer.
        self._state, self._needed = _DISCARD, remaining
        self._buffer.clear()
        self.deadline = time.monotonic() + DISCARD_SECONDS
        if self._needed <= 0:
            self._close()

    def _refuse(self, err: HttpError, request: Request | None = None) -> None:
        """Answer an error the server found itself, then close."""
        body, kind = self._server.error_body(err, request)
        head = (
            f"HTTP/1.1 {err.status} {_REASONS.get(err.status, 'Error')}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        self.send(head + body)
        self._state = _DISCARD
        self._needed = 0
        if err.status != 413:
            self._close()

    # --- writing ---------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if not self.closed and self._transport is not None:
            self._transport.write(data)

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()  # after the buffered answer is written

    def abort(self) -> None:
        """Drop the connection now (the server is stopping)."""
        if self._transport is not None:
            self._transport.abort()

    def _drained(self) -> None:
        callbacks, self.drained_callbacks = self.drained_callbacks, []
        for callback in callbacks:
            callback()

    def expired(self, now: float) -> bool:
        return self._state != _HANDLING and now > self.deadline


class HttpServer:
    """Listens on 127.0.0.1 on an event loop; native handlers by (method, path), else WSGI."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        wsgi: Handler,
        *,
        native: dict[tuple[str, str], Handler] | None = None,
        max_body: int,
        error_body: Callable[[HttpError, Request | None], tuple[bytes, str]] | None = None,
    ) -> None:
        self.loop = loop
        self.max_body = max_body
        self._wsgi = wsgi
        self._native = dict(native or {})
        self._error_body = error_body
        self._connections: set[_Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self.port = 0

    async def listen(self, port: int) -> None:
        """Bind the listening socket (on the loop); `start` begins accepting."""
        self._server = await self.loop.create_server(
            lambda: _Connection(self), "127.0.0.1", port, backlog=128, start_serving=False
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Begin accepting connections (on the loop)."""
        assert self._server is not None
        await self._server.start_serving()
        self._sweeper = self.loop.call_later(_SWEEP_SECONDS, self._sweep)

    async def close(self) -> None:
        """Stop accepting and drop every connection (on the loop)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        await asyncio.sleep(0)  # let connection_lost run

    def route(self, request: Request) -> Handler:
        return self._native.get((request.method, request.path), self._wsgi)

    def admit(self, conn: _Connection) -> bool:
        self._connections.add(conn)
        return len(self._connections) <= MAX_CONNECTIONS

    def forget(self, conn: _Connection) -> None:
        self._connections.discard(conn)

    def error_body(self, err: HttpError, request: Request | None) -> tuple[bytes, str]:
        if self._error_body is not None:
            return self._error_body(err, request)
        return err.message.encode(), "text/plain; charset=utf-8"

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self._connections):
            if conn.expired(now):
                conn.abort()
        self._sweeper = self.loop.call_later(_SWEEP_SECONDS, self._sweep)
