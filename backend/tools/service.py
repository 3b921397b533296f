"""`McpService`: the MCP servers the user adds, their secrets and tool policies (CONTRACT §12).

It answers the bridge's MCP methods (docs/API.md, "Tools (MCP)") and, as a `ToolCatalog`, gives
the chat the tools to offer and runs their calls. Three parts meet here:

- the data file (`McpStore`): each server's settings and its tools' policies, `env` and
  `headers` by name and hint only;
- the secret store, through `ServerValues` (values.py): the values of `env` and `headers`;
- the `ToolHost` (backend.tools.host), which runs the servers and reports their states; a
  connected server's tool list is saved as it arrives (`McpStore.sync_tools`).

The objects it answers are shaped in wire.py, the names the model sees in naming.py.

A stdio server runs a program: adding one, or changing its command, arguments or env, is saved
only once the user confirmed the command line (confirm.py). The digest of the confirmed line is
saved with the server; a stdio server whose line does not match it (one brought in by other
means, such as an import: `import_server`) is not started until the user confirms it
(`restart`).

The export file (backend.transfer) carries every server without its values (`exported`); an
import brings one back (`import_server`) with the values the file's encrypted block holds.

Locks: `_lock` serializes the changes (a write and what the host is told of it); `_state_lock`
guards only `_launched` and `_failed`, so reading a status never waits for a server to stop.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Literal, Protocol

from backend.errors import Cancelled, DuplicateName, InvalidConfig, MiaodaError, NotFound
from backend.i18n import tr
from backend.models import utc_now
from backend.redact import REDACTOR
from backend.schemas import (
    load_id,
    load_mcp_server,
    load_tool_name,
    load_tool_policy,
    merge_mcp_update,
)
from backend.secrets import SecretStore
from backend.storage import ListedTool, McpServerRow, McpStore, McpToolRow
from backend.tools.confirm import CommandLine, Confirm, Terminal, approve, print_to_stderr
from backend.tools.model import (
    Approval,
    OfferedTool,
    ServerError,
    ServerSpec,
    ServerState,
    ToolInfo,
    ToolOutcome,
    Transport,
)
from backend.tools.naming import exposed_names
from backend.tools.values import ServerValues, env_entry, header_entry, stored_entries
from backend.tools.wire import command_line, error_wire, fields, may_run, server_wire, tool_wire
from backend.transfer import McpSecrets

log = logging.getLogger("miaoda.tools")

OFFER_WAIT_SECONDS = 20.0
"""How long `offered` waits, in all, for the servers of a request that are still starting."""
STOP_WAIT_SECONDS = 5.0
"""How long `close` waits for the start-up thread (it stops between two servers)."""
NOT_CONFIRMED = "NOT_CONFIRMED"
"""The `error.code` of a stdio server whose command line the user has not confirmed."""
TOOL_OFF = "The tool {name} was turned off (or its server removed) in MiaoDa Chat; it was not run."
"""The result of a call to a tool turned off since it was offered (for the model)."""
SECRETS_UNAVAILABLE = "SECRETS_UNAVAILABLE"
"""The `error.code` of a server whose values could not be read from the secret store."""
ImportAction = Literal["added", "updated", "skipped"]
"""What `import_server` did (or, in a dry run, would do) with a server of a file."""


class Host(Protocol):
    """What the service needs of `backend.tools.host.ToolHost`."""

    def configure(self, spec: ServerSpec) -> None: ...

    def start(self, server_id: str) -> None: ...

    def wait_ready(self, server_id: str, timeout: float) -> ServerState: ...

    def state(self, server_id: str) -> ServerState: ...

    def remove(self, server_id: str) -> None: ...

    def call(
        self, server_id: str, tool_name: str, arguments: Mapping[str, Any], *, timeout: float
    ) -> Future[ToolOutcome]: ...

    def close(self) -> None: ...


class McpService:
    """The MCP servers the user added: their settings, secrets, states and tools."""

    def __init__(
        self,
        store: McpStore,
        secrets: SecretStore,
        make_host: Callable[..., Host],
        *,
        allow_stdio_over_http: bool = False,
        terminal: Terminal = print_to_stderr,
    ) -> None:
        """`make_host(on_change=...)` builds the host (ToolHost, or a fake in tests)."""
        self._store = store
        self._values = ServerValues(secrets)
        self._allow_stdio_over_http = allow_stdio_over_http
        self._terminal = terminal
        self._lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._launched: dict[str, ServerSpec] = {}  # what the host runs, by server id
        self._failed: dict[str, ServerError] = {}  # servers that could not be configured
        self._stopping = threading.Event()
        self._starter: threading.Thread | None = None
        self._host = make_host(on_change=self._on_change)

    # --- the bridge's methods -----------------------------------------------------------

    def servers(self) -> list[dict[str, Any]]:
        """Every server as `getAllMcpServers` gives it, by display name."""
        tools = self._store.all_tools()
        return [self._wire(row, tools.get(row.id, [])) for row in self._store.list_servers()]

    def get(self, server_id: Any) -> dict[str, Any]:
        """One server as `getAllMcpServers` gives it; NOT_FOUND if there is none."""
        row = self._row(server_id)
        return self._wire(row, self._store.tools(row.id))

    def add(self, config: Any, *, confirm: Confirm | None) -> dict[str, Any]:
        """Save a new server (a stdio one once the user confirmed its command line) and start
        it when enabled; the server as `getAllMcpServers` gives it."""
        data = load_mcp_server(config)
        if self._store.name_taken(data["name"]):
            raise _name_taken(data["name"])
        server_id = uuid.uuid4().hex
        env = self._values.plan(server_id, data["env"], {}, env_entry, "env")
        headers = self._values.plan(server_id, data["headers"], {}, header_entry, "headers")
        now = utc_now()
        row = McpServerRow(
            id=server_id,
            name=data["name"],
            display_name=data["displayName"],
            transport=data["transport"],
            command=data["command"],
            args=tuple(data["args"]),
            env=env.hints,
            url=data["url"],
            headers=headers.hints,
            enabled=data["enabled"],
            call_timeout=float(data["timeoutSeconds"]),
            confirmed=None,
            created_at=now,
            updated_at=now,
        )
        line = command_line(row)
        if line is not None:
            self._approve(line, row.display_name, confirm)
            row = replace(row, confirmed=line.digest)
        with self._lock:
            self._values.write(env, headers)
            try:
                self._store.insert_server(row)
            except BaseException:
                self._values.forget([*env.writes, *headers.writes])
                raise
            log.info("added MCP server %s (%s)", row.id, row.transport)
            self._launch(row)
        return self._wire(row, [])

    def update(self, server_id: Any, updates: Any, *, confirm: Confirm | None) -> dict[str, Any]:
        """Apply partial `updates` (a stdio server's changed command line, arguments or env
        confirmed first) and restart the server when what it runs changed."""
        current = self._row(server_id)
        data = merge_mcp_update(fields(current), updates)
        if self._store.name_taken(data["name"], current.id):
            raise _name_taken(data["name"])
        env = self._values.plan(current.id, data["env"], current.env, env_entry, "env")
        headers = self._values.plan(
            current.id, data["headers"], current.headers, header_entry, "headers"
        )
        row = replace(
            current,
            name=data["name"],
            display_name=data["displayName"],
            transport=data["transport"],
            command=data["command"],
            args=tuple(data["args"]),
            env=env.hints,
            url=data["url"],
            headers=headers.hints,
            enabled=data["enabled"],
            call_timeout=float(data["timeoutSeconds"]),
            updated_at=utc_now(),
        )
        line = command_line(row)
        if line is None:
            row = replace(row, confirmed=None)
        elif line.digest != current.confirmed or env.changed:
            self._approve(line, row.display_name, confirm)
            row = replace(row, confirmed=line.digest)
        with self._lock:
            self._unchanged_since(current)
            previous = self._values.write(env, headers)
            try:
                self._store.update_server(row)
            except BaseException:
                self._values.restore(previous)
                raise
            self._values.forget([*env.deletes, *headers.deletes])
            log.info("updated MCP server %s", row.id)
            self._launch(row)
        return self._wire(row, self._store.tools(row.id))

    def remove(self, server_id: Any) -> str:
        """Stop and remove a server, its tools and its values; its id."""
        row = self._row(server_id)
        with self._lock:
            if not self._store.delete_server(row.id):
                raise NotFound(tr("tools.service.gone"))
            self._stop(row.id)
        self._values.forget(
            stored_entries(row.id, row.env, env_entry)
            + stored_entries(row.id, row.headers, header_entry)
        )
        log.info("removed MCP server %s", row.id)
        return row.id

    def restart(self, server_id: Any, *, confirm: Confirm | None) -> dict[str, Any]:
        """Stop an enabled server and start it again, confirming first a stdio command line
        not yet confirmed: what a user does to retry a server that failed."""
        row = self._row(server_id)
        if not row.enabled:
            problem = tr("tools.service.restartDisabledField")
            raise InvalidConfig(tr("tools.service.restartDisabled"), fields={"enabled": [problem]})
        line = command_line(row)
        if line is not None and line.digest != row.confirmed:
            self._approve(line, row.display_name, confirm)
            confirmed = replace(row, confirmed=line.digest)
            with self._lock:
                self._unchanged_since(row)
                self._store.update_server(confirmed)
            row = confirmed
        with self._lock:
            self._stop(row.id)
            self._launch(row)
        log.info("restarted MCP server %s", row.id)
        return self._wire(row, self._store.tools(row.id))

    def set_tool_policy(
        self, server_id: Any, tool_name: Any, policy: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Set whether a tool is offered and whether each call asks first; the server and
        the tool as `getAllMcpServers` gives them."""
        row = self._row(server_id, "serverId")
        name = load_tool_name(tool_name)
        changes = load_tool_policy(policy)
        with self._lock:
            tool = _find(self._store.tools(row.id), name)
            self._store.set_policy(
                row.id,
                name,
                enabled=changes.get("enabled", tool.enabled),
                approval=changes.get("approval", tool.approval),
            )
        tools = self._store.tools(row.id)
        return self._wire(row, tools), tool_wire(_find(tools, name))

    # --- the export file ----------------------------------------------------------------

    def exported(self, *, with_values: bool) -> list[tuple[dict[str, Any], McpSecrets | None]]:
        """Every server as the export file holds it (`env` and `headers` values null), each
        with its stored non-empty values when `with_values` (None when it has none)."""
        servers: list[tuple[dict[str, Any], McpSecrets | None]] = []
        for row in self._store.list_servers():
            values = None
            if with_values:
                env = self._values.read(row.id, row.env, env_entry)
                headers = self._values.read(row.id, row.headers, header_entry)
                env = {name: value for name, value in env.items() if value}
                headers = {name: value for name, value in headers.items() if value}
                values = McpSecrets(env, headers) if env or headers else None
            servers.append((fields(row), values))
        return servers

    def import_server(
        self,
        data: Mapping[str, Any],
        values: McpSecrets | None,
        *,
        on_conflict: str,
        dry_run: bool,
        reserved: Collection[str] = (),
    ) -> tuple[ImportAction, str]:
        """Bring in one server of an import file (`data` as `load_mcp_server` gives it, its
        `env` and `headers` values null, `values` the ones the file's encrypted block holds);
        what was done and the name the server has. Another server of the same name (ignoring
        case) is left alone (`skip`), overwritten (`replace`: its id and tools stay) or kept
        beside a copy under the first free `name-2`, `name-3`… not in the store nor in
        `reserved` (case-folded; `rename`). A value the file does not hold is kept from the
        overwritten server only if its values still go to the same URL or program; else the
        name is saved with an empty value. A stdio server is saved unconfirmed, so it runs only
        once the user confirmed its command line (`restart`); nothing is started in a dry run.
        """
        given = load_mcp_server(dict(data))
        brought = values or McpSecrets()
        with self._lock:
            existing = self._by_name(given["name"])
            if existing is not None and on_conflict == "skip":
                return "skipped", given["name"]
            if existing is not None and on_conflict == "rename":
                given["name"] = self._free_name(given["name"], reserved)
                existing = None
            keep = existing is not None and _same_destination(existing, given)
            env_stored = existing.env if existing is not None else {}
            headers_stored = existing.headers if existing is not None else {}
            given["env"] = _filled(given["env"], brought.env, env_stored if keep else {})
            given["headers"] = _filled(
                given["headers"], brought.headers, headers_stored if keep else {}, any_case=True
            )
            # The values are checked as an add checks them (length, line breaks, NUL).
            data = load_mcp_server(given)
            server_id = uuid.uuid4().hex if existing is None else existing.id
            env = self._values.plan(server_id, data["env"], env_stored, env_entry, "env")
            headers = self._values.plan(
                server_id, data["headers"], headers_stored, header_entry, "headers"
            )
            now = utc_now()
            row = McpServerRow(
                id=server_id,
                name=data["name"],
                display_name=data["displayName"],
                transport=data["transport"],
                command=data["command"],
                args=tuple(data["args"]),
                env=env.hints,
                url=data["url"],
                headers=headers.hints,
                enabled=data["enabled"],
                call_timeout=float(data["timeoutSeconds"]),
                confirmed=None,  # an import never confirms a command line
                created_at=now if existing is None else existing.created_at,
                updated_at=now,
            )
            action: ImportAction = "added" if existing is None else "updated"
            if dry_run:
                return action, row.name
            previous = self._values.write(env, headers)
            try:
                if existing is None:
                    self._store.insert_server(row)
                else:
                    self._store.update_server(row)
            except BaseException:
                self._values.restore(previous)
                raise
            self._values.forget([*env.deletes, *headers.deletes])
            log.info("imported MCP server %s (%s, %s)", row.id, row.transport, action)
            self._launch(row)
        return action, row.name

    def _by_name(self, name: str) -> McpServerRow | None:
        """The saved server of this name, ignoring case (names are ASCII)."""
        folded = name.casefold()
        return next((r for r in self._store.list_servers() if r.name.casefold() == folded), None)

    def _free_name(self, name: str, reserved: Collection[str]) -> str:
        for n in range(2, 10_000):
            suffix = f"-{n}"
            candidate = name[: 64 - len(suffix)] + suffix
            if candidate.casefold() not in reserved and not self._store.name_taken(candidate):
                return candidate
        raise DuplicateName(tr("transfer.noFreeName", name=name))

    # --- start and stop -----------------------------------------------------------------

    def start_enabled(self) -> None:
        """Start every enabled server in the background (the window does not wait), and make
        every stored value known to `REDACTOR`."""
        with self._lock:
            if self._starter is None:
                self._starter = threading.Thread(
                    target=self._start_all, name="mcp-start", daemon=True
                )
                self._starter.start()

    def _start_all(self) -> None:
        for row in self._store.list_servers():
            if self._stopping.is_set():
                return
            try:
                self._values.read(row.id, row.env, env_entry)
                self._values.read(row.id, row.headers, header_entry)
                with self._lock:
                    if row.enabled and not self._is_launched(row.id):
                        self._launch(row)
            except Exception:
                log.exception("could not start MCP server %s", row.id)

    def close(self) -> None:
        """Stop every server (no child process outlives the app)."""
        self._stopping.set()
        starter = self._starter
        if starter is not None:
            starter.join(STOP_WAIT_SECONDS)
        self._host.close()

    # --- ToolCatalog ----------------------------------------------------------------------

    def offered(self, server_ids: Sequence[str]) -> list[OfferedTool]:
        """The enabled tools of these servers (started where they are not yet; waiting for
        them at most `OFFER_WAIT_SECONDS` in all), each named uniquely for the model."""
        rows = []
        for server_id in dict.fromkeys(server_ids):
            row = self._store.get_server(server_id) if isinstance(server_id, str) else None
            if row is not None and row.enabled and may_run(row):
                rows.append(row)
        with self._lock:
            for row in rows:
                if not self._is_launched(row.id) and not self._has_failed(row.id):
                    self._launch(row)
        deadline = time.monotonic() + OFFER_WAIT_SECONDS
        found: list[tuple[McpServerRow, ToolInfo, Approval]] = []
        for row in rows:
            if not self._is_launched(row.id):
                continue
            state = self._host.wait_ready(row.id, max(0.0, deadline - time.monotonic()))
            if state.status == "connected":
                found += self._enabled_tools(row, state.tools)
        names = exposed_names([(row.name, info.name) for row, info, _ in found])
        return [
            OfferedTool(
                server_id=row.id,
                server_name=row.name,
                name=info.name,
                exposed_name=exposed,
                description=REDACTOR.redact(info.description),
                input_schema=info.input_schema,
                approval=approval,
                call_timeout=row.call_timeout,
            )
            for (row, info, approval), exposed in zip(found, names, strict=True)
        ]

    def _enabled_tools(
        self, row: McpServerRow, listed: Sequence[ToolInfo]
    ) -> list[tuple[McpServerRow, ToolInfo, Approval]]:
        """The listed tools the user left on, with their approval (the list saved first)."""
        self._save_tools(row.id, listed)
        policies = {tool.name: tool for tool in self._store.tools(row.id)}
        found: list[tuple[McpServerRow, ToolInfo, Approval]] = []
        for info in listed:
            policy = policies.get(info.name)
            if policy is not None and policy.enabled:
                approval: Approval = "always" if policy.approval == "always" else "ask"
                found.append((row, info, approval))
        return found

    def call(self, tool: OfferedTool, arguments: Mapping[str, Any]) -> Future[ToolOutcome]:
        """Run one call on its server, within the server's timeout. A tool turned off (or its
        server removed or disabled) since it was offered is not run."""
        row = self._store.get_server(tool.server_id)
        policy = next((t for t in self._store.tools(tool.server_id) if t.name == tool.name), None)
        if row is None or not row.enabled or policy is None or not policy.enabled:
            done: Future[ToolOutcome] = Future()
            # For the model, so in English (docs/TRANSLATION.md).
            done.set_result(ToolOutcome(TOOL_OFF.format(name=tool.name), True, 0))
            return done
        return self._host.call(tool.server_id, tool.name, arguments, timeout=tool.call_timeout)

    # --- the host -------------------------------------------------------------------------

    def _on_change(self, server_id: str, state: ServerState) -> None:
        """The host's report of a server's new state (on the host's thread; never raises)."""
        try:
            if state.error is not None:
                log.warning("MCP server %s is %s: %s", server_id, state.status, state.error.code)
            else:
                log.info("MCP server %s is %s", server_id, state.status)
            if state.status == "connected":
                self._save_tools(server_id, state.tools)
        except Exception:
            log.exception("could not save the tools of MCP server %s", server_id)

    def _save_tools(self, server_id: str, tools: Sequence[ToolInfo]) -> None:
        listed = [ListedTool(t.name, t.description, t.fingerprint, t.input_schema) for t in tools]
        self._store.sync_tools(server_id, listed, utc_now())

    def _launch(self, row: McpServerRow) -> None:
        """Have the host run what `row` says, or stop it when it must not run (under `_lock`).
        A server whose spec is unchanged (its timeout aside) is left running as it is."""
        if not row.enabled or not may_run(row):
            self._stop(row.id)
            return
        try:
            spec = self._spec(row)
        except MiaodaError as err:
            self._stop(row.id)
            with self._state_lock:
                self._failed[row.id] = ServerError(SECRETS_UNAVAILABLE, err.message)
            return
        with self._state_lock:
            running = self._launched.get(row.id)
            if running is not None and replace(spec, call_timeout=running.call_timeout) == running:
                return
            self._failed.pop(row.id, None)
            self._launched[row.id] = spec
        self._host.configure(spec)
        self._host.start(row.id)

    def _stop(self, server_id: str) -> None:
        """Stop a server the host runs (under `_lock`)."""
        with self._state_lock:
            self._failed.pop(server_id, None)
            running = self._launched.pop(server_id, None)
        if running is not None:
            self._host.remove(server_id)

    def _is_launched(self, server_id: str) -> bool:
        with self._state_lock:
            return server_id in self._launched

    def _has_failed(self, server_id: str) -> bool:
        with self._state_lock:
            return server_id in self._failed

    def _spec(self, row: McpServerRow) -> ServerSpec:
        """How the host reaches `row`, its values read from the secret store."""
        transport: Transport = "stdio" if row.transport == "stdio" else "http"
        return ServerSpec(
            id=row.id,
            name=row.name,
            transport=transport,
            command=row.command,
            args=row.args,
            env=self._values.read(row.id, row.env, env_entry),
            url=row.url,
            headers=self._values.read(row.id, row.headers, header_entry),
            call_timeout=row.call_timeout,
        )

    # --- reading and confirming -----------------------------------------------------------

    def _row(self, server_id: Any, field: str = "id") -> McpServerRow:
        row = self._store.get_server(load_id(server_id, field))
        if row is None:
            raise NotFound(tr("tools.service.gone"))
        return row

    def _unchanged_since(self, row: McpServerRow) -> None:
        """Refuse to save a change planned on `row` if the server changed (or went) while
        the user was asked."""
        now = self._store.get_server(row.id)
        if now is None:
            raise NotFound(tr("tools.service.gone"))
        if now != row:
            raise Cancelled(tr("tools.service.changedMeanwhile"))

    def _approve(self, line: CommandLine, display_name: str, confirm: Confirm | None) -> None:
        approve(
            line,
            display_name,
            confirm,
            allow_over_http=self._allow_stdio_over_http,
            terminal=self._terminal,
        )

    def _status(self, row: McpServerRow) -> tuple[str, dict[str, str] | None]:
        if not row.enabled:
            return "disabled", None
        if not may_run(row):
            return "failed", {"code": NOT_CONFIRMED, "message": tr("tools.service.notConfirmed")}
        with self._state_lock:
            failed = self._failed.get(row.id)
            launched = row.id in self._launched
        if failed is not None:
            return "failed", error_wire(failed)
        if not launched:
            return "starting", None
        try:
            state = self._host.state(row.id)
        except KeyError:  # stopped by another call since
            return "starting", None
        return state.status, None if state.error is None else error_wire(state.error)

    def _wire(self, row: McpServerRow, tools: Sequence[McpToolRow]) -> dict[str, Any]:
        return server_wire(row, *self._status(row), tools)


