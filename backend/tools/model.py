"""The shapes shared by the MCP tool layer (docs/API.md, "Tools (MCP)").

Three parts meet here:

- `backend.tools.host.ToolHost` runs the servers: it starts a server from its `ServerSpec`
  (lazily, or at app start when enabled), keeps its `ServerState`, restarts it once after a crash,
  calls its tools and stops every server (no orphan processes) when the app closes. It knows
  nothing of storage or policies.
- `backend.tools.service.McpService` keeps the servers the user added (SQLite, with `env` and
  `headers` values in the secret store), their tools' policies, and answers the bridge/RPC methods
  of the contract; as a `ToolCatalog` it gives the chat the tools to offer and runs them.
- `backend.chat.tools` runs the tool loop of a chat request against a `ToolCatalog`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Transport = Literal["stdio", "http"]
ServerStatus = Literal["connected", "starting", "failed", "disabled"]
Approval = Literal["ask", "always"]

DEFAULT_CALL_TIMEOUT = 60.0
"""Seconds a tool call may take before it is abandoned (a server may set its own)."""


@dataclass(frozen=True)
class ServerSpec:
    """How to reach one server. `env` and `headers` values are secrets (never logged, stored
    only in the secret store, redacted from everything the server sends back)."""

    id: str
    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    call_timeout: float = DEFAULT_CALL_TIMEOUT


@dataclass(frozen=True)
class ServerError:
    """Why a server is not connected, in words a user can act on (translated): `code` is one of
    `COMMAND_NOT_FOUND`, `EXITED`, `HANDSHAKE_TIMEOUT`, `AUTH_FAILED`, `CONNECTION_FAILED`,
    `CRASHED`, `PROTOCOL_ERROR`."""

    code: str
    message: str

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class ToolInfo:
    """A tool as the server lists it. `fingerprint` changes when its description or input
    schema does (a changed tool goes back to `ask`)."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    fingerprint: str


@dataclass(frozen=True)
class ServerState:
    status: ServerStatus
    error: ServerError | None = None
    tools: tuple[ToolInfo, ...] = ()


@dataclass(frozen=True)
class ToolOutcome:
    """A finished call: its result as text (untrusted; not yet capped or redacted by the loop),
    whether the tool (or the call) failed, and how long it took."""

    content: str
    is_error: bool
    elapsed_ms: int


@dataclass(frozen=True)
class OfferedTool:
    """A tool the chat may offer the model: `exposed_name` is unique within the request
    (`^[A-Za-z0-9_-]{1,64}$`, what the model sees), `name` is the server's own."""

    server_id: str
    server_name: str
    name: str
    exposed_name: str
    description: str
    input_schema: Mapping[str, Any]
    approval: Approval
    call_timeout: float = DEFAULT_CALL_TIMEOUT


class ToolCatalog(Protocol):
    """What the chat's tool loop needs from the MCP layer."""

    def offered(self, server_ids: Sequence[str]) -> list[OfferedTool]:
        """The enabled tools of these servers (unknown or disabled servers give none), starting
        servers that are not running yet and waiting (bounded) for their tool lists."""
        ...

    def call(self, tool: OfferedTool, arguments: Mapping[str, Any]) -> Future[ToolOutcome]:
        """Run one call; the future resolves within the tool's timeout (then with an error
        outcome) and cancelling it cancels the call on the server."""
        ...
