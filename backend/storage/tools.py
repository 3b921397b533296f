"""MCP servers and their tools in the app's data file (CONTRACT §12; tables of migration 9).

A server row never holds an `env` or `headers` value: `env` and `headers` map each name to
the hint of its value (NULL for an empty one), the values being in the secret store (the
service in backend.tools keeps both in step). A tool row holds the user's policy for one tool
(`enabled`, `approval`) and what its server last listed; `sync_tools` applies a new list the
way the contract says: new tools start enabled with `approval: "ask"`, a tool whose description
or input schema changed (its fingerprint) goes back to `ask`, tools the server no longer lists
are removed (docs/DECISIONS.md, "MCP servers").
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.errors import DuplicateName, NotFound
from backend.i18n import tr
from backend.storage.core import Storage

# Full literal statements (no string building), so no value ever reaches SQL text.
_SELECT_SERVERS = (
    "SELECT id, name, display_name, transport, command, args, env, url, headers, enabled, "
    "call_timeout, confirmed, created_at, updated_at FROM mcp_servers"
)
_SELECT_SERVER = _SELECT_SERVERS + " WHERE id = ?"
_INSERT_SERVER = (
    "INSERT INTO mcp_servers (id, name, display_name, transport, command, args, env, url, "
    "headers, enabled, call_timeout, confirmed, created_at, updated_at) "
    "VALUES (:id, :name, :display_name, :transport, :command, :args, :env, :url, :headers, "
    ":enabled, :call_timeout, :confirmed, :created_at, :updated_at)"
)
_UPDATE_SERVER = (
    "UPDATE mcp_servers SET name = :name, display_name = :display_name, "
    "transport = :transport, command = :command, args = :args, env = :env, url = :url, "
    "headers = :headers, enabled = :enabled, call_timeout = :call_timeout, "
    "confirmed = :confirmed, updated_at = :updated_at WHERE id = :id"
)
_SELECT_TOOLS = (
    "SELECT server_id, name, description, fingerprint, schema, enabled, approval, seen_at "
    "FROM mcp_tools WHERE server_id = ? ORDER BY name"
)
_SELECT_ALL_TOOLS = (
    "SELECT server_id, name, description, fingerprint, schema, enabled, approval, seen_at "
    "FROM mcp_tools ORDER BY server_id, name"
)
# Only for a server still saved: a list can arrive just after its server was removed.
_INSERT_TOOL = (
    "INSERT INTO mcp_tools (server_id, name, description, fingerprint, schema, enabled, "
    "approval, seen_at) SELECT ?1, ?2, ?3, ?4, ?5, 1, 'ask', ?6 "
    "WHERE EXISTS (SELECT 1 FROM mcp_servers WHERE id = ?1)"
)
_UPDATE_LISTED_TOOL = (
    "UPDATE mcp_tools SET description = ?, fingerprint = ?, schema = ?, seen_at = ?, "
    "approval = CASE WHEN fingerprint = ? THEN approval ELSE 'ask' END "
    "WHERE server_id = ? AND name = ?"
)
_SET_POLICY = "UPDATE mcp_tools SET enabled = ?, approval = ? WHERE server_id = ? AND name = ?"


@dataclass(frozen=True)
class McpServerRow:
    """One MCP server as stored: `env` and `headers` map names to hints, never to values."""

    id: str
    name: str
    display_name: str
    transport: str
    command: str | None
    args: tuple[str, ...]
    env: Mapping[str, str | None]
    url: str | None
    headers: Mapping[str, str | None]
    enabled: bool
    call_timeout: float
    confirmed: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class McpToolRow:
    """One tool of a server: what the server last listed, and the user's policy for it."""

    server_id: str
    name: str
    description: str
    fingerprint: str
    input_schema: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    approval: str = "ask"
    seen_at: str = ""


@dataclass(frozen=True)
class ListedTool:
    """A tool as its server lists it, for `sync_tools`."""

    name: str
    description: str
    fingerprint: str
    input_schema: Mapping[str, Any]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _server_params(server: McpServerRow) -> dict[str, Any]:
    return {
        "id": server.id,
        "name": server.name,
        "display_name": server.display_name,
        "transport": server.transport,
        "command": server.command,
        "args": _dump(list(server.args)),
        "env": _dump(dict(server.env)),
        "url": server.url,
        "headers": _dump(dict(server.headers)),
        "enabled": int(server.enabled),
        "call_timeout": server.call_timeout,
        "confirmed": server.confirmed,
        "created_at": server.created_at,
        "updated_at": server.updated_at,
    }


def _server_from_row(row: tuple[Any, ...]) -> McpServerRow:
    (sid, name, display, transport, command, args, env, url, headers, enabled, timeout,
     confirmed, created, updated) = row  # fmt: skip
    return McpServerRow(
        id=sid,
        name=name,
        display_name=display,
        transport=transport,
        command=command,
        args=tuple(json.loads(args)),
        env=json.loads(env),
        url=url,
        headers=json.loads(headers),
        enabled=bool(enabled),
        call_timeout=float(timeout),
        confirmed=confirmed,
        created_at=created,
        updated_at=updated,
    )


def _tool_from_row(row: tuple[Any, ...]) -> McpToolRow:
    server_id, name, description, fingerprint, schema, enabled, approval, seen = row
    return McpToolRow(
        server_id, name, description, fingerprint, json.loads(schema), bool(enabled), approval, seen
    )