def _same_destination(stored: McpServerRow, imported: Mapping[str, Any]) -> bool:
    """Whether the values of `stored` would go to the same URL or program after the import."""
    return (
        stored.transport == imported["transport"]
        and stored.url == imported["url"]
        and stored.command == imported["command"]
        and list(stored.args) == list(imported["args"])
    )


def _filled(
    names: Mapping[str, str | None],
    brought: Mapping[str, str],
    kept: Mapping[str, str | None],
    *,
    any_case: bool = False,
) -> dict[str, str | None]:
    """The file's `env` or `headers` with their values: the one the file brought, else null
    to keep the one stored under a name in `kept`, else an empty value. Header names ignore
    case (`any_case`), environment variable names do not."""

    def key(name: str) -> str:
        return name.lower() if any_case else name

    found = {key(name): value for name, value in brought.items()}
    stored = {key(name) for name in kept}
    filled: dict[str, str | None] = {}
    for name in names:
        value = found.get(key(name))
        if value is None:
            value = None if key(name) in stored else ""
        filled[name] = value
    return filled


def _find(tools: Sequence[McpToolRow], name: str) -> McpToolRow:
    for tool in tools:
        if tool.name == name:
            return tool
    raise NotFound(tr("tools.service.toolGone", name=name))


def _name_taken(name: str) -> DuplicateName:
    return DuplicateName(
        tr("tools.service.nameTaken", name=name),
        fields={"name": [tr("tools.service.nameTakenField")]},
    )
