"""HTTP/1.1 for the shared `httpx.AsyncClient`: a transport of our own under httpx's client.

httpx lets a client take any `AsyncBaseTransport`; its default one goes through httpcore's
pool and the pure-Python h11 state machine, which cost about 0.7 ms per request before the
first byte of a chat (building, checking and parsing each event) and a few µs for every chunk
of a streamed answer (one h11 event and several async generators per chunk). This transport
speaks HTTP/1.1 directly: the request's head and body leave in one write, the response head is
parsed in one pass, and a chunked body is decoded once per network read, so a read that
carries a hundred chunks costs one step through httpx's stream instead of a hundred.

httpx's client still does what it did: building requests (base URL, headers, JSON), timeouts,
decompression, and the exception types `_errors` maps. Proxies are not spoken here: the runtime
mounts httpx's own transport for proxied origins (`proxy_mounts`). A chat stream to an unproxied
origin skips the client's request layer (`_http.Direct`): `send_now` writes its prepared bytes
on an idle connection at once, and `exchange` reads the answer, both on this same pool.

What it follows (RFC 9112): keep-alive unless either side says `close` or the answer is
HTTP/1.0; a body framed by chunked encoding, by Content-Length, or by the connection closing
(never reused); 1xx answers skipped; no body for HEAD, 204 and 304. A pooled connection the
server closed while idle is not reused, and a request that meets such a close before any
answer byte is sent once more on a new connection, as browsers do.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable, Mapping

import httpx

from backend.providers.net import Connection

_HEAD_LIMIT = 64 * 1024
_SIZE_LINE_LIMIT = 1024
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: ([^\r\n]*))?\r?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
log = logging.getLogger("miaoda.providers")

Key = tuple[str, str, int]


class Http1Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over a pool of asyncio connections, for `http://` and `https://` origins."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        context = ssl_context or httpx.create_ssl_context()
        context.set_alpn_protocols(["http/1.1"])
        self._pool = _Pool(limits, context)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"the URL scheme {url.scheme!r} is not supported")
        if not url.host:
            raise httpx.UnsupportedProtocol("the URL has no host")
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        key = pool_key(url)
        head, chunked, closing = request_head(request.method, url.raw_path, request.headers.raw)
        content = await request.aread()
        if chunked:  # the whole body is at hand: one chunk, then the last
            content = (b"%x\r\n%b\r\n" % (len(content), content) if content else b"") + b"0\r\n\r\n"
        return await self.exchange(key, head + content, request.method, timeouts, closing=closing)

    def send_now(self, key: Key, message: bytes) -> Connection | None:
        """Write `message` at once on an idle connection to `key`; None when none is idle.

        For a caller on the event loop that wants its request on the wire before anything
        else happens; it then hands the connection to `exchange(sent=...)`, or to `discard`
        if it never does.
        """
        connection = self._pool.take_idle(key)
        if connection is not None:
            connection.write_now(message)
        return connection

    async def exchange(
        self,
        key: Key,
        message: bytes,
        method: str,
        timeouts: Mapping[str, float | None],
        *,
        sent: Connection | None = None,
        closing: bool = False,
    ) -> httpx.Response:
        """Send `message` (a whole request) to `key` and return the answer, its body still to
        be read; `sent`: a connection `send_now` already wrote it on."""
        for attempt in range(2):
            connection = sent
            sent = None
            try:
                if connection is None:
                    connection = await self._pool.acquire(key, timeouts, fresh=attempt > 0)
                    try:
                        await connection.send(message, timeouts.get("write"))
                    except httpx.WriteError:
                        if not connection.reused:
                            raise
                        raise _Stale from None
                reply = await _read_head(connection, timeouts.get("read"))
                answer = _Body(connection, self._pool, reply, method, timeouts.get("read"))
            except _Stale:
                assert connection is not None
                self._pool.discard(connection)
                continue  # the server had closed the idle connection: once more, on a new one
            except BaseException:
                if connection is not None:
                    self._pool.discard(connection)
                raise
            if closing:
                answer.keep_alive = False
            return httpx.Response(
                reply.status,
                headers=reply.headers,
                stream=answer,
                extensions={"http_version": reply.version, "reason_phrase": reply.reason},
            )
        raise httpx.RemoteProtocolError("the server closed the connection without answering")

    def discard(self, connection: Connection) -> None:
        """Close a connection from `send_now` that will not be read."""
        self._pool.discard(connection)

    async def aclose(self) -> None:
        self._pool.close()


class _Stale(Exception):
    """A reused connection closed before any byte of the answer: safe to send again."""


class _Pool:
    """Connections by origin: at most `max_connections` open, the idle ones kept a while."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        self._ssl = ssl_context
        idle = limits.max_keepalive_connections  # None: no limit, as in httpx
        self._max_idle = 1_000_000 if idle is None else idle
        self._expiry = limits.keepalive_expiry
        self._slots = asyncio.Semaphore(limits.max_connections or 1_000_000)
        self._idle: dict[Key, list[Connection]] = {}
        self._idle_count = 0
        self._open: set[Connection] = set()

    async def acquire(
        self, key: Key, timeouts: Mapping[str, float | None], *, fresh: bool = False
    ) -> Connection:
        """An idle connection to `key` if one is usable (unless `fresh`), else a new one."""
        if not fresh:
            idle = self.take_idle(key)
            if idle is not None:
                return idle
        if self._slots.locked():
            self._close_one_idle()
        if self._slots.locked():
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await self._slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("no connection became free in time") from None
        else:
            await self._slots.acquire()  # free: returns at once
        try:
            connection = await Connection.open(
                key, self._ssl if key[0] == "https" else None, timeouts.get("connect")
            )
        except BaseException:
            self._slots.release()
            raise
        self._open.add(connection)
        return connection

    def take_idle(self, key: Key) -> Connection | None:
        """The most recently used idle connection to `key` that is still usable, if any."""
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            expired = (
                self._expiry is not None and time.monotonic() - connection.idle_since > self._expiry
            )
            if connection.usable and not expired:
                return connection
            self.discard(connection)
        return None

    def release(self, connection: Connection) -> None:
        """A connection whose exchange ended cleanly: keep it for the next request."""
        if connection.closed or self._idle_count >= self._max_idle or not connection.usable:
            self.discard(connection)
            return
        connection.mark_idle()
        self._idle.setdefault(connection.key, []).append(connection)
        self._idle_count += 1

    def discard(self, connection: Connection) -> None:
        connection.close()
        if connection in self._open:
            self._open.discard(connection)
            self._slots.release()

    def _close_one_idle(self) -> None:
        for idle in self._idle.values():
            if idle:
                self._idle_count -= 1
                self.discard(idle.pop(0))
                return

    def close(self) -> None:
        for connection in list(self._open):
            self.discard(connection)
        self._idle.clear()
        self._idle_count = 0


