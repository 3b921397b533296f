"""ToolHost: runs the MCP servers, keeps each one's state, and calls their tools.

Every MCP session lives on one asyncio loop, on a daemon thread of the host's own (the SDK is
anyio-based, and a stdio server's parent-death signal follows this thread: see launch.py). The
public methods are called from any thread; they hand the work to the loop and wait (bounded)
for what they return. State changes are passed to `on_change(server_id, state)` in order, on a
thread of their own, so a slow listener never holds up the servers.

A server's life, one runner task per start:

    disabled --start--> starting --handshake + tools/list--> connected
                           |                                   |
                           +--fails--> failed                  +--stop/remove--> disabled
                                                               +--crash--> starting (once)
                                                                             --crash again--> failed

"disabled" here means "not running" (configured but never started, or stopped); the service
shows its own enabled flag. A crash is the server's side of the connection ending while
connected; the server is then restarted once per `start()`, and a call that was running ends
with an error outcome that says so. `state().tools` is the last listing, kept while a server
restarts or after it failed. `notifications/tools/list_changed` refreshes the listing.

Protocol: the initialize handshake (MCP 2025-11-25, which every server speaks). The SDK's
`server/discover` probe of the 2026-07-28 revision is not used: it costs a round trip, and up to
10 s against servers that ignore unknown methods; in that revision list changes also come only
over a `subscriptions/listen` stream. docs/DECISIONS.md has the reasons.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp import Client, MCPError, types

from backend import __version__
from backend.redact import REDACTOR
from backend.tools import connect, errors
from backend.tools.model import ServerError, ServerSpec, ServerState, ToolInfo, ToolOutcome
from backend.tools.output import ErrorOutput
from backend.tools.results import result_text, tools_of

log = logging.getLogger("miaoda.tools")

HANDSHAKE_TIMEOUT = 20.0
"""Seconds from starting a server to its tool list (a first `npx` run may download for longer:
the error then says the handshake timed out, and a restart finds the package cached)."""

STOP_TIMEOUT = 10.0
"""Seconds a stop may take: the SDK closes stdin, waits 2 s, SIGTERMs the group, waits 2 s more."""

STATUS_WAIT = 2.0
"""Seconds to wait for the launcher's exit status once a stdio server's output has ended."""

_LIST_PAGES = 100
_CLIENT_INFO = types.Implementation(name="miaoda-chat", version=__version__)

OnChange = Callable[[str, ServerState], None]


@dataclass(eq=False)
class _Session:
    """One connection to a server; `ended` is set once `problem` says why it ended (None: we
    stopped it) and `restarted` whether the server is being started again."""

    client: Client
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    problem: ServerError | None = None
    restarted: bool = False


@dataclass(eq=False)
class _Server:
    """A configured server; touched only on the loop thread."""

    spec: ServerSpec
    tools: tuple[ToolInfo, ...] = ()
    runner: asyncio.Task[None] | None = None
    scope: anyio.CancelScope | None = None
    session: _Session | None = None
    stopping: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class ToolHost:
    """Runs MCP servers from their specs (see the module docstring)."""

    def __init__(
        self,
        on_change: OnChange | None = None,
        *,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        launcher: list[str] | None = None,
        use_launcher: bool = sys.platform != "win32",
    ) -> None:
        self._on_change = on_change
        self._handshake_timeout = handshake_timeout
        self._launcher = (launcher or connect.launcher_command()) if use_launcher else None
        self._cond = threading.Condition()
        self._states: dict[str, ServerState] = {}
        self._servers: dict[str, _Server] = {}
        self._closed = False
        self._notices = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcp-notify")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-host", daemon=True)
        self._thread.start()

    # --- the public, thread-safe methods --------------------------------------------------------

    def configure(self, spec: ServerSpec) -> None:
        """Register a server, or replace its spec: a running server with a changed spec is
        restarted with the new one; an unchanged spec changes nothing."""
        if spec.transport == "stdio" and not spec.command:
            raise ValueError("a stdio server needs a command")
        if spec.transport == "http" and not spec.url:
            raise ValueError("an http server needs a url")
        for secret in (*spec.env.values(), *spec.headers.values()):
            REDACTOR.add(secret)
        self._run(self._configure(spec), STOP_TIMEOUT + 5)

    def start(self, server_id: str) -> None:
        """Start a server that is not running (or failed); returns at once."""
        self._run(self._start(server_id, retry_failed=True), 5)

    def wait_ready(self, server_id: str, timeout: float) -> ServerState:
        """Start the server if it is not running (a failed one stays failed), then wait up to
        `timeout` seconds until it is connected or failed; its state then."""
        self._run(self._start(server_id, retry_failed=False), 5)
        with self._cond:
            self._cond.wait_for(lambda: self._state(server_id).status != "starting", timeout)
            return self._state(server_id)

    def state(self, server_id: str) -> ServerState:
        """The server's state now; KeyError for a server that is not configured."""
        with self._cond:
            return self._state(server_id)

    def stop(self, server_id: str) -> None:
        """Stop the server (bounded); it stays configured, as "disabled"."""
        self._run(self._stop_id(server_id), STOP_TIMEOUT + 5)

    def remove(self, server_id: str) -> None:
        """Stop the server (bounded) and forget it."""
        self._run(self._remove(server_id), STOP_TIMEOUT + 5)

    def refresh_tools(self, server_id: str) -> ServerState:
        """List a connected server's tools again; its state then."""
        self._run(self._refresh_id(server_id), self._handshake_timeout + 5)
        return self.state(server_id)

    def call(
        self,
        server_id: str,
        tool_name: str,
        arguments: Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> Future[ToolOutcome]:
        """Call a tool, starting the server if it is not running. The future resolves within
        `timeout` (default: the spec's `call_timeout`) with the outcome, an error outcome when
        the call failed, timed out or the server went; cancelling it cancels the call on the
        server."""
        self.state(server_id)  # KeyError now rather than inside the future
        return self._submit(self._call(server_id, tool_name, dict(arguments), timeout))

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every server (bounded: together, not one after the other) and the loop."""
        with self._cond:
            if self._closed:
                return
            self._closed = True  # no new work from here on
        stopping = asyncio.run_coroutine_threadsafe(self._stop_all(), self._loop)
        try:
            stopping.result(timeout + 2)
        except TimeoutError:
            log.warning("MCP servers did not all stop within %s s", timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._loop.close()
            self._notices.shutdown(wait=False, cancel_futures=True)

    # --- plumbing between threads ---------------------------------------------------------------

    def _submit(self, work: Any) -> Future[Any]:
        if self._closed:
            work.close()
            raise RuntimeError("the tool host is closed")
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    def _run(self, work: Any, timeout: float) -> Any:
        return self._submit(work).result(timeout)

    def _state(self, server_id: str) -> ServerState:
        return self._states[server_id]

    def _publish(self, server: _Server, state: ServerState) -> None:
        server_id = server.spec.id
        with self._cond:
            if self._servers.get(server_id) is not server:
                return  # removed
            previous = self._states.get(server_id)
            self._states[server_id] = state
            self._cond.notify_all()
        server.changed.set()
        server.changed = asyncio.Event()
        if state != previous and self._on_change is not None and not self._closed:
            self._notices.submit(self._notify, server_id, state)

    def _notify(self, server_id: str, state: ServerState) -> None:
        try:
            if self._on_change is not None:
                self._on_change(server_id, state)
        except Exception:
            log.exception("MCP state listener failed for server %s", server_id)

    # --- on the loop: configuring, starting, stopping -------------------------------------------

    def _server(self, server_id: str) -> _Server:
        server = self._servers.get(server_id)
        if server is None:
            raise KeyError(server_id)
        return server

    async def _configure(self, spec: ServerSpec) -> None:
        server = self._servers.get(spec.id)
        if server is None:
            server = _Server(spec)
            with self._cond:
                self._servers[spec.id] = server
            self._publish(server, ServerState("disabled"))
            return
        if server.spec == spec:
            return
        running = server.runner is not None
        await self._stop(server, publish=not running)
        server.spec, server.tools = spec, ()
        if running:
            self._launch(server)
        else:
            self._publish(server, ServerState("disabled"))

    async def _start(self, server_id: str, *, retry_failed: bool) -> None:
        server = self._server(server_id)
        status = self._state(server_id).status
        if status == "disabled" or (status == "failed" and retry_failed):
            self._launch(server)

    def _launch(self, server: _Server) -> None:
        if server.runner is not None:
            return
        self._publish(server, ServerState("starting", tools=server.tools))
        server.runner = self._loop.create_task(self._runner(server))

    async def _stop_id(self, server_id: str) -> None:
        await self._stop(self._server(server_id), publish=True)

    async def _stop(self, server: _Server, *, publish: bool) -> None:
        runner = server.runner
        if runner is not None:
            server.stopping = True
            if server.scope is not None:
                server.scope.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(runner), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("MCP server %s did not stop in time", server.spec.id)
                runner.cancel()
            finally:
                server.stopping = False
                server.runner = None
        if publish:
            self._publish(server, ServerState("disabled", tools=server.tools))

    async def _remove(self, server_id: str) -> None:
        server = self._servers.get(server_id)
        if server is None:
            return
        await self._stop(server, publish=False)
        with self._cond:
            self._servers.pop(server_id, None)
            self._states.pop(server_id, None)
            self._cond.notify_all()

    async def _stop_all(self) -> None:
        servers = list(self._servers.values())
        await asyncio.gather(*(self._stop(server, publish=False) for server in servers))
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()  # calls still waiting for a server
        await asyncio.gather(*others, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_default_executor()

    # --- on the loop: one server's life ---------------------------------------------------------

    async def _runner(self, server: _Server) -> None:
        restarted = False
        try:
            while not server.stopping:
                self._publish(server, ServerState("starting", tools=server.tools))
                problem, was_ready = await self._serve(server, may_restart=not restarted)
                if server.stopping or problem is None:
                    return
                if was_ready and not restarted:
                    log.warning("MCP server %s crashed; restarting it once", server.spec.id)
                    restarted = True
                    continue
                log.warning(
                    "MCP server %s failed: %s %s", server.spec.id, problem.code, problem.message
                )
                self._publish(server, ServerState("failed", problem, server.tools))
                return
        finally:
            if server.runner is asyncio.current_task():
                server.runner = None

    async def _serve(
        self, server: _Server, *, may_restart: bool
    ) -> tuple[ServerError | None, bool]:
        """Connect once and serve until stopped or lost: why it ended (None: stopped) and
        whether it had been connected."""
        spec = server.spec
        attempt = connect.Attempt()
        try:
            transport = self._transport(spec, attempt)
        except connect.CommandNotFound as missing:
            return errors.command_not_found(missing.command, missing.path), False
        inbox, mail = anyio.create_memory_object_stream[str](math.inf)
        scope = anyio.CancelScope(deadline=anyio.current_time() + self._handshake_timeout)
        server.scope = scope
        session: _Session | None = None
        failure: BaseException | None = None

        def post(reason: str) -> None:
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                inbox.send_nowait(reason)

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                post("refresh")

        try:
            with scope:
                async with AsyncExitStack() as stack:
                    watched = connect.watched(
                        transport, opened=self._opened(attempt), lost=lambda: post("lost")
                    )
                    client = Client(
                        watched,
                        mode="legacy",
                        cache=None,
                        message_handler=on_message,
                        client_info=_CLIENT_INFO,
                    )
                    await stack.enter_async_context(client)
                    server.tools = await self._list_tools(client)
                    scope.deadline = math.inf
                    session = server.session = _Session(client)
                    log.info("MCP server %s connected, %d tools", spec.id, len(server.tools))
                    self._publish(server, ServerState("connected", tools=server.tools))
                    async for reason in mail:
                        if reason != "refresh" or "lost" in _drain(mail):
                            break
                        await self._refresh(server, session)  # once for a burst of changes
        except Exception as exc:  # anything the SDK or the server did: classified below
            failure = exc
        finally:
            server.scope = None
            inbox.close()
            mail.close()
            if attempt.output is not None:
                attempt.output.release_writer()
        problem = await self._why_ended(server, attempt, session, scope, failure)
        if session is not None:
            server.session = None
            session.problem, session.restarted = problem, problem is not None and may_restart
            session.ended.set()
        return problem, session is not None

    def _transport(self, spec: ServerSpec, attempt: connect.Attempt) -> Any:
        if spec.transport == "http":
            return connect.http_transport(spec, attempt)
        command = connect.resolve_command(spec)
        attempt.output = ErrorOutput()
        return connect.stdio_transport(spec, command, attempt.output, self._launcher)

    @staticmethod
    def _opened(attempt: connect.Attempt) -> Callable[[], None]:
        def opened() -> None:
            if attempt.output is not None:
                attempt.output.release_writer()  # the server has its own copy now

        return opened

    async def _why_ended(
        self,
        server: _Server,
        attempt: connect.Attempt,
        session: _Session | None,
        scope: anyio.CancelScope,
        failure: BaseException | None,
    ) -> ServerError | None:
        if server.stopping:
            return None
        if session is None and (scope.cancel_called or scope.cancelled_caught):
            return errors.handshake_timeout(self._handshake_timeout)
        ending = await self._ending(attempt)
        if session is None:
            exc = failure or MCPError(types.CONNECTION_CLOSED, "Connection closed")
            return errors.connect_failure(
                exc, url=server.spec.url, statuses=attempt.statuses, ending=ending
            )
        status, lines = ending or (None, [])
        return errors.ended(status, lines, was_ready=True)

    async def _ending(
        self, attempt: connect.Attempt
    ) -> tuple[tuple[str, int] | None, list[str]] | None:
        output = attempt.output
        if output is None:
            return None
        loop = asyncio.get_running_loop()
        status = await loop.run_in_executor(None, output.wait_status, STATUS_WAIT)
        return status, output.tail()

    async def _list_tools(self, client: Client) -> tuple[ToolInfo, ...]:
        if client.server_capabilities.tools is None:
            return ()  # a server of prompts or resources only
        pages = []
        cursor: str | None = None
        for _ in range(_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            pages.append(page)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools_of(pages)

    async def _refresh(self, server: _Server, session: _Session) -> None:
        try:
            with anyio.fail_after(self._handshake_timeout):
                tools = await self._list_tools(session.client)
        except Exception as exc:
            log.warning("MCP server %s: listing its tools failed: %s", server.spec.id, exc)
            return
        if server.session is session:
            server.tools = tools
            self._publish(server, ServerState("connected", tools=tools))

    async def _refresh_id(self, server_id: str) -> None:
        server = self._server(server_id)
        if server.session is not None:
            await self._refresh(server, server.session)

    # --- on the loop: calls ---------------------------------------------------------------------

    async def _call(
        self, server_id: str, name: str, arguments: dict[str, Any], timeout: float | None
    ) -> ToolOutcome:
        started = time.monotonic()
        server = self._server(server_id)
        limit = server.spec.call_timeout if timeout is None else timeout

        def outcome(text: str, is_error: bool = True) -> ToolOutcome:
            return ToolOutcome(text, is_error, round((time.monotonic() - started) * 1000))

        session = await self._ready(server, started + limit)
        if session is None:
            problem = self._states.get(server_id, ServerState("disabled")).error
            return outcome(errors.not_connected(server.spec.name, problem, limit))
        remaining = started + limit - time.monotonic()
        if remaining <= 0:
            return outcome(errors.call_timeout(limit))
        try:
            # The SDK's own timeout starts once the request is written; the outer bound also
            # covers a server that stopped reading its input.
            with anyio.fail_after(remaining + 1):
                result = await session.client.call_tool(
                    name, arguments, read_timeout_seconds=remaining
                )
        except TimeoutError:
            return outcome(errors.call_timeout(limit))
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                return outcome(errors.call_timeout(limit))
            if exc.code == types.CONNECTION_CLOSED:
                return outcome(await self._interrupted(session))
            return outcome(errors.call_failed(exc))
        except Exception as exc:
            if session.ended.is_set() or server.session is not session:
                return outcome(await self._interrupted(session))
            return outcome(errors.call_failed(exc))
        return outcome(result_text(result), bool(result.is_error))

    async def _ready(self, server: _Server, deadline: float) -> _Session | None:
        """The server's connected session, starting the server if it is not running and
        waiting for it until `deadline` (time.monotonic); None when it failed or is late."""
        if self._status(server) == "disabled":
            self._launch(server)
        while True:
            status = self._status(server)
            session = server.session
            if status == "connected" and session is not None and not session.ended.is_set():
                return session
            remaining = deadline - time.monotonic()
            if status in ("failed", "disabled") or remaining <= 0:
                return None
            with suppress(TimeoutError):
                await asyncio.wait_for(server.changed.wait(), remaining)

    def _status(self, server: _Server) -> str:
        state = self._states.get(server.spec.id)
        return "disabled" if state is None else state.status

    async def _interrupted(self, session: _Session) -> str:
        with suppress(TimeoutError):
            await asyncio.wait_for(session.ended.wait(), STATUS_WAIT + 5)
        return errors.call_interrupted(session.problem, restarted=session.restarted)


def _drain(mail: MemoryObjectReceiveStream[str]) -> list[str]:
    """The messages already waiting in `mail`, taken out."""
    waiting = []
    with suppress(anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
        while True:
            waiting.append(mail.receive_nowait())
    return waiting
