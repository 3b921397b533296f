"""What the MCP methods answer (docs/API.md, "Tools (MCP)"): the server and tool objects.

Pure shaping of stored rows (plus a status the service works out): `env` and `headers` values
come out as `null` with their hints in `secretEnv` and `secretHeaders`; a server's own texts
(tool descriptions, error messages) are masked with `REDACTOR` on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend.redact import REDACTOR
from backend.storage import McpServerRow, McpToolRow
from backend.tools.confirm import CommandLine
from backend.tools.model import ServerError


def command_line(row: McpServerRow) -> CommandLine | None:
    """A stdio server's command line; None for an HTTP server."""
    if row.transport != "stdio" or row.command is None:
        return None
    return CommandLine(row.command, row.args, tuple(row.env))


def may_run(row: McpServerRow) -> bool:
    """Whether a server may start: an HTTP one always, a stdio one once its command line, as
    it is now, was confirmed."""
    line = command_line(row)
    return line is None or line.digest == row.confirmed


def server_wire(
    row: McpServerRow,
    status: str,
    error: dict[str, str] | None,
    tools: Sequence[McpToolRow],
) -> dict[str, Any]:
    """The server object of `getAllMcpServers`."""
    line = command_line(row)
    return {
        "id": row.id,
        **fields(row),
        "commandLine": None if line is None else line.text,
        "secretEnv": [{"name": n, "hint": hint} for n, hint in row.env.items()],
        "secretHeaders": [{"name": n, "hint": hint} for n, hint in row.headers.items()],
        "status": status,
        "error": error,
        "tools": [tool_wire(tool) for tool in tools],
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }


def fields(row: McpServerRow) -> dict[str, Any]:
    """The fields a user sets, as `addMcpServer` takes them, values `null` (which an update
    reads as "keep the stored one")."""
    return {
        "name": row.name,
        "displayName": row.display_name,
        "transport": row.transport,
        "command": row.command,
        "args": list(row.args),
        "env": dict.fromkeys(row.env),
        "url": row.url,
        "headers": dict.fromkeys(row.headers),
        "enabled": row.enabled,
        "timeoutSeconds": seconds(row.call_timeout),
    }


def tool_wire(tool: McpToolRow) -> dict[str, Any]:
    """One tool of a server object."""
    return {
        "name": tool.name,
        "description": REDACTOR.redact(tool.description),
        "enabled": tool.enabled,
        "approval": tool.approval,
        "inputSchema": dict(tool.input_schema),
    }


def error_wire(error: ServerError) -> dict[str, str]:
    """A server's `error`, masked once more (the host masks what it knows at the time)."""
    return {"code": error.code, "message": REDACTOR.redact(error.message)}


def seconds(value: float) -> int | float:
    """A timeout as JSON shows it best: 60, 12.5."""
    return int(value) if float(value).is_integer() else value
