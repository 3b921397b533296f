"""Connection failures (DNS, refused, TLS, timeout, a broken stream) as the app's error codes.

The other half of the mapping, what a provider said (statuses, bodies, error events), is pure
and lives in `backend.providers.wire.errors`; together they are the one place where provider
failures become error codes.
"""

from __future__ import annotations

import socket
import ssl

import httpx

from backend.errors import ConnectionFailed, UpstreamFailure, UpstreamTimeout
from backend.providers.wire.errors import Origin, PermanentConnectionFailure


def from_transport(
    exc: httpx.TransportError, origin: Origin, *, mid_stream: bool = False
) -> UpstreamFailure:
    """Map a connection-level failure (DNS, refused, TLS, timeout, broken stream)."""
    host = origin.host
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return UpstreamTimeout(
            f"Connecting to {host} took too long. Check the base URL and your network connection."
        )
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(
            f"The provider at {host} stopped sending data and the wait timed out. "
            "Try again; if it keeps happening the provider may be overloaded."
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return PermanentConnectionFailure(
            f"The address {origin.url} is not a web address MiaoDa Chat can call. "
            "The base URL must start with http:// or https://."
        )
    if mid_stream or isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError):
        return ConnectionFailed(
            f"The connection to {host} broke off before the answer was complete. "
            "Try again; if it keeps happening check your network or proxy."
        )
    return _connect_failure(exc, origin)


def _connect_failure(exc: Exception, origin: Origin) -> ConnectionFailed:
    host = origin.host
    reason = origin.redactor.quote(str(exc) or type(exc).__name__, 120)
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return ConnectionFailed(
                f"The host name {host} could not be found. Check the base URL for typos "
                "and check your network connection."
            )
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionFailed(
                f"Nothing is listening at {host}: the connection was refused. Check the base URL "
                "and port, and that the server (for a local one, e.g. Ollama) is running."
            )
        if isinstance(cause, ssl.SSLError):
            return PermanentConnectionFailure(
                f"A secure connection to {host} could not be set up ({reason}). Check that the "
                "base URL uses the right scheme (http or https) and that the server's certificate "
                "is valid."
            )
    return ConnectionFailed(
        f"Could not connect to {host} ({reason}). Check the base URL and your network."
    )


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
