"""Which proxy a provider request goes through, and a proxy's failures as errors naming it.

The `proxy` setting is a `ProxyChoice`: `system` takes the proxies from the environment
(HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, as curl reads them; `socks5://` and `socks5h://`
too: httpx with socksio), `none` connects directly, `manual` sends http and https traffic
through the one URL given. Either way the result is a set of httpx mounts for the client
(`proxy_mounts`, `manual_mounts`), in which loopback hosts are never proxied. A proxied
transport marks each request with the proxy it goes through (`VIA`), so that a failure to reach
the proxy, or its refusal to go on, becomes an error that names the proxy (never its password)
instead of blaming the provider's address.
"""

from __future__ import annotations

import logging
import socket
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from backend.errors import ConnectionFailed, UpstreamFailure, UpstreamTimeout
from backend.i18n import tr
from backend.providers.wire.errors import Origin

log = logging.getLogger("miaoda.providers")

_LOOPBACK = ("localhost", "127.0.0.1", "::1")
# The request extension a proxied transport marks its requests with: the proxy, shown as
# `without_password` gives it (a failure to reach the proxy names it).
VIA = "miaoda.via"

ProxyMode = Literal["system", "none", "manual"]


@dataclass(frozen=True)
class ProxyChoice:
    """Which proxy provider requests go through: the `proxy` setting, password included."""

    mode: ProxyMode = "system"
    # For `manual`: the proxy's URL. It may hold a password, so it is kept out of reprs; show
    # `without_password(url)` instead.
    url: str | None = field(default=None, repr=False)


SYSTEM_PROXY = ProxyChoice()


def without_password(url: str) -> str:
    """A proxy URL as it may be shown: the user name stays, a password does not."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_loopback(url: str) -> bool:
    """Whether `url` points at this computer (such hosts are never proxied)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in _LOOPBACK


class ProxiedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport through one proxy, marking each request it sends with that proxy."""

    def __init__(self, proxy: str, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(proxy=proxy, verify=verify, limits=limits, trust_env=False)
        self.via = without_password(proxy)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions[VIA] = self.via
        return await super().handle_async_request(request)


def manual_mounts(
    url: str, verify: ssl.SSLContext, limits: httpx.Limits
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """httpx mounts sending http and https traffic through the proxy at `url`, loopback hosts
    excepted."""
    proxied = ProxiedTransport(url, verify, limits)
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {"http://": proxied, "https://": proxied}
    _exempt(mounts, _LOOPBACK)
    return mounts


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
            mounts[f"{scheme}://"] = ProxiedTransport(proxy, verify, limits)
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
    _exempt(mounts, [*exempt, *_LOOPBACK])
    return mounts


def _exempt(
    mounts: dict[str, httpx.AsyncBaseTransport | None], hosts: list[str] | tuple[str, ...]
) -> None:
    """Map each of `hosts` (names, addresses, `.domain` suffixes) to no proxy."""
    for host in hosts:
        if "://" in host:
            mounts[host] = None
        elif ":" in host.strip("[]"):  # IPv6
            mounts[f"all://[{host.strip('[]')}]"] = None
        elif host[0].isdigit() or host == "localhost":
            mounts[f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None


# --- failures of a proxy --------------------------------------------------------


def proxy_failure(exc: httpx.TransportError, via: str, origin: Origin) -> UpstreamFailure | None:
    """A failure of the proxy `via` (not found, refused, too slow, or refusing to go on to the
    provider) as an error naming it; None when the failure is the provider's own (TLS with the
    provider through the tunnel, an answer that broke off)."""
    if isinstance(exc, httpx.ProxyError):
        reason = origin.redactor.quote(str(exc) or type(exc).__name__, 120)
        return ConnectionFailed(
            tr("settings.proxy.refused", proxy=via, host=origin.host, reason=reason)
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return UpstreamTimeout(tr("settings.proxy.slow", proxy=via))
    if not isinstance(exc, httpx.ConnectError):
        return None
    cause: BaseException | None = exc
    seen: list[BaseException] = []
    while cause is not None and cause not in seen:
        # Through a proxy the app itself only looks up and connects to the proxy.
        if isinstance(cause, socket.gaierror):
            return ConnectionFailed(tr("settings.proxy.notFound", proxy=via))
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionFailed(tr("settings.proxy.unreachable", proxy=via))
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return None


def refused_by_proxy(response: httpx.Response, origin: Origin) -> UpstreamFailure | None:
    """A plain-http request's 407 from the proxy (it wants a user name and password)."""
    via = response.request.extensions.get(VIA)
    if response.status_code != 407 or not via:
        return None
    reason = f"{response.status_code} {response.reason_phrase}".strip()
    return ConnectionFailed(
        tr("settings.proxy.refused", proxy=via, host=origin.host, reason=reason)
    )
