"""The SDK transports a `ServerSpec` is reached through, and what a connection attempt saw.

- stdio: `mcp.client.stdio.stdio_client`, the command started through the launcher
  (backend/tools/launch.py) so that it dies with the app; its stderr goes to an `ErrorOutput`.
  On Windows the SDK's own job object (kill-on-close) does the launcher's job, and the command
  is started directly.
- http: `mcp.client.streamable_http.streamable_http_client`; a URL whose path ends in `/sse` is a
  legacy HTTP+SSE server, reached with `mcp.client.sse.sse_client` (both come with the SDK).
  The headers go on an httpx2 client of our own, whose response hook records every status (the
  SDK turns a 401 into a generic JSON-RPC error; the status is how we tell AUTH_FAILED).

`watched` wraps a transport so the host learns when the server's side of the connection ends
(a stdio server exiting, an HTTP stream torn down) even while no call is running.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import StdioServerParameters, stdio_client
from mcp.client.sse import sse_client
from mcp.client.stdio import get_default_environment
from mcp.client.streamable_http import streamable_http_client

from backend.tools import launch
from backend.tools.model import ServerSpec
from backend.tools.output import ErrorOutput

HTTP_TIMEOUT = 30.0
"""Seconds to connect or send; a response stream may stay open longer (`STREAM_TIMEOUT`)."""

STREAM_TIMEOUT = 300.0


class CommandNotFound(Exception):
    """The stdio command is not on the PATH the server would get."""

    def __init__(self, command: str, path: str) -> None:
        super().__init__(command)
        self.command = command
        self.path = path


@dataclass(eq=False)
class Attempt:
    """What one connection attempt observed: the HTTP statuses, the stdio server's stderr."""

    statuses: list[int] = field(default_factory=list)
    output: ErrorOutput | None = None

    async def record(self, response: httpx2.Response) -> None:
        self.statuses.append(response.status_code)


def launcher_command() -> list[str]:
    """How to run the launcher: this Python on launch.py, or the frozen app's sub-command."""
    if getattr(sys, "frozen", False):
        return [sys.executable, launch.COMMAND]
    # -I: no user site, no PYTHON* variables, no script folder on sys.path; -S: no site at all
    # (the launcher needs only the standard library), which also makes it start faster.
    return [sys.executable, "-I", "-S", str(Path(launch.__file__).resolve())]


def server_path(spec: ServerSpec) -> str:
    """The PATH the stdio server gets: its own `env` PATH, else the one the SDK passes on."""
    return spec.env.get("PATH") or get_default_environment().get("PATH") or os.defpath


def resolve_command(spec: ServerSpec) -> str:
    """The stdio command's full path, found on `server_path`; CommandNotFound if it is not."""
    command = spec.command or ""
    path = server_path(spec)
    found = shutil.which(command, path=path) if command else None
    if found is None:
        raise CommandNotFound(command, path)
    return found


def is_sse(url: str) -> bool:
    """A legacy HTTP+SSE endpoint: the URL's path ends in /sse."""
    return urlsplit(url).path.rstrip("/").endswith("/sse")


def stdio_transport(
    spec: ServerSpec, command: str, output: ErrorOutput, launcher: list[str] | None
) -> AbstractAsyncContextManager[Any]:
    """The SDK's stdio transport for `command` (resolved), through the launcher when given."""
    if launcher is None:
        program, args = command, list(spec.args)
    else:
        parent = ["--parent", str(os.getpid()), "--", command, *spec.args]
        program, args = launcher[0], [*launcher[1:], *parent]
    params = StdioServerParameters(command=program, args=args, env=dict(spec.env))
    return stdio_client(params, errlog=output.file)


def http_transport(spec: ServerSpec, attempt: Attempt) -> AbstractAsyncContextManager[Any]:
    """The SDK's streamable HTTP (or legacy SSE) transport, with the spec's headers."""
    url = spec.url or ""
    headers = dict(spec.headers)
    hooks = {"response": [attempt.record]}

    def client_factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            headers=headers,
            timeout=timeout or httpx2.Timeout(HTTP_TIMEOUT, read=STREAM_TIMEOUT),
            auth=auth,
            event_hooks=hooks,
        )

    if is_sse(url):
        return sse_client(
            url,
            headers=headers,
            timeout=HTTP_TIMEOUT,
            sse_read_timeout=STREAM_TIMEOUT,
            httpx_client_factory=client_factory,
        )
    return _streamable(url, client_factory(headers))


@asynccontextmanager
async def _streamable(url: str, client: httpx2.AsyncClient) -> AsyncIterator[Any]:
    async with client, streamable_http_client(url, http_client=client) as streams:
        yield streams


@asynccontextmanager
async def watched(
    transport: AbstractAsyncContextManager[Any],
    *,
    opened: Callable[[], None],
    lost: Callable[[], None],
) -> AsyncIterator[Any]:
    """`transport`, with `opened()` called once it is up (a stdio server is running) and
    `lost()` once the server's side of it has ended."""
    async with transport as (read_stream, write_stream):
        opened()
        sender, receiver = anyio.create_memory_object_stream[Any](0)

        async def forward() -> None:
            try:
                async with sender:
                    async for item in read_stream:
                        await sender.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                pass
            finally:
                lost()

        async with anyio.create_task_group() as group:
            group.start_soon(forward)
            try:
                yield receiver, write_stream
            finally:
                group.cancel_scope.cancel()
                with suppress(anyio.ClosedResourceError):
                    receiver.close()
