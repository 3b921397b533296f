"""Streams our transport sends itself (`_http.Direct`): the same bytes the client would send,
written before the stream's task runs, and no connection left behind when that task never runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from backend.providers import ChatStream, ProviderService
from backend.providers.errors import Origin
from backend.providers.h1 import Http1Transport, request_head
from backend.providers.service import _remembered_origin
from backend.providers.transport import Direct, Exchange, _prepared_head, outgoing
from backend.providers.wire.base import HttpCall
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    drain,
    fake_config,
    openai_stream,
    user_request,
)
from tests.unit.providers.test_h1 import Seen, read_request
from tests.unit.providers.test_net import LIMITS, run, serve

T = TypeVar("T")
PATH = "/v1/chat/completions"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def calls(base: str) -> list[HttpCall]:
    chat = {"model": "m", "messages": [{"role": "user", "content": "héllo ✓"}], "stream": True}
    return [
        HttpCall("POST", f"{base}/v1/chat/completions", {"authorization": "Bearer sk-x"}, chat),
        HttpCall(
            "POST",
            f"{base}/openai/deployments/d/chat/completions?api-version=2024-10-21",
            {"api-key": "k", "X-Custom": "a b", "user-agent": "MiaoDa", "accept": "a/b"},
            chat,
        ),
        HttpCall("GET", f"{base}/v1/models", {"x-api-key": "k"}),
        HttpCall("POST", f"{base}/v1/messages", {"Connection": "close"}, {"a": [1, None]}),
    ]


@contextlib.contextmanager
def keep_closed(transport: Http1Transport) -> Iterator[Http1Transport]:
    try:
        yield transport
    finally:
        run(transport.aclose())


def test_a_direct_request_is_the_bytes_the_client_would_send() -> None:
    # What the server receives through `client.send` and through `Direct`, byte for byte.
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (head := await read_request(reader)) is not None:
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            received.append(head + await reader.readexactly(length))
            writer.write(OK)
        writer.close()

    async def main() -> None:
        server, url = await serve(handler)  # type: ignore[arg-type]
        transport = Http1Transport(LIMITS)
        timeout = httpx.Timeout(5.0)
        async with httpx.AsyncClient(transport=transport) as client:
            for call in calls(url):
                origin = Origin.of(call.url, "m", None)
                direct = Direct.prepare(transport, call)
                assert direct is not None
                for way in (None, direct):
                    async with Exchange(client, call, origin, timeout, way) as response:
                        assert await response.aread() == b"ok"
        server.close()

    run(main())
    assert len(received) == 2 * len(calls("http://h"))
    for through_client, through_direct in zip(received[::2], received[1::2], strict=True):
        assert through_direct == through_client


@pytest.mark.parametrize("call", calls("https://api.example.com:8443"))
def test_a_prepared_request_matches_the_clients_head(call: HttpCall) -> None:
    with keep_closed(Http1Transport(LIMITS)) as transport:
        direct = Direct.prepare(transport, call)
        assert direct is not None
        request = outgoing(call, httpx.Timeout(5.0))
        head, _, closing = request_head(call.method, request.url.raw_path, request.headers.raw)
        assert direct._message == head + request.read()
        assert direct._key == ("https", "api.example.com", 8443)
        assert direct._closing == closing == ("Connection" in call.headers)


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("http://127.0.0.1:1/v1", {"x-name": "Zoë"}),  # not ASCII: the client's error applies
        ("http://127.0.0.1:1/v1", {"x-bad": "a\r\nInjected: 1"}),
        ("http://127.0.0.1:1/v1", {"bad name": "v"}),
        ("http://127.0.0.1:1/v1", {"content-length": "3"}),
        ("http://127.0.0.1:1/v1", {"Transfer-Encoding": "chunked"}),
        ("ftp://127.0.0.1/v1", {}),
        ("http:///v1", {}),
        ("http://[::1/v1", {}),
    ],
)
def test_what_the_quick_path_does_not_take_goes_through_the_client(
    url: str, headers: dict[str, str]
) -> None:
    with keep_closed(Http1Transport(LIMITS)) as transport:
        assert Direct.prepare(transport, HttpCall("POST", url, headers, {"a": 1})) is None


def test_only_an_unproxied_runtime_of_our_own_sends_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    plain = ProviderService()
    injected = ProviderService(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    proxied = ProviderService()
    try:
        assert isinstance(plain._runtime._direct, Http1Transport)
        assert injected._runtime._direct is None
        assert proxied._runtime._direct is None
    finally:
        for service in (plain, injected, proxied):
            service.close()


# --- on the event loop --------------------------------------------------------------------


def on_loop(service: ProviderService, work: Callable[[], T]) -> T:
    """Run `work` on the provider loop (as the chat route does) and return its result."""
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def call() -> None:
        try:
            done.set_result(work())
        except BaseException as exc:  # handed to the test's thread
            done.set_exception(exc)

    service.loop.call_soon_threadsafe(call)
    return done.result(10)


def open_connections(service: ProviderService) -> int:
    transport = service._runtime._direct
    assert transport is not None
    return len(transport._pool._open)


def wait_until_kept(service: ProviderService) -> None:
    """Wait until the last stream's connection is back in the pool: after its `done` the
    stream still reads the end of the body, and only then keeps the connection."""
    transport = service._runtime._direct
    assert transport is not None
    deadline = time.monotonic() + 5
    while on_loop(service, lambda: transport._pool._idle_count) < 1:
        assert time.monotonic() < deadline, "the connection never went back to the pool"
        time.sleep(0.005)


def test_a_stream_opened_on_the_loop_reuses_its_kept_connection(upstream: FakeUpstream) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["Hel", "lo"])))
    service = ProviderService()
    config = fake_config(upstream.url + "/v1")
    try:
        texts = []
        for _ in range(3):
            stream = on_loop(service, lambda: service.open_stream(config, "sk-1", user_request()))
            texts.append("".join(e.data["text"] for e in drain(stream) if e.kind == "delta"))
            wait_until_kept(service)
        assert texts == ["Hello"] * 3
        assert len(upstream.requests) == 3 and open_connections(service) == 1
        assert upstream.requests[-1].headers["authorization"] == "Bearer sk-1"
    finally:
        service.close()


def test_a_stream_cancelled_before_its_task_ran_closes_the_connection_it_wrote_on(
    upstream: FakeUpstream,
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["warm"])), Reply(hang_before_headers=5))
    service = ProviderService()
    config = fake_config(upstream.url + "/v1")
    try:
        drain(service.open_stream(config, None, user_request()))
        wait_until_kept(service)

        def open_and_cancel() -> ChatStream:
            stream = service.open_stream(config, None, user_request())
            stream.cancel()  # before the stream's task took a single step
            return stream

        stream = on_loop(service, open_and_cancel)
        # The request left from `open_stream` itself; the cancel closed its connection.
        gone = upstream.wait_for_disconnect(1.0)
        assert gone is not None and gone is upstream.requests[1]
        assert [e.kind for e in drain(stream)] == ["done"]
        assert open_connections(service) == 0
    finally:
        service.close()


def test_a_request_written_on_a_connection_the_server_dropped_is_sent_again() -> None:
    seen = Seen()
    stream_reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%b"
    )
    body = b"".join(openai_stream(["ok"]))

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        first = seen.connections == 1
        while (head := await read_request(reader)) is not None:
            seen.requests.append(head)
            if first and len(seen.requests) == 2:
                break  # the kept connection: read the second request, close unanswered
            await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split()[0]))
            writer.write(stream_reply % (len(body), body))
        writer.close()

    server_loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[tuple[Any, str]] = concurrent.futures.Future()

    async def start() -> None:
        ready.set_result(await serve(handler))  # type: ignore[arg-type]

    thread = threading.Thread(target=server_loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), server_loop)
    server, url = ready.result(5)
    service = ProviderService()
    config = fake_config(url + "/v1")
    transport = service._runtime._direct
    assert transport is not None
    written: list[bool] = []
    send_now = transport.send_now

    def spy(key: Any, message: bytes) -> Any:
        connection = send_now(key, message)
        written.append(connection is not None)
        return connection

    transport.send_now = spy  # type: ignore[method-assign]
    try:
        texts = []
        for number in range(2):
            stream = on_loop(service, lambda: service.open_stream(config, None, user_request()))
            texts.append("".join(e.data["text"] for e in drain(stream) if e.kind == "delta"))
            if not number:
                wait_until_kept(service)
        assert texts == ["ok", "ok"]
        assert written == [False, True]  # the second went out at once, on the dropped one
        assert (seen.connections, len(seen.requests)) == (2, 3)
    finally:
        service.close()
        server_loop.call_soon_threadsafe(server.close)
        server_loop.call_soon_threadsafe(server_loop.stop)
        thread.join(5)


def test_forgetting_remembered_providers_drops_the_prepared_requests() -> None:
    with keep_closed(Http1Transport(LIMITS)) as transport:
        assert Direct.prepare(transport, calls("http://127.0.0.1:9")[0]) is not None
        assert _prepared_head.cache_info().currsize >= 1
        ProviderService.forget_remembered()
        assert _prepared_head.cache_info().currsize == 0
        assert _remembered_origin.cache_info().currsize == 0
