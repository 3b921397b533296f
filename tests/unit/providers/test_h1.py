"""The HTTP/1.1 transport (`_h1`) against real local asyncio servers: body framing, keep-alive,
malformed answers, stale connections, pool limits, cancellation, TLS and proxies."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from backend.providers.h1 import Http1Transport, proxy_mounts
from tests.unit.providers.test_net import LIMITS, Handler, answer, run, serve

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n"
    b'2;a=b;c="d"\r\n, \r\n'
    b"A\r\nwonderful \r\n"
    b"5\r\nworld\r\n"
    b"0;last\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n"
)
CHUNKED_BODY = b"hello, wonderful world"


class Seen:
    """What a test server saw: connections, request heads, and the client closing one."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.eof = asyncio.Event()
        self.handlers: list[asyncio.Task[object]] = []

    async def finish(self, server: asyncio.AbstractServer) -> None:
        """Stop `server` and let its handlers end (the client closed its connections)."""
        server.close()
        if self.handlers:
            await asyncio.wait(self.handlers, timeout=5)


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """The next request head, or None when the client closed the connection."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def replying(seen: Seen, parts: list[bytes], close: bool = False) -> Handler:
    """Answer every request with `parts`, one write each (the client may read each on its
    own); then close when `close`, else wait for the next request."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        seen.handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        while (head := await read_request(reader)) is not None:
            seen.requests.append(head)
            for part in parts:
                writer.write(part)
                await writer.drain()
                for _ in range(2):  # one turn to the client's read, one for it to run
                    await asyncio.sleep(0)
            if close:
                break
        else:
            seen.eof.set()
        writer.close()

    return handler  # type: ignore[return-value]


@contextlib.asynccontextmanager
async def client_of(
    seen: Seen,
    parts: list[bytes],
    close: bool = False,
    limits: httpx.Limits = LIMITS,
    **options: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client on our transport, and the URL of a server `replying` with `parts`."""
    server, url = await serve(replying(seen, parts, close))
    try:
        async with httpx.AsyncClient(transport=Http1Transport(limits), **options) as client:
            yield client, url
    finally:
        await seen.finish(server)


async def fetch(
    seen: Seen, parts: list[bytes], requests: int = 2, method: str = "GET", close: bool = False
) -> list[httpx.Response]:
    """`requests` requests, one after the other, to a server `replying` with `parts`."""
    async with client_of(seen, parts, close) as (client, url):
        return [await client.request(method, url) for _ in range(requests)]


def cause_chain(error: BaseException | None) -> list[BaseException]:
    """`error` and its causes, as `_errors._causes` walks them."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


# --- framing and keep-alive ----------------------------------------------------------------


def test_a_chunked_body_sent_one_byte_per_write_is_reassembled() -> None:
    seen = Seen()
    parts = [CHUNKED[i : i + 1] for i in range(len(CHUNKED))]
    responses = run(fetch(seen, parts))
    assert [r.content for r in responses] == [CHUNKED_BODY] * 2
    assert seen.connections == 1


@pytest.mark.parametrize("split", range(1, len(CHUNKED), 7))
def test_a_chunked_body_split_anywhere_is_exact_and_the_connection_reused(split: int) -> None:
    seen = Seen()
    responses = run(fetch(seen, [CHUNKED[:split], CHUNKED[split:]]))
    assert [r.content for r in responses] == [CHUNKED_BODY] * 2
    assert seen.connections == 1


def test_a_content_length_body_keeps_the_connection() -> None:
    seen = Seen()
    responses = run(fetch(seen, [OK]))
    assert [r.content for r in responses] == [b"hello"] * 2
    assert seen.connections == 1


def test_a_body_ended_by_the_close_is_read_whole_and_not_reused() -> None:
    seen = Seen()
    parts = [b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the close"]
    responses = run(fetch(seen, parts, close=True))
    assert [r.content for r in responses] == [b"until the close"] * 2
    assert seen.connections == 2


@pytest.mark.parametrize(
    ("raw", "version"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.1"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.0"),
    ],
    ids=["connection-close", "http-1.0"],
)
def test_connection_close_or_http_1_0_is_not_reused(raw: bytes, version: str) -> None:
    seen = Seen()
    responses = run(fetch(seen, [raw]))  # the server keeps it open: the client must not reuse
    assert [(r.content, r.http_version) for r in responses] == [(b"ok", version)] * 2
    assert seen.connections == 2


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"),
    ],
    ids=["head", "204", "304"],
)
def test_answers_without_a_body_keep_the_connection(method: str, raw: bytes) -> None:
    seen = Seen()
    responses = run(fetch(seen, [raw], method=method))
    assert [r.content for r in responses] == [b""] * 2
    assert seen.connections == 1