def _display_order(server: McpServerRow) -> tuple[str, str]:
    return (server.display_name.casefold(), server.name.casefold())


class McpStore:
    """MCP servers and their tools, in one `Storage`'s file."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    # --- servers ----------------------------------------------------------------------------

    def list_servers(self) -> list[McpServerRow]:
        """Every server, sorted by display name ignoring case, then by name."""
        with self._storage._reading("storage.action.readMcpServers") as conn:
            servers = [_server_from_row(row) for row in conn.execute(_SELECT_SERVERS)]
        return sorted(servers, key=_display_order)

    def get_server(self, server_id: str) -> McpServerRow | None:
        """The server with this id, or None."""
        with self._storage._reading("storage.action.readMcpServers") as conn:
            row = conn.execute(_SELECT_SERVER, (server_id,)).fetchone()
        return None if row is None else _server_from_row(row)

    def name_taken(self, name: str, except_id: str | None = None) -> bool:
        """Whether another server has this name, ignoring case."""
        with self._storage._reading("storage.action.readMcpServers") as conn:
            return _name_taken(conn, name, except_id)

    def insert_server(self, server: McpServerRow) -> None:
        """Save a new server; DuplicateName if its name is taken, ignoring case."""
        with self._storage._writing("storage.action.saveMcpServer") as conn:
            _check_name_free(conn, server)
            conn.execute(_INSERT_SERVER, _server_params(server))

    def update_server(self, server: McpServerRow) -> None:
        """Replace every field of the server with this id; NotFound or DuplicateName."""
        with self._storage._writing("storage.action.saveMcpServer") as conn:
            if (
                conn.execute("SELECT 1 FROM mcp_servers WHERE id = ?", (server.id,)).fetchone()
                is None
            ):
                raise NotFound(tr("tools.service.gone"))
            _check_name_free(conn, server)
            conn.execute(_UPDATE_SERVER, _server_params(server))

    def delete_server(self, server_id: str) -> bool:
        """Remove a server and its tools; False if there was none."""
        with self._storage._writing("storage.action.removeMcpServer") as conn:
            return conn.execute("DELETE FROM mcp_servers WHERE id = ?", (server_id,)).rowcount > 0

    # --- tools ------------------------------------------------------------------------------

    def tools(self, server_id: str) -> list[McpToolRow]:
        """A server's tools, by name."""
        with self._storage._reading("storage.action.readMcpServers") as conn:
            return [_tool_from_row(row) for row in conn.execute(_SELECT_TOOLS, (server_id,))]

    def all_tools(self) -> dict[str, list[McpToolRow]]:
        """Every server's tools, by server id, each list by name."""
        out: dict[str, list[McpToolRow]] = {}
        with self._storage._reading("storage.action.readMcpServers") as conn:
            for row in conn.execute(_SELECT_ALL_TOOLS):
                tool = _tool_from_row(row)
                out.setdefault(tool.server_id, []).append(tool)
        return out

    def sync_tools(self, server_id: str, listed: Sequence[ListedTool], seen_at: str) -> None:
        """Make the server's tools the ones it lists now: new ones enabled and `ask`, changed
        ones (another fingerprint) back to `ask`, the others gone. Nothing happens for a
        server that is no longer saved."""
        names = [tool.name for tool in listed]
        with self._storage._writing("storage.action.saveMcpTools") as conn:
            if (
                conn.execute("SELECT 1 FROM mcp_servers WHERE id = ?", (server_id,)).fetchone()
                is None
            ):
                return
            known = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM mcp_tools WHERE server_id = ?", (server_id,)
                )
            }
            for tool in listed:
                schema = _dump(dict(tool.input_schema))
                if tool.name in known:
                    conn.execute(
                        _UPDATE_LISTED_TOOL,
                        (
                            tool.description,
                            tool.fingerprint,
                            schema,
                            seen_at,
                            tool.fingerprint,
                            server_id,
                            tool.name,
                        ),
                    )
                else:
                    conn.execute(
                        _INSERT_TOOL,
                        (server_id, tool.name, tool.description, tool.fingerprint, schema, seen_at),
                    )
            gone = known - set(names)
            conn.executemany(
                "DELETE FROM mcp_tools WHERE server_id = ? AND name = ?",
                [(server_id, name) for name in sorted(gone)],
            )

    def set_policy(self, server_id: str, name: str, *, enabled: bool, approval: str) -> None:
        """Set one tool's policy; NotFound if the server does not list it (any more)."""
        with self._storage._writing("storage.action.saveMcpTools") as conn:
            cursor = conn.execute(_SET_POLICY, (int(enabled), approval, server_id, name))
            if cursor.rowcount == 0:
                raise NotFound(tr("tools.service.toolGone", name=name))


def _name_taken(conn: sqlite3.Connection, name: str, except_id: str | None) -> bool:
    row = conn.execute(
        "SELECT 1 FROM mcp_servers WHERE name = ? AND id != ?", (name, except_id or "")
    ).fetchone()
    return row is not None


def _check_name_free(conn: sqlite3.Connection, server: McpServerRow) -> None:
    """Raise DuplicateName if another server has this name, ignoring case (the column's
    NOCASE collation; names are ASCII)."""
    if _name_taken(conn, server.name, server.id):
        raise DuplicateName(
            tr("tools.service.nameTaken", name=server.name),
            fields={"name": [tr("tools.service.nameTakenField")]},
        )