# --- the request ---------------------------------------------------------------------------


def pool_key(url: httpx.URL) -> Key:
    """(scheme, host, port) of an http or https URL: its connections' key in the pool."""
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme])


def request_head(
    method: str, target: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> tuple[bytes, bool, bool]:
    """(the request line and headers, whether the body is chunked, whether it asks to close).

    Raises `httpx.LocalProtocolError` for a header that cannot be sent as it is.
    """
    raw = list(headers)
    names = [name for name, _ in raw]
    # Checked all at once (two regular expressions, not two per header): a name of token
    # characters only, a value without line breaks or NUL.
    if not all(names) or not _TOKEN.fullmatch(b"".join(names)):
        raise httpx.LocalProtocolError("a header name cannot be sent as it is")
    if _BAD_VALUE.search(b" ".join([value for _, value in raw])):
        raise httpx.LocalProtocolError("a header value cannot be sent as it is")
    lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    chunked = closing = False
    for name, value in raw:
        lines.append(name + b": " + value)
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
        elif lowered == b"connection":
            closing = b"close" in value.lower()
    lines.append(b"\r\n")
    return b"\r\n".join(lines), chunked, closing


# --- the response --------------------------------------------------------------------------


class _Head:
    __slots__ = ("headers", "keep_alive", "reason", "status", "version")

    def __init__(
        self, status: int, reason: bytes, version: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.status, self.reason, self.version, self.headers = status, reason, version, headers
        self.keep_alive = version == b"HTTP/1.1"


async def _read_head(connection: Connection, timeout: float | None) -> _Head:
    """The final (non-1xx) response head, removed from the connection's buffer."""
    buffer = connection.buffer
    received = False
    while True:
        end = _BLANK_LINE.search(buffer)
        if end is None:
            if len(buffer) > _HEAD_LIMIT:
                raise httpx.RemoteProtocolError("the response head is too long")
            stale = connection.reused and not received and not buffer
            try:
                more = await connection.receive(timeout)
            except httpx.ReadError:  # reset: as stale as a clean close when nothing came
                if stale:
                    raise _Stale from None
                raise
            if not more:
                if stale:
                    raise _Stale
                raise httpx.RemoteProtocolError("the server closed the connection mid-answer")
            received = True
            continue
        head = _parse_head(bytes(buffer[: end.start()]))
        del buffer[: end.end()]
        if head.status == 101:
            raise httpx.RemoteProtocolError("the server switched protocols unasked")
        if head.status >= 200:
            return head
        received = True  # a 1xx answer (100 Continue, 103 Early Hints): the real one follows


def _parse_head(raw: bytes) -> _Head:
    status_line, *lines = raw.split(b"\n")
    matched = _STATUS_LINE.fullmatch(status_line)
    if matched is None:
        raise httpx.RemoteProtocolError("the answer is not HTTP/1.x")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise httpx.RemoteProtocolError("the answer has a malformed header line")
        headers.append((name, value.strip(b" \t\r")))
    version = b"HTTP/1.1" if matched[1] == b"1" else b"HTTP/1.0"
    return _Head(int(matched[2]), matched[3] or b"", version, headers)


def _framing(head: _Head, method: str) -> tuple[str, int]:
    """How the body ends: ("none"|"length"|"chunked"|"close", length); sets keep_alive."""
    chunked, length = False, None
    for name, value in head.headers:
        lowered = name.lower()
        if lowered == b"connection" and b"close" in value.lower():
            head.keep_alive = False
        elif lowered == b"transfer-encoding":
            chunked = value.lower().rsplit(b",", 1)[-1].strip() == b"chunked"
            length = -1  # Transfer-Encoding wins over any Content-Length
        elif lowered == b"content-length" and length != -1:
            if not value.isdigit() or (length is not None and int(value) != length):
                raise httpx.RemoteProtocolError("the answer has an invalid Content-Length")
            length = int(value)
    if method == "HEAD" or head.status in (204, 304):
        return "none", 0
    if chunked:
        return "chunked", 0
    if length is not None and length >= 0:
        return ("length", length) if length else ("none", 0)
    head.keep_alive = False
    return "close", 0


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives: one piece per network read, whatever its framing."""

    def __init__(
        self,
        connection: Connection,
        pool: _Pool,
        head: _Head,
        method: str,
        timeout: float | None,
    ) -> None:
        self._connection, self._pool, self._timeout = connection, pool, timeout
        self._kind, self._left = _framing(head, method)
        self.keep_alive = head.keep_alive
        self._chunks = _ChunkedDecoder() if self._kind == "chunked" else None
        self._complete = self._kind == "none"
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        buffer = connection.buffer
        while not self._complete:
            if buffer:
                data = self._take(buffer)
                if data:
                    yield data
                    continue
                if self._complete:
                    break
            if not await connection.receive(self._timeout):
                if self._kind != "close":
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection before the answer was complete"
                    )
                self._complete = True
        await self.aclose()

    def _take(self, buffer: bytearray) -> bytes:
        if self._chunks is not None:
            data, self._complete = self._chunks.decode(buffer)
            return data
        if self._kind == "length":
            data = bytes(buffer[: self._left])
            del buffer[: self._left]
            self._left -= len(data)
            self._complete = not self._left
            return data
        data = bytes(buffer)
        buffer.clear()
        return data

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        connection = self._connection
        if self._complete and self.keep_alive and not connection.buffer:
            self._pool.release(connection)
        else:
            self._pool.discard(connection)


class _ChunkedDecoder:
    """Chunked transfer coding, decoded from a buffer as far as it goes."""

    def __init__(self) -> None:
        self._left = 0  # bytes of the current chunk still to come
        self._state = "size"  # size | data | end (the CRLF after data) | trailer

    def decode(self, buffer: bytearray) -> tuple[bytes, bool]:
        """(data decoded from the front of `buffer`, whether the body ended); consumes it."""
        parts: list[bytes | bytearray] = []
        position, size, done = 0, len(buffer), False
        state = self._state
        while True:
            if state == "data":
                end = min(size, position + self._left)
                if end > position:
                    parts.append(buffer[position:end])
                    self._left -= end - position
                    position = end
                if self._left:
                    break
                state = "end"
            if state == "end":
                if size - position < 2:
                    if position < size and buffer[position] == 0x0A:  # a bare LF
                        position += 1
                        state = "size"
                        continue
                    break
                if buffer[position] == 0x0D and buffer[position + 1] == 0x0A:
                    position += 2
                elif buffer[position] == 0x0A:
                    position += 1
                else:
                    raise httpx.RemoteProtocolError("a chunk of the answer is longer than it said")
                state = "size"
            eol = buffer.find(b"\n", position)
            if eol < 0:
                if size - position > _SIZE_LINE_LIMIT:
                    raise httpx.RemoteProtocolError("the answer has a malformed chunk header")
                break
            line = bytes(buffer[position:eol]).rstrip(b"\r")
            position = eol + 1
            if state == "trailer":
                if not line:
                    done = True
                    break
                continue
            digits = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(digits):
                raise httpx.RemoteProtocolError("the answer has a malformed chunk header")
            self._left = int(digits, 16)
            state = "data" if self._left else "trailer"
        self._state = state
        del buffer[:position]
        return b"".join(parts), done


# --- proxies -------------------------------------------------------------------------------


def proxy_mounts(
    limits: httpx.Limits, environment: Mapping[str, str] | None = None
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """httpx mounts for the proxies the environment names (HTTP_PROXY, HTTPS_PROXY,
    ALL_PROXY, NO_PROXY, as curl reads them); proxied origins use httpx's own transport.

    Loopback hosts are never proxied: a local model server is reached directly.
    """
    found = (
        urllib.request.getproxies_environment()
        if environment is None
        else {
            name.lower().removesuffix("_proxy"): value
            for name, value in environment.items()
            if name.lower().endswith("_proxy") and value
        }
    )
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for scheme in ("http", "https", "all"):
        address = found.get(scheme)
        if address:
            proxy = address if "://" in address else f"http://{address}"
            try:
                mounts[f"{scheme}://"] = httpx.AsyncHTTPTransport(proxy=proxy, limits=limits)
            except (ImportError, ValueError):  # SOCKS without `socksio`, an unknown scheme
                log.warning(
                    "the %s proxy from the environment cannot be used (%s proxies are not "
                    "supported); connecting directly",
                    scheme,
                    proxy.split("://", 1)[0],
                )
    if not mounts:
        return {}
    exempt = [host.strip() for host in found.get("no", "").split(",") if host.strip()]
    if "*" in exempt:
        return {}
    for host in [*exempt, *_LOOPBACK]:
        if "://" in host:
            mounts[host] = None
        elif ":" in host.strip("[]"):  # IPv6
            mounts[f"all://[{host.strip('[]')}]"] = None
        elif host[0].isdigit() or host == "localhost":
            mounts[f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


__all__ = ["Http1Transport", "Key", "pool_key", "proxy_mounts", "request_head"]