def test_informational_answers_are_skipped() -> None:
    seen = Seen()
    parts = [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone",
    ]
    [response] = run(fetch(seen, parts, requests=1))
    assert (response.status_code, response.content) == (201, b"done")
    assert "link" not in response.headers


# --- malformed answers ---------------------------------------------------------------------

MALFORMED = {
    "not-http": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    "no-colon": b"HTTP/1.1 200 OK\r\nContent-Length 5\r\n\r\nhello",
    "huge-head": b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000,
    "long-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        run(fetch(Seen(), [raw], requests=1))  # the server keeps the connection open


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_closes_its_connection(raw: bytes) -> None:
    async def main() -> None:
        seen = Seen()
        async with client_of(seen, [raw]) as (client, url):
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(url)
            await asyncio.wait_for(seen.eof.wait(), 3)  # before the client is closed

    run(main())


def test_a_body_cut_short_is_an_error() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        run(fetch(Seen(), [raw], requests=1, close=True))


# --- stale connections ---------------------------------------------------------------------


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_kept_connection_dropped_unanswered_is_retried_once_on_a_new_one(reset: bool) -> None:
    seen = Seen()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        seen.handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        first = seen.connections == 1
        while (head := await read_request(reader)) is not None:
            seen.requests.append(head)
            if first and len(seen.requests) == 2:  # read the second, close without answering
                if reset:  # a reset (RST) rather than a clean close (FIN)
                    linger = struct.pack("ii", 1, 0)
                    writer.get_extra_info("socket").setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, linger
                    )
                break
            writer.write(OK)
        writer.close()

    async def main() -> list[bytes]:
        server, url = await serve(handler)  # type: ignore[arg-type]
        try:
            async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
                return [(await client.get(url)).content for _ in range(2)]
        finally:
            await seen.finish(server)

    assert run(main()) == [b"hello"] * 2
    assert (seen.connections, len(seen.requests)) == (2, 3)


def test_when_every_kept_connection_went_stale_the_retry_uses_a_new_one() -> None:
    seen = Seen()
    answered: set[int] = set()  # connections that answered once: they drop the next request

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        seen.handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        number = seen.connections
        while (head := await read_request(reader)) is not None:
            seen.requests.append(head)
            if number in answered:
                break
            answered.add(number)
            await asyncio.sleep(0.05)  # so that two requests need two connections
            writer.write(OK)
        writer.close()

    async def main() -> bytes:
        server, url = await serve(handler)  # type: ignore[arg-type]
        try:
            async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
                await asyncio.gather(client.get(url), client.get(url))  # two kept connections
                return (await client.get(url)).content
        finally:
            await seen.finish(server)

    assert run(main()) == b"hello"
    assert seen.connections == 3  # one stale one tried, then a new one: not the other stale one


def test_a_fresh_connection_closed_unanswered_is_an_error_and_not_retried() -> None:
    seen = Seen()
    with pytest.raises(httpx.RemoteProtocolError):
        run(fetch(seen, [], requests=1, close=True))
    assert (seen.connections, len(seen.requests)) == (1, 1)


# --- the request ---------------------------------------------------------------------------


def test_a_header_value_with_a_line_break_is_refused_before_sending() -> None:
    seen = Seen()

    async def main() -> bytes:
        async with client_of(seen, [OK]) as (client, url):
            with pytest.raises(httpx.LocalProtocolError):
                await client.get(url, headers={"X-Bad": "a\r\nInjected: 1"})
            return (await client.get(url)).content

    assert run(main()) == b"hello"
    assert len(seen.requests) == 1 and b"Injected" not in seen.requests[0]


# --- the pool ------------------------------------------------------------------------------


def test_a_full_pool_times_out_until_a_response_is_closed() -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=30.0)

    async def main() -> bytes:
        timeout = httpx.Timeout(5.0, pool=0.2)
        async with client_of(Seen(), [OK], limits=limits, timeout=timeout) as (client, url):
            held = await client.send(client.build_request("GET", url), stream=True)
            with pytest.raises(httpx.PoolTimeout):
                await client.get(url)
            await held.aclose()
            return (await client.get(url)).content

    assert run(main()) == b"hello"


