"""Why a server is not connected, or why a call did not finish, in words a user can act on.

`ServerError` (backend/tools/model.py) carries a code and a translated message; the messages of
error outcomes (`ToolOutcome.is_error`) are made here too. `connect_failure` is the one place
that turns what went wrong while connecting (an exception, the HTTP statuses seen, the stdio
server's stderr and exit status) into a `ServerError`. Every message is masked with the app's
secret registry (`REDACTOR`), which holds the servers' `env` and `headers` values.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import httpx2
from mcp import MCPError, types

from backend.i18n import tr
from backend.redact import REDACTOR, safe_url
from backend.tools.model import ServerError

COMMAND_NOT_FOUND = "COMMAND_NOT_FOUND"
EXITED = "EXITED"
HANDSHAKE_TIMEOUT = "HANDSHAKE_TIMEOUT"
AUTH_FAILED = "AUTH_FAILED"
CONNECTION_FAILED = "CONNECTION_FAILED"
CRASHED = "CRASHED"
PROTOCOL_ERROR = "PROTOCOL_ERROR"

_AUTH_STATUSES = (401, 403)
_QUOTE = 300


def error(code: str, message: str) -> ServerError:
    """A ServerError with its message masked."""
    return ServerError(code, REDACTOR.redact(message))


def quote(text: str) -> str:
    """Foreign words (an exception, a server's message) flattened, masked and kept short."""
    flat = " ".join(REDACTOR.redact(text).split())
    return flat if len(flat) <= _QUOTE else flat[: _QUOTE - 1].rstrip() + "…"


def seconds(value: float) -> str:
    """A number of seconds as a message shows it: 20, 0.5."""
    return f"{value:g}"


def command_not_found(command: str, path: str) -> ServerError:
    folders = dict.fromkeys(part for part in path.split(os.pathsep) if part)  # once each, in order
    searched = ", ".join(folders) or "-"
    return error(
        COMMAND_NOT_FOUND, tr("tools.host.commandNotFound", command=command, path=searched)
    )


def handshake_timeout(timeout: float) -> ServerError:
    return error(HANDSHAKE_TIMEOUT, tr("tools.host.handshakeTimeout", seconds=seconds(timeout)))


def ended(status: tuple[str, int] | None, lines: Sequence[str], *, was_ready: bool) -> ServerError:
    """The stdio server's process ended (or an HTTP server's connection did): how (`status`, as
    `ErrorOutput.wait_status` gives it), with the last lines of its error output. Before the
    handshake that is `EXITED`, after it `CRASHED`."""
    if status is None:
        key = "tools.host.lostConnection" if was_ready else "tools.host.closedEarly"
        message = tr(key)
    elif status[0] == "signal":
        key = "tools.host.crashedSignal" if was_ready else "tools.host.killed"
        message = tr(key, signal=status[1])
    else:
        key = "tools.host.crashed" if was_ready else "tools.host.exited"
        message = tr(key, code=status[1])
    if lines:
        message = tr("tools.host.withOutput", message=message, lines="\n".join(lines))
    return error(CRASHED if was_ready else EXITED, message)


def connect_failure(
    exc: BaseException,
    *,
    url: str | None,
    statuses: Sequence[int],
    ending: tuple[tuple[str, int] | None, Sequence[str]] | None,
) -> ServerError:
    """What an exception raised while connecting (or listing the tools) means. `statuses` are
    the HTTP statuses the server answered with; `ending` is a stdio server's exit status and
    last lines of error output (None over HTTP)."""
    leaves = list(_leaves(exc))
    status = next((code for code in statuses if code in _AUTH_STATUSES), None)
    for leaf in leaves:
        if isinstance(leaf, httpx2.HTTPStatusError):
            status = status or leaf.response.status_code
    if status in _AUTH_STATUSES:
        return error(AUTH_FAILED, tr("tools.host.authFailed", status=status))
    where = safe_url(url) if url else ""
    for leaf in leaves:
        if isinstance(leaf, httpx2.TransportError):
            reason = quote(str(leaf) or type(leaf).__name__)
            return error(
                CONNECTION_FAILED, tr("tools.host.connectionFailed", url=where, reason=reason)
            )
    failed = [code for code in statuses if code >= 400]
    if url is not None and (failed or status):
        return error(
            CONNECTION_FAILED, tr("tools.host.httpStatus", url=where, status=status or failed[-1])
        )
    if ending is not None and _closed(leaves):
        return ended(*ending, was_ready=False)
    for leaf in leaves:
        if isinstance(leaf, OSError):
            return error(EXITED, tr("tools.host.cannotStart", reason=quote(str(leaf))))
    reason = "; ".join(quote(str(leaf) or type(leaf).__name__) for leaf in leaves[:3])
    return error(PROTOCOL_ERROR, tr("tools.host.protocolError", reason=reason))


def _closed(leaves: Sequence[BaseException]) -> bool:
    return (
        any(isinstance(leaf, MCPError) and leaf.code == types.CONNECTION_CLOSED for leaf in leaves)
        or not leaves
    )


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


# --- call outcomes -------------------------------------------------------------------------------


def call_timeout(timeout: float) -> str:
    return REDACTOR.redact(tr("tools.host.callTimeout", seconds=seconds(timeout)))


def not_connected(server: str, problem: ServerError | None, timeout: float) -> str:
    if problem is None:
        return REDACTOR.redact(tr("tools.host.notReady", server=server, seconds=seconds(timeout)))
    return REDACTOR.redact(tr("tools.host.notConnected", server=server, reason=problem.message))


def call_interrupted(problem: ServerError | None, *, restarted: bool) -> str:
    """The server went during the call: stopped by the app (no problem), or crashed."""
    if problem is None:
        return REDACTOR.redact(tr("tools.host.callStopped"))
    key = "tools.host.callCrashedRestarted" if restarted else "tools.host.callCrashed"
    return REDACTOR.redact(tr(key, reason=problem.message))


def call_failed(exc: BaseException) -> str:
    reason = "; ".join(quote(str(leaf) or type(leaf).__name__) for leaf in _leaves(exc))
    return REDACTOR.redact(tr("tools.host.callFailed", reason=reason))
