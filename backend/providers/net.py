"""Connections for the provider transport (`_h1`), built directly on asyncio transports.

An `asyncio.Protocol` buffers what arrives; a reader takes what is already there without a
turn of the event loop, and a timer exists only while a read actually waits. Failures are
raised as httpx's own exception types with the original error kept as `__cause__` (the
`socket.gaierror`, `ConnectionRefusedError` or `ssl.SSLError` that `_errors` reads to say
what went wrong).
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import time

import httpx


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


def _refused(exc: BaseException) -> BaseException:
    """`exc`, or a ConnectionRefusedError when every address of a host refused.

    For a host with several addresses (`localhost`: ::1 and 127.0.0.1) asyncio raises one
    plain OSError naming each failure; the error mapping looks for the refusal itself.
    """
    text = str(exc)
    if type(exc) is OSError and text.startswith("Multiple exceptions"):
        refusals = text.count(f"[Errno {errno.ECONNREFUSED}]")
        if refusals and refusals == text.count("[Errno "):
            return ConnectionRefusedError(errno.ECONNREFUSED, text)
    return exc


class Connection:
    """One TCP (or TLS) connection to an origin; `buffer` holds what arrived and is unread."""

    def __init__(self, key: tuple[str, str, int], transport: asyncio.Transport) -> None:
        protocol = transport.get_protocol()
        assert isinstance(protocol, _Protocol)
        self.key = key
        self.reused = False  # served a request before: the server may have closed it since
        self.idle_since = 0.0
        self._transport = transport
        self._protocol = protocol
        self.buffer = protocol.buffer

    @classmethod
    async def open(
        cls,
        key: tuple[str, str, int],
        ssl_context: ssl.SSLContext | None,
        timeout: float | None,
    ) -> Connection:
        """Connect to (scheme, host, port); TLS when `ssl_context` is given."""
        _, host, port = key
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    _Protocol,
                    host,
                    port,
                    ssl=ssl_context,
                    server_hostname=host if ssl_context is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from _refused(exc)
        assert isinstance(transport, asyncio.Transport)
        return cls(key, transport)

    @property
    def usable(self) -> bool:
        """For an idle connection: nothing arrived and it is still open, so it can be reused."""
        protocol = self._protocol
        return not (protocol.buffer or protocol.eof or protocol.lost)

    async def send(self, data: bytes, timeout: float | None) -> None:
        """Write `data`, waiting (up to `timeout`) only while the socket's buffer is full."""
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        self._transport.write(data)
        if protocol.paused:
            await _wait(
                protocol.wait_writable(asyncio.get_running_loop()), timeout, httpx.WriteTimeout
            )
            if protocol.lost:
                raise httpx.WriteError("the connection closed while writing")

    def write_now(self, data: bytes) -> None:
        """Write `data` without waiting (the transport buffers what the socket cannot take)."""
        self._transport.write(data)

    async def receive(self, timeout: float | None) -> bool:
        """Wait until more bytes are in `buffer`; False when the server closed instead."""
        protocol = self._protocol
        size = len(protocol.buffer)
        while len(protocol.buffer) == size:
            if protocol.lost and protocol.error is not None:
                error = protocol.error
                raise httpx.ReadError(str(error) or type(error).__name__) from error
            if protocol.eof or protocol.lost:
                return False
            await _wait(
                protocol.wait_readable(asyncio.get_running_loop()), timeout, httpx.ReadTimeout
            )
        return True

    def close(self) -> None:
        """Close at once (a response not read to its end cannot be reused anyway)."""
        self._transport.close()

    @property
    def closed(self) -> bool:
        return self._protocol.lost or self._transport.is_closing()

    def mark_idle(self) -> None:
        self.reused = True
        self.idle_since = time.monotonic()


__all__ = ["Connection"]
