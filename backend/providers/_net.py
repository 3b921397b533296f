"""A network backend for httpcore built directly on asyncio transports.

httpx's async client reaches sockets through httpcore's AnyIO backend, which opens a cancel
scope (with its task bookkeeping) around every read and write and asks the socket for its
addresses each time httpcore inspects a connection. On the provider loop, which relays chat
streams, that was a measurable share of each request and of each network read. This backend
does the same job with an `asyncio.Protocol`: data that has already arrived is returned
without touching the event loop, and a timer exists only while a read actually waits.

It follows httpcore's network backend interface (connect, read, write, TLS upgrade, close,
connection info) and raises httpcore's exception types, so httpx maps failures exactly as it
does for its own backend (our error mapping in `_errors` relies on the same causes: the
`socket.gaierror`, `ConnectionRefusedError` or `ssl.SSLError` is kept as `__cause__`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

_COALESCE_LIMIT = 64 * 1024  # bigger writes go out at once
_SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class _Protocol(asyncio.Protocol):
    """Buffers what arrives; wakes the one reader or writer waiting."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.paused = False
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # close our side too: an HTTP/1.1 client never half-closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_writer()

    def wait_readable(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        self._reader = loop.create_future()
        return self._reader

    def wait_writable(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        self._writer = loop.create_future()
        return self._writer

    def _wake_reader(self) -> None:
        waiter, self._reader = self._reader, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter, self._writer = self._writer, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def _wait(
    waiter: asyncio.Future[None], timeout: float | None, error: type[Exception]
) -> None:
    """Wait for `waiter`; `error` when `timeout` seconds pass first."""
    if timeout is None:
        await waiter
        return
    handle = asyncio.get_running_loop().call_later(timeout, _expire, waiter, error, timeout)
    try:
        await waiter
    finally:
        handle.cancel()


def _expire(waiter: asyncio.Future[None], error: type[Exception], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(error(f"timed out after {timeout:g} s"))


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: an asyncio transport and our protocol."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._outgoing: list[bytes] = []  # written, not yet handed to the transport

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof and not protocol.lost:
            waiter = protocol.wait_readable(asyncio.get_running_loop())
            await _wait(waiter, timeout, httpcore.ReadTimeout)
        if protocol.buffer:
            data = bytes(protocol.buffer[:max_bytes])
            del protocol.buffer[:max_bytes]
            return data
        if protocol.lost and protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error)) from protocol.error
        return b""  # the server closed the connection

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        # httpcore writes a request's head and body separately; they leave together, in
        # one packet, at the end of this turn of the loop (before it can wait on anything).
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(buffer)
        if protocol.paused or len(buffer) > _COALESCE_LIMIT:
            self._flush()
        if protocol.paused:
            waiter = protocol.wait_writable(asyncio.get_running_loop())
            await _wait(waiter, timeout, httpcore.WriteTimeout)
            if protocol.lost:
                raise httpcore.WriteError("the connection closed while writing")

    def _flush(self) -> None:
        if self._outgoing and not self._transport.is_closing():
            data = b"".join(self._outgoing) if len(self._outgoing) > 1 else self._outgoing[0]
            self._transport.write(data)
        self._outgoing.clear()

    async def aclose(self) -> None:
        self._flush()
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        self._flush()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout("the TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # the connection closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            # For an idle pooled connection: anything arriving (or the server closing) means
            # it cannot be reused.
            protocol = self._protocol
            return bool(protocol.buffer) or protocol.eof or protocol.lost
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connections for httpcore as plain asyncio transports."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=local
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        raw = transport.get_extra_info("socket")
        for option in socket_options or ():
            raw.setsockopt(*option)
        assert isinstance(transport, asyncio.Transport)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {path} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        assert isinstance(transport, asyncio.Transport)
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def use_fast_locks() -> bool:
    """Make httpcore's async locks take an uncontended lock without yielding to the loop.

    httpcore guards its pool and connections with `anyio.Lock`, whose `acquire` always goes
    once round the event loop, even when nobody holds the lock. A request takes several, so
    each request waited several loop turns before its first byte was sent (0.15–0.4 ms of
    time to first token here). anyio's `fast_acquire` (anyio ≥ 4.5) skips that turn when the
    lock is free; a contended lock still waits as before. Returns False, changing nothing,
    when httpcore or anyio no longer look as expected (tests/unit/providers/test_net.py
    then fails, so the change is noticed).
    """
    import inspect

    import anyio
    from httpcore import _synchronization as sync

    lock = getattr(sync, "AsyncLock", None)
    setup = getattr(lock, "setup", None)
    if setup is None or "fast_acquire" not in inspect.signature(anyio.Lock).parameters:
        return False
    if getattr(setup, "_miaoda_fast", False):
        return True

    def fast_setup(self: Any) -> None:
        setup(self)
        if getattr(self, "_backend", "") == "asyncio":
            self._anyio_lock = anyio.Lock(fast_acquire=True)

    fast_setup._miaoda_fast = True  # type: ignore[attr-defined]
    lock.setup = fast_setup  # type: ignore[union-attr]
    return True


def asyncio_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (request building, exception mapping, pooling) with its
    connections made by `AsyncioBackend`.

    httpx does not take a network backend as an argument, so its pool is rebuilt with the
    same settings plus the backend. `tests/unit/providers/test_net.py` checks this still
    holds, so an httpx upgrade that changes it fails loudly instead of silently.
    """
    transport = httpx.AsyncHTTPTransport(limits=limits)
    old = transport._pool
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=old._ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=AsyncioBackend(),
    )
    return transport


__all__ = ["AsyncioBackend", "AsyncioStream", "asyncio_transport", "use_fast_locks"]