def test_no_keep_alive_limit_means_connections_are_kept() -> None:
    async def main() -> None:
        async with client_of(seen, [OK], limits=httpx.Limits(max_connections=10)) as (client, url):
            for _ in range(2):
                await client.get(url)

    seen = Seen()
    run(main())
    assert seen.connections == 1


def test_a_cancelled_request_closes_its_connection() -> None:
    async def main() -> None:
        asked, closed = asyncio.Event(), asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            asked.set()
            if not await reader.read():  # never answered: wait for the client's close
                closed.set()

        server, url = await serve(handler)  # type: ignore[arg-type]
        try:
            async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
                task = asyncio.create_task(client.get(url))
                await asyncio.wait_for(asked.wait(), 5)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                await asyncio.wait_for(closed.wait(), 1)
        finally:
            server.close()

    run(main())


# --- connecting ----------------------------------------------------------------------------


def test_localhost_refused_on_every_address_is_a_refusal() -> None:
    async def main() -> httpx.ConnectError:
        with socket.socket() as bound:  # bound, never listening: connections are refused
            bound.bind(("127.0.0.1", 0))
            port = bound.getsockname()[1]
            async with httpx.AsyncClient(transport=Http1Transport(LIMITS)) as client:
                with pytest.raises(httpx.ConnectError) as caught:
                    await client.get(f"http://localhost:{port}/")
        return caught.value

    chain = cause_chain(run(main()))
    assert any(isinstance(error, ConnectionRefusedError) for error in chain), chain


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(key.private_bytes(pem, pkcs8, serialization.NoEncryption()))
    return cert_file, key_file


async def fetch_tls(certificate: tuple[Path, Path], client_context: ssl.SSLContext | None) -> Seen:
    """Two GETs of https://localhost:<port>/ through a TLS server with `certificate`."""
    seen = Seen()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(*certificate)
    server = await asyncio.start_server(replying(seen, [OK]), "127.0.0.1", 0, ssl=server_context)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}/"
    try:
        transport = Http1Transport(LIMITS, ssl_context=client_context)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(2):
                assert (await client.get(url)).content == b"hello"
    finally:
        await seen.finish(server)
    return seen


def test_tls_to_a_trusted_certificate_works_and_reuses(certificate: tuple[Path, Path]) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    assert run(fetch_tls(certificate, context)).connections == 1


def test_tls_to_an_untrusted_certificate_is_a_connect_error(
    certificate: tuple[Path, Path],
) -> None:
    with pytest.raises(httpx.ConnectError) as caught:
        run(fetch_tls(certificate, None))
    chain = cause_chain(caught.value)
    assert any(isinstance(error, ssl.SSLError) for error in chain), chain


# --- proxies -------------------------------------------------------------------------------


def test_proxy_mounts_follow_the_environment_given() -> None:
    environment = {"HTTPS_PROXY": "proxy.example:3128", "NO_PROXY": "internal.example,10.0.0.1"}
    mounts = proxy_mounts(LIMITS, environment)
    assert isinstance(mounts.pop("https://"), httpx.AsyncHTTPTransport)
    assert mounts == dict.fromkeys(
        [
            "all://*internal.example",
            "all://10.0.0.1",
            "all://localhost",
            "all://127.0.0.1",
            "all://[::1]",
        ]
    )


@pytest.mark.parametrize(
    "environment", [{"HTTP_PROXY": "proxy.example:3128", "NO_PROXY": "*"}, {}, {"PATH": "/bin"}]
)
def test_no_proxy_at_all_gives_no_mounts(environment: dict[str, str]) -> None:
    assert proxy_mounts(LIMITS, environment) == {}


def test_a_proxied_request_goes_through_the_proxy_and_loopback_goes_direct() -> None:
    proxied: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxied.append(await reader.readuntil(b"\r\n"))
        await answer(reader, writer, b"via the proxy")
        writer.close()

    async def main() -> list[bytes]:
        proxy_server, proxy_url = await serve(proxy)  # type: ignore[arg-type]
        mounts = proxy_mounts(LIMITS, {"HTTP_PROXY": proxy_url})
        try:
            async with client_of(Seen(), [OK], mounts=mounts) as (client, url):
                through = await client.get("http://upstream.invalid/path")
                direct = await client.get(url + "/")  # loopback: never through the proxy
        finally:
            proxy_server.close()
        return [through.content, direct.content]

    assert run(main()) == [b"via the proxy", b"hello"]
    assert proxied == [b"GET http://upstream.invalid/path HTTP/1.1\r\n"]
