"""One HTTP exchange with a provider over the shared `httpx.AsyncClient`.

Sending, turning transport failures and non-2xx answers into mapped errors, reading bodies
(bounded), and the timeouts. The runtime decides what to send and what to do with the answer.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from backend.providers.errors import (
    Origin,
    PermanentConnectionFailure,
    error_object,
    from_payload,
    from_response,
    from_transport,
    invalid_response,
)
from backend.providers.h1 import Http1Transport, Key, pool_key, request_head
from backend.providers.net import Connection
from backend.providers.wire.base import HttpCall

_ERROR_BODY_LIMIT = 64 * 1024
_BODY_LIMIT = 16 * 1024 * 1024
_DRAIN_SECONDS = 1.0
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once, not per call


@dataclass(frozen=True)
class ProviderTimeouts:
    """Seconds allowed for each phase of a provider request."""

    connect: float = 10.0
    read: float = 120.0  # longest silence while streaming (reasoning models think quietly)
    write: float = 30.0
    pool: float = 10.0
    chat_read: float = 600.0  # a non-streamed answer arrives only when generation is over

    def for_stream(self) -> httpx.Timeout:
        """Timeouts of a streaming request."""
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)

    def for_chat(self) -> httpx.Timeout:
        """Timeouts of a non-streaming request."""
        return httpx.Timeout(
            connect=self.connect, read=self.chat_read, write=self.write, pool=self.pool
        )


def skip_missing_sniffio() -> None:
    """Make httpcore's per-request `import sniffio` fail fast when sniffio is not installed.

    httpcore tries that import several times per request; anyio 4 no longer pulls sniffio in,
    and each failed import searches sys.path again (about 0.1 ms each, a measurable share of
    time to first token). A `None` entry in sys.modules makes the import fail at once. It is
    only set when the package is absent, so installing sniffio turns this off by itself.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        """An answer's Set-Cookie is not kept."""


class ProviderClient(httpx.AsyncClient):
    """The shared client for provider requests: httpx's, keeping no cookies.

    Providers authenticate with keys. A cookie one of them sets (a load balancer's, a bot
    filter's) would otherwise be kept in memory and sent back on later requests, state a user
    can neither see nor clear; the official SDKs' clients would keep it, we choose not to.
    Not parsing Set-Cookie also saves ~40 µs of every request before its first byte.
    """

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("provider requests carry no cookies")


@functools.lru_cache(maxsize=256)
def parsed_url(url: str) -> httpx.URL:
    """`url` parsed once: httpx parses and checks a string URL on every request (about 0.1 ms,
    a tenth of the time to first token the app may add), while a parsed one is reused as it
    is. Chats to one provider send to one URL again and again."""
    return httpx.URL(url)


_TRANSPORT_HEADERS = {"accept-encoding": "gzip, deflate", "connection": "keep-alive"}


def _headers(url: httpx.URL, call_headers: dict[str, str]) -> dict[str, str]:
    """Every header but Content-Length: the call's over httpx's defaults, and Host."""
    headers = {"host": url.netloc.decode("ascii"), "accept": "*/*", **_TRANSPORT_HEADERS}
    headers.update(call_headers)
    return headers


def outgoing(call: HttpCall, timeout: httpx.Timeout) -> httpx.Request:
    """The request for `call`, whole: every header, including Host and Content-Length.

    The same request `client.build_request` makes (headers of the call over httpx's
    defaults), built directly: httpx's header merging and completion decode and compare every
    header several times over (~45 µs of each request, three times that when the CPU's caches
    are cold, as they are between one chat message and the next). Client-level headers, base
    URLs and cookies are not used by the provider client, so nothing is lost.
    """
    url = parsed_url(call.url)
    headers = _headers(url, call.headers)
    body = b""
    if call.body is not None:
        body = _ENCODER.encode(call.body).encode()
        headers["content-length"] = str(len(body))
    return httpx.Request(
        call.method,
        url,
        headers=headers,
        stream=httpx.ByteStream(body),
        extensions={"timeout": timeout.as_dict()},
    )


