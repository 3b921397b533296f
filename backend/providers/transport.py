"""The shared `httpx.AsyncClient` for provider requests, and one HTTP exchange over it.

The client is httpx's own, on httpx's own transport (httpcore over anyio, which also brings
Happy Eyeballs: an IPv6 address that drops packets does not cost the whole connect timeout).
Proxied and unproxied origins go through the same kind of transport; TLS is verified against
the operating system's trust store (`truststore`, so roots added by a company's TLS inspection
work), with certifi's roots where the OS store cannot be used.

Proxies follow the `proxy` setting (`backend.providers.proxies`). `SharedClient` holds the
client in use and replaces it whole when the setting changes: requests in flight finish on the
client they started on, which is closed after the last of them.

`Exchange` sends one request, turns transport failures and non-2xx answers into mapped errors
(a failure to reach the proxy names the proxy) and reads bodies (bounded). The runtime decides
what to send and what to do with the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import certifi
import httpx

from backend.errors import UpstreamTimeout
from backend.i18n import tr
from backend.providers.errors import from_transport
from backend.providers.proxies import (
    SYSTEM_PROXY,
    VIA,
    ProxyChoice,
    manual_mounts,
    proxy_failure,
    proxy_mounts,
    refused_by_proxy,
)
from backend.providers.wire.base import HttpCall
from backend.providers.wire.errors import (
    Origin,
    PermanentConnectionFailure,
    error_object,
    from_payload,
    from_response,
    invalid_response,
)

log = logging.getLogger("miaoda.providers")
_ERROR_BODY_LIMIT = 64 * 1024
_BODY_LIMIT = 16 * 1024 * 1024
_DRAIN_SECONDS = 1.0
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once, not per call


# What tests hand the provider layer instead of the network (e.g. `httpx.MockTransport`).
Transport = httpx.AsyncBaseTransport


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


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        """An answer's Set-Cookie is not kept."""


class ProviderClient(httpx.AsyncClient):
    """The shared client for provider requests: httpx's, keeping no cookies.

    Providers authenticate with keys. A cookie one of them sets (a load balancer's, a bot
    filter's) would otherwise be kept in memory and sent back on later requests, state a user
    can neither see nor clear; the official SDKs' clients would keep it, we choose not to.
    """

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("provider requests carry no cookies")


def _headers(url: httpx.URL, call_headers: dict[str, str]) -> dict[str, str]:
    """Every header but Content-Length: the call's over httpx's defaults, and Host."""
    headers = {
        "host": url.netloc.decode("ascii"),
        "accept": "*/*",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
    }
    headers.update(call_headers)
    return headers


def outgoing(call: HttpCall, timeout: httpx.Timeout) -> httpx.Request:
    """The request for `call`: the call's headers over httpx's defaults (no User-Agent of
    httpx's own: the adapters name the app), and the body as compact UTF-8 JSON."""
    url = httpx.URL(call.url)
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


