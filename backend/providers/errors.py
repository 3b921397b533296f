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
from backend.i18n import tr
from backend.providers.wire.errors import Origin, PermanentConnectionFailure


def from_transport(
    exc: httpx.TransportError, origin: Origin, *, mid_stream: bool = False
) -> UpstreamFailure:
    """Map a connection-level failure (DNS, refused, TLS, timeout, broken stream)."""
    host = origin.host
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return UpstreamTimeout(tr("upstream.connection.connectTimeout", host=host))
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(tr("upstream.connection.readTimeout", host=host))
    if isinstance(exc, httpx.UnsupportedProtocol):
        return PermanentConnectionFailure(tr("upstream.connection.scheme", url=origin.url))
    if mid_stream or isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError):
        return ConnectionFailed(tr("upstream.connection.broken", host=host))
    return _connect_failure(exc, origin)


def _connect_failure(exc: Exception, origin: Origin) -> ConnectionFailed:
    host = origin.host
    reason = origin.redactor.quote(str(exc) or type(exc).__name__, 120)
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return ConnectionFailed(tr("upstream.connection.unknownHost", host=host))
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionFailed(tr("upstream.connection.refused", host=host))
        if isinstance(cause, ssl.SSLError):
            return PermanentConnectionFailure(
                tr("upstream.connection.tls", host=host, reason=reason)
            )
    return ConnectionFailed(tr("upstream.connection.failed", host=host, reason=reason))


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
