"""The shared `httpx.AsyncClient` for provider requests, and one HTTP exchange over it.

The client is httpx's own, on httpx's own transport (httpcore over anyio, which also brings
Happy Eyeballs: an IPv6 address that drops packets does not cost the whole connect timeout).
Proxied and unproxied origins go through the same kind of transport; TLS is verified against
the operating system's trust store (`truststore`, so roots added by a company's TLS inspection
work), with certifi's roots where the OS store cannot be used. Proxies come from the
environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, as curl reads them; `socks5://`
and `socks5h://` too); loopback hosts are never proxied.

`Exchange` sends one request, turns transport failures and non-2xx answers into mapped errors
and reads bodies (bounded). The runtime decides what to send and what to do with the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import certifi
import httpx

from backend.providers.errors import from_transport
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
    """`async with`: send a request, map transport failures, raise for non-2xx statuses."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        call: HttpCall,
        origin: Origin,
        timeout: httpx.Timeout,
    ) -> None:
        self._client, self._call, self._origin, self._timeout = client, call, origin, timeout
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        try:
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

_LOOPBACK = ("localhost", "127.0.0.1", "::1")


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
) -> ProviderClient:
    """The shared client: httpx's transport (or the one given, in tests) and the proxies the
    environment names (`environment` replaces `os.environ`, for tests)."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
    verify = tls_context()
    mounts: dict[str, httpx.AsyncBaseTransport | None] | None = None
    if transport is None:
        transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
        mounts = proxy_mounts(verify, limits, environment)
    return ProviderClient(
        transport=transport,
        mounts=mounts,
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        trust_env=False,  # the environment's proxies are the mounts above; nothing else of it
    )


def proxy_mounts(
    verify: ssl.SSLContext,
    limits: httpx.Limits,
    environment: Mapping[str, str] | None = None,
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """httpx mounts for the proxies the environment names; loopback hosts and NO_PROXY hosts
    map to None (the client's own transport: no proxy)."""
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
        if not address:
            continue
        proxy = address if "://" in address else f"http://{address}"
        try:
            mounts[f"{scheme}://"] = httpx.AsyncHTTPTransport(
                proxy=proxy, verify=verify, limits=limits, trust_env=False
            )
        except (ImportError, ValueError):  # an unknown proxy scheme
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