class Exchange:
    """`async with`: send a request, map transport failures, raise for non-2xx statuses.

    The request goes out on the client `clients` holds when it starts, and stays on it to the
    end (see `SharedClient`)."""

    def __init__(
        self,
        clients: SharedClient,
        call: HttpCall,
        origin: Origin,
        timeout: httpx.Timeout,
    ) -> None:
        self._clients, self._call, self._origin, self._timeout = clients, call, origin, timeout
        self._client: ProviderClient | None = None
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        request = self._request()
        self._client = self._clients.lease()
        try:
            response = await self._send(request)
            if response.status_code >= 300:
                try:
                    body = await _read_limited(response, _ERROR_BODY_LIMIT)
                except httpx.HTTPError:
                    body = b""
                finally:
                    await response.aclose()
                raise refused_by_proxy(response, self._origin) or from_response(
                    response.status_code, response.headers, body, self._origin
                )
        except BaseException:
            await self._release()  # __aexit__ does not run when __aenter__ raises
            raise
        self._response = response
        return response

    async def _send(self, request: httpx.Request) -> httpx.Response:
        assert self._client is not None
        try:
            return await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            via = request.extensions.get(VIA)
            failure = proxy_failure(exc, via, self._origin) if via else None
            raise (failure or from_transport(exc, self._origin)) from None
        except httpx.HTTPError as exc:
            raise invalid_response(type(exc).__name__, self._origin) from None

    async def _release(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._clients.release(client)

    def _request(self) -> httpx.Request:
        try:
            return outgoing(self._call, self._timeout)
        except (httpx.InvalidURL, ValueError):
            raise PermanentConnectionFailure(
                f"The address {self._origin.url} is not a valid web address. Check the base URL."
            ) from None

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._response is not None:
                await self._response.aclose()
        finally:
            await self._release()


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


async def drain(chunks: AsyncIterator[bytes]) -> None:
    # Reading the body to its end lets the pool reuse the connection (no new TCP/TLS
    # handshake for the next message); a server that lingers after its end marker is cut off.
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in chunks:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass


# --- the client ----------------------------------------------------------------------------


def tls_context() -> ssl.SSLContext:
    """Certificates checked against the OS trust store; certifi's roots where it cannot be used."""
    try:
        import truststore

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except Exception as exc:  # an OS or Python build truststore does not support
        log.warning("the system trust store cannot be used (%s); using certifi's roots", exc)
        return ssl.create_default_context(cafile=certifi.where())


def new_client(
    timeout: httpx.Timeout,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    environment: Mapping[str, str] | None = None,
    proxy: ProxyChoice = SYSTEM_PROXY,
) -> ProviderClient:
    """A client: httpx's transport (or the one given, in tests, which ignores `proxy`) with
    the proxies `proxy` chooses (`environment` replaces `os.environ` for `system`, in tests)."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
    verify = tls_context()
    mounts: dict[str, httpx.AsyncBaseTransport | None] | None = None
    if transport is None:
        transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
        if proxy.mode == "system":
            mounts = proxy_mounts(verify, limits, environment)
        elif proxy.mode == "manual" and proxy.url:
            mounts = manual_mounts(proxy.url, verify, limits)
    return ProviderClient(
        transport=transport,
        mounts=mounts,
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        trust_env=False,  # the proxies are the mounts above; nothing else of the environment
    )


def probe_timeout(origin: Origin, seconds: float) -> UpstreamTimeout:
    """A proxy test that got no answer within `seconds`."""
    return UpstreamTimeout(
        tr("settings.proxy.testTimeout", host=origin.host, seconds=f"{seconds:g}")
    )


# --- the client in use -----------------------------------------------------------------------


class SharedClient:
    """The provider client in use, replaced whole when the proxy setting changes.

    `lease` hands the current client to one exchange and `release` takes it back. `replace`
    makes a new client current; the one it replaces is closed once no exchange holds it, so a
    request in flight (a stream may last minutes) finishes on the connection it started on.
    Everything but `build` runs on the provider loop, so the counts need no lock. A transport
    given in tests is kept whatever the proxy (`fixed`).
    """

    def __init__(
        self,
        timeout: httpx.Timeout,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: ProxyChoice = SYSTEM_PROXY,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._timeout = timeout
        self._transport = transport
        self._environment = environment
        self.proxy = proxy
        self._current = self.build(proxy)
        self._leases: Counter[ProviderClient] = Counter()
        self._retired: set[ProviderClient] = set()

    @property
    def fixed(self) -> bool:
        """Whether the client's transport was given (then no proxy applies)."""
        return self._transport is not None

    def build(self, proxy: ProxyChoice) -> ProviderClient:
        """A new client for `proxy`; any thread (it touches nothing shared)."""
        return new_client(
            self._timeout, transport=self._transport, environment=self._environment, proxy=proxy
        )

    def lease(self) -> ProviderClient:
        """The current client, for one exchange: give it back with `release`."""
        client = self._current
        self._leases[client] += 1
        return client

    async def release(self, client: ProviderClient) -> None:
        """An exchange is done with `client`; a replaced client is closed after its last."""
        self._leases[client] -= 1
        if self._leases[client] > 0:
            return
        del self._leases[client]
        if client in self._retired:
            self._retired.discard(client)
            await client.aclose()

    async def replace(self, proxy: ProxyChoice, client: ProviderClient) -> None:
        """Use `client` (built by `build(proxy)`) for every later exchange."""
        old, self._current, self.proxy = self._current, client, proxy
        if self._leases[old] > 0:
            self._retired.add(old)
        else:
            self._leases.pop(old, None)
            await old.aclose()

    async def aclose(self) -> None:
        """Close the current client and any replaced one still in use."""
        clients, self._retired = [self._current, *self._retired], set()
        for client in clients:
            await client.aclose()
