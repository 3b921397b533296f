"""Helpers of the MCP service tests: a host that runs nothing, a scripted dialog, builders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from backend.tools.model import ServerSpec, ServerState, ToolInfo, ToolOutcome
from backend.tools.service import McpService

ENV_CANARY = "mcp-env-canary-5b1e0c9a7d3f"
HEADER_CANARY = "mcp-header-canary-8e2d4f6a0c1b"


class ScriptedHost:
    """A ToolHost that runs nothing: it keeps specs and states, and answers calls at once."""

    def __init__(self, on_change: Callable[[str, ServerState], None]) -> None:
        self.on_change = on_change
        self.specs: dict[str, ServerSpec] = {}
        self.states: dict[str, ServerState] = {}
        self.events: list[tuple[str, str]] = []
        self.calls: list[tuple[str, str, dict[str, Any], float]] = []
        self.ready: dict[str, ServerState] = {}  # what start() turns a server into
        self.closed = False

    def configure(self, spec: ServerSpec) -> None:
        self.events.append(("configure", spec.id))
        self.specs[spec.id] = spec
        self.states[spec.id] = ServerState("starting")

    def start(self, server_id: str) -> None:
        self.events.append(("start", server_id))
        state = self.ready.get(server_id) or self.ready.get("*")
        if state is not None:
            self.report(server_id, state)

    def report(self, server_id: str, state: ServerState) -> None:
        self.states[server_id] = state
        self.on_change(server_id, state)

    def wait_ready(self, server_id: str, timeout: float) -> ServerState:
        return self.states[server_id]

    def state(self, server_id: str) -> ServerState:
        return self.states[server_id]

    def remove(self, server_id: str) -> None:
        self.events.append(("remove", server_id))
        self.specs.pop(server_id, None)
        self.states.pop(server_id, None)

    def call(
        self, server_id: str, tool_name: str, arguments: Mapping[str, Any], *, timeout: float
    ) -> Future[ToolOutcome]:
        self.calls.append((server_id, tool_name, dict(arguments), timeout))
        future: Future[ToolOutcome] = Future()
        future.set_result(ToolOutcome(f"ran {tool_name}", False, 3))
        return future

    def close(self) -> None:
        self.closed = True


class Dialog:
    """The desktop window's confirmation dialog: answers as told, remembers what it showed."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.shown: list[tuple[str, str]] = []

    def __call__(self, title: str, message: str) -> bool:
        self.shown.append((title, message))
        return self.answer


def tool(name: str, fingerprint: str = "f1", description: str = "does things") -> ToolInfo:
    return ToolInfo(name, description, {"type": "object", "properties": {}}, fingerprint)


def connected(*tools: ToolInfo) -> ServerState:
    return ServerState("connected", None, tuple(tools))


def stdio(**overrides: Any) -> dict[str, Any]:
    """A valid stdio server for addMcpServer, with an env canary."""
    config: dict[str, Any] = {
        "name": "files",
        "displayName": "Files",
        "transport": "stdio",
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/My Notes"],
        "env": {"API_TOKEN": ENV_CANARY},
    }
    config.update(overrides)
    return config


def http(**overrides: Any) -> dict[str, Any]:
    """A valid HTTP server for addMcpServer, with a header canary."""
    config: dict[str, Any] = {
        "name": "remote",
        "displayName": "Remote",
        "transport": "http",
        "url": "https://mcp.example.com/mcp",
        "headers": {"Authorization": f"Bearer {HEADER_CANARY}"},
    }
    config.update(overrides)
    return config


def host_of(service: McpService) -> ScriptedHost:
    """The scripted host a service was built with."""
    host = service._host
    assert isinstance(host, ScriptedHost)
    return host