class Direct:
    """A request our transport sends itself, without the client's request and send layers.

    For streams to an origin the client would hand to that same transport anyway (no proxy).
    httpx's client spends ~0.1 ms per request building its Request and passing it through
    auth, redirect and hook layers that provider requests do not use, and the request would
    only leave on the stream task's first step. A `Direct` has the request's bytes ready (the
    head cached per provider), and on the event loop `send_now` puts them on an idle pooled
    connection before the stream's task even exists. Same pool, limits and timeouts.
    """

    __slots__ = ("_closing", "_key", "_message", "_method", "_sent", "_transport")

    def __init__(
        self, transport: Http1Transport, key: Key, message: bytes, method: str, closing: bool
    ) -> None:
        self._transport, self._key, self._message = transport, key, message
        self._method, self._closing = method, closing
        self._sent: Connection | None = None

    @classmethod
    def prepare(cls, transport: Http1Transport, call: HttpCall) -> Direct | None:
        """The request for `call`, or None when it must go through the client (anything the
        quick path does not handle: a body with its own framing, a header httpx would refuse)."""
        prepared = _prepared_head(call.method, call.url, tuple(call.headers.items()))
        if prepared is None:
            return None
        key, head, closing = prepared
        body = b""
        if call.body is not None:  # as `outgoing`: a body, and its length last
            body = _ENCODER.encode(call.body).encode()
            head += b"content-length: %d\r\n" % len(body)
        return cls(transport, key, head + b"\r\n" + body, call.method, closing)

    def send_now(self) -> None:
        """Write the request now if an idle connection is ready (on the event loop only)."""
        self._sent = self._transport.send_now(self._key, self._message)

    async def response(self, timeout: httpx.Timeout) -> httpx.Response:
        sent, self._sent = self._sent, None
        return await self._transport.exchange(
            self._key,
            self._message,
            self._method,
            timeout.as_dict(),
            sent=sent,
            closing=self._closing,
        )

    def abandon(self) -> None:
        """Close the connection `send_now` wrote on if nobody went on to read its answer."""
        sent, self._sent = self._sent, None
        if sent is not None:
            self._transport.discard(sent)


@functools.lru_cache(maxsize=64)
def _prepared_head(
    method: str, url: str, call_headers: tuple[tuple[str, str], ...]
) -> tuple[Key, bytes, bool] | None:
    """(pool key, request line and headers without the blank line, asks to close), or None.

    Cached: a provider's requests differ only in their bodies. It holds the key (in a header
    or the URL), so `ProviderService.forget_remembered` clears it when providers change.
    """
    try:
        parsed = parsed_url(url)
        headers = _headers(parsed, dict(call_headers))
        if parsed.scheme not in ("http", "https") or not parsed.host:
            return None
        raw = [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
        if any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in raw):
            return None
        head, _, closing = request_head(method, parsed.raw_path, raw)
    except (httpx.InvalidURL, httpx.LocalProtocolError, ValueError):
        return None  # the client path raises what it would for it
    return pool_key(parsed), head.removesuffix(b"\r\n"), closing


def forget_prepared() -> None:
    """Drop the parsed URLs and request heads kept for repeated requests (they hold keys)."""
    parsed_url.cache_clear()
    _prepared_head.cache_clear()


class Exchange:
    """`async with`: send a request, map transport failures, raise for non-2xx statuses."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        call: HttpCall,
        origin: Origin,
        timeout: httpx.Timeout,
        direct: Direct | None = None,
    ) -> None:
        self._client, self._call, self._origin, self._timeout = client, call, origin, timeout
        self._direct = direct
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        try:
            if self._direct is not None:
                response = await self._direct.response(self._timeout)
            else:
                response = await self._client.send(self._request(), stream=True)
        except httpx.TransportError as exc:
            raise from_transport(exc, self._origin) from None
        except httpx.HTTPError as exc:
            raise invalid_response(type(exc).__name__, self._origin) from None
        self._response = response
        if response.status_code >= 300:
            try:
                body = await _read_limited(response, _ERROR_BODY_LIMIT)
            except httpx.HTTPError:
                body = b""
            finally:
                await response.aclose()
            raise from_response(response.status_code, response.headers, body, self._origin)
        return response

    def _request(self) -> httpx.Request:
        try:
            return outgoing(self._call, self._timeout)
        except (httpx.InvalidURL, ValueError):
            raise PermanentConnectionFailure(
                f"The address {self._origin.url} is not a valid web address. Check the base URL."
            ) from None

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            await self._response.aclose()


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


async def json_payload(response: httpx.Response, origin: Origin) -> Any:
    """The JSON body of a 2xx answer; an error object inside it raises its mapped error."""
    try:
        body = await _read_limited(response, _BODY_LIMIT)
    except httpx.TransportError as exc:
        raise from_transport(exc, origin, mid_stream=True) from None
    try:
        payload = json.loads(body)
    except ValueError:
        raise invalid_response(
            f"not JSON: {body[:80].decode('utf-8', 'replace')}", origin
        ) from None
    if error_object(payload):
        raise from_payload(payload, origin, response.status_code)
    return payload


def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as it arrives: the transport's stream itself unless it must be decompressed.

    `aiter_bytes()` wraps the transport stream in two more async generators (decoding and
    re-chunking), about 1 µs per network chunk, some 10% of the relay's budget on a fast
    stream; event streams are rarely compressed, so they can skip both.
    """
    if header(response, b"content-encoding") in ("", "identity"):
        stream = response.stream
        if isinstance(stream, httpx.AsyncByteStream):
            return stream.__aiter__()
    return response.aiter_bytes()


def header(response: httpx.Response, name: bytes) -> str:
    """The first value of header `name` (lower case), "" when absent.

    `response.headers.get` decodes and compares every header on each call, which is a visible
    share of the work before a stream's first event; this reads the raw pairs once.
    """
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


async def drain(chunks: AsyncIterator[bytes]) -> None:
    # Reading the body to its end lets the pool reuse the connection (no new TCP/TLS
    # handshake for the next message); a server that lingers after its end marker is cut off.
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in chunks:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass
