"""The provider transport (`_h1`, `_net`): HTTP/1.1 over asyncio under httpx's client."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from backend.providers import ProviderService
from backend.providers.h1 import Http1Transport
from backend.providers.transport import ProviderClient, outgoing
from backend.providers.wire.base import HttpCall

T = TypeVar("T")
LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30.0)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], "asyncio.Future[None] | None"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a thread of its own: in the full suite the main thread may already
    have a running loop (Playwright's sync API leaves one behind)."""
    out: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            out.append(asyncio.run(coro))
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    if failure:
        raise failure[0]
    assert out, "the coroutine did not finish within 30 s"
    return out[0]


async def serve(handler: Handler) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
    await writer.drain()


def test_the_runtime_uses_our_transport_with_its_limits() -> None:
    service = ProviderService()
    try:
        client = service._runtime._client  # type: ignore[attr-defined]
        transport = client._transport
        assert isinstance(transport, Http1Transport)
        pool = transport._pool
        assert pool._max_idle == 20 and pool._expiry == 30.0
    finally:
        service.close()


def test_requests_and_keep_alive_reuse() -> None:
    async def main() -> list[bytes]:
        connections = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            for _ in range(3):
                await answer(reader, writer, b"hello")

        server, url = await serve(handler)
        async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
            bodies = [(await client.get(url)).content for _ in range(3)]
        server.close()
        assert connections == 1
        return bodies

    assert run(main()) == [b"hello"] * 3


def test_a_pooled_connection_the_server_closed_is_not_reused() -> None:
    async def main() -> list[int]:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await answer(reader, writer, b"once")
            writer.close()  # keep-alive promised, then closed while idle

        server, url = await serve(handler)
        async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
            first = await client.get(url)
            await asyncio.sleep(0.1)  # the close arrives while the connection is idle
            second = await client.get(url)
        server.close()
        return [first.status_code, second.status_code]

    assert run(main()) == [200, 200]


def test_a_silent_server_gives_a_read_timeout() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)

        server, url = await serve(handler)
        try:
            async with httpx.AsyncClient(
                transport=Http1Transport(LIMITS), timeout=httpx.Timeout(5.0, read=0.2)
            ) as client:
                with pytest.raises(httpx.ReadTimeout):
                    await client.get(url)
        finally:
            server.close()

    run(main())


def test_refused_and_unknown_hosts_keep_their_cause() -> None:
    async def main() -> list[BaseException]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        causes = []
        async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
            for url in (f"http://127.0.0.1:{port}/", "http://no-such-host.invalid/"):
                with pytest.raises(httpx.ConnectError) as caught:
                    await client.get(url)
                # As _errors._causes reads it.
                error: BaseException | None = caught.value
                while error is not None and (error.__cause__ or error.__context__) is not None:
                    error = error.__cause__ or error.__context__
                assert error is not None
                causes.append(error)
        return causes

    refused, unknown = run(main())
    assert isinstance(refused, ConnectionRefusedError)
    assert isinstance(unknown, socket.gaierror)


def test_a_broken_connection_mid_body_is_a_read_error() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            await writer.drain()
            writer.transport.abort()

        server, url = await serve(handler)
        try:
            async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
                with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                    await client.get(url)
        finally:
            server.close()

    run(main())


def test_a_requests_head_and_body_leave_in_one_write() -> None:
    async def main() -> list[bytes]:
        written: list[bytes] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await answer(reader, writer, b"ok")
            await answer(reader, writer, b"ok")

        server, url = await serve(handler)
        async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
            await client.get(url)  # a pooled connection to watch
            pool = client._transport._pool  # type: ignore[attr-defined]
            [[connection]] = pool._idle.values()
            real = connection._transport.write

            def spy(data: bytes) -> None:
                written.append(data)
                real(data)

            connection._transport.write = spy
            await client.post(url, content=b'{"hello": "world"}')
        server.close()
        return written

    [one] = run(main())
    assert one.startswith(b"POST / HTTP/1.1") and one.endswith(b'{"hello": "world"}')


def test_tune_gc_freezes_start_up_objects_and_collects_young_ones_less_often() -> None:
    import gc

    from backend.app import GC_YOUNG_THRESHOLD, tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_provider_requests_keep_no_cookies() -> None:
    async def main() -> list[bytes]:
        heads: list[bytes] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for _ in range(2):
                heads.append(await reader.readuntil(b"\r\n\r\n"))
                writer.write(
                    b"HTTP/1.1 200 OK\r\nSet-Cookie: lb=node-7; Path=/\r\n"
                    b"Content-Length: 2\r\n\r\nok"
                )
                await writer.drain()

        server, url = await serve(handler)
        async with ProviderClient(transport=Http1Transport(LIMITS)) as client:
            for _ in range(2):
                assert (await client.get(url)).content == b"ok"
            assert not client.cookies
            with pytest.raises(TypeError):
                client.cookies = {"a": "b"}  # type: ignore[assignment]
        server.close()
        return heads

    first, second = run(main())
    assert b"cookie" not in first.lower() and b"cookie" not in second.lower()


@pytest.mark.parametrize(
    "call",
    [
        HttpCall(
            "POST",
            "https://api.example.com/v1/chat/completions",
            {"user-agent": "MiaoDa", "authorization": "Bearer sk-x", "accept": "a/b"},
            {"model": "m", "messages": [{"role": "user", "content": "héllo ✓"}], "stream": True},
        ),
        HttpCall("GET", "http://127.0.0.1:11434/v1/models?api-version=2", {"user-agent": "M"}),
        HttpCall("GET", "https://bücher.example:8443/models", {"user-agent": "MiaoDa"}),
    ],
)
def test_outgoing_builds_what_build_request_would(call: HttpCall) -> None:
    timeout = httpx.Timeout(10.0, read=120.0)
    ours = outgoing(call, timeout)
    compact = {"ensure_ascii": False, "separators": (",", ":")}
    content = None if call.body is None else json.dumps(call.body, **compact).encode()
    theirs = httpx.AsyncClient().build_request(
        call.method, call.url, headers=call.headers, content=content, timeout=timeout
    )
    assert (ours.method, ours.url) == (theirs.method, theirs.url)
    assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())
    assert ours.extensions == theirs.extensions
    assert ours.read() == theirs.read()
