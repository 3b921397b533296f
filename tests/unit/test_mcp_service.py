"""McpService over real storage and the real encrypted-file secret store, with a scripted host.

The host (tests/unit/mcp_helpers.py) stands in for backend.tools.host.ToolHost
(tests/integration/test_mcp_service.py runs the real one against real servers): it records what
it is told and reports the states a test gives it, through the service's own `on_change`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backend.errors import BadRequest, Cancelled, DuplicateName, InvalidConfig, NotFound
from backend.secrets import SecretStore
from backend.storage import McpStore, Storage
from backend.tools.model import ServerError, ServerState, ToolOutcome
from backend.tools.service import NOT_CONFIRMED, McpService
from tests.unit.mcp_helpers import (
    ENV_CANARY,
    Dialog,
    ScriptedHost,
    connected,
    host_of,
    http,
    stdio,
    tool,
)


@pytest.fixture
def secrets(file_secret_store: SecretStore) -> SecretStore:
    """The encrypted-file store (tests/unit/test_mcp_secrets.py runs the keyring too)."""
    return file_secret_store


@pytest.fixture
def printed() -> list[str]:
    return []


@pytest.fixture
def make_service(
    storage: Storage, secrets: SecretStore, printed: list[str]
) -> Iterator[Callable[..., McpService]]:
    """Services over the test's storage and secrets, closed after the test."""
    made: list[McpService] = []

    def make(allow_stdio_over_http: bool = False) -> McpService:
        service = McpService(
            McpStore(storage),
            secrets,
            ScriptedHost,
            allow_stdio_over_http=allow_stdio_over_http,
            terminal=printed.append,
        )
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


@pytest.fixture
def service(make_service: Callable[..., McpService]) -> McpService:
    return make_service()


# --- adding, and the confirmation of stdio commands ----------------------------------------


def test_a_stdio_server_is_saved_and_started_only_after_the_user_confirms_its_command(
    service: McpService,
) -> None:
    dialog = Dialog(answer=True)
    server = service.add(stdio(), confirm=dialog)
    assert len(dialog.shown) == 1
    title, message = dialog.shown[0]
    assert title == "Run this program?"
    assert "npx -y @modelcontextprotocol/server-filesystem '/home/me/My Notes'" in message
    assert "API_TOKEN" in message and ENV_CANARY not in message
    assert server["commandLine"] == (
        "npx -y @modelcontextprotocol/server-filesystem '/home/me/My Notes'"
    )
    spec = host_of(service).specs[server["id"]]
    assert spec.command == "npx" and dict(spec.env) == {"API_TOKEN": ENV_CANARY}
    assert server["status"] == "starting"


def test_declining_the_command_saves_nothing_and_starts_nothing(service: McpService) -> None:
    with pytest.raises(Cancelled):
        service.add(stdio(), confirm=Dialog(answer=False))
    assert service.servers() == []
    assert host_of(service).events == []


def test_over_http_a_stdio_server_is_refused_naming_transport(service: McpService) -> None:
    with pytest.raises(BadRequest) as caught:
        service.add(stdio(), confirm=None)
    assert caught.value.code == "BAD_REQUEST"
    assert "transport" in caught.value.fields
    assert "--allow-stdio-tools" in caught.value.message
    assert service.servers() == []


def test_over_http_with_the_flag_the_command_line_is_printed_and_saved(
    make_service: Callable[..., McpService], printed: list[str]
) -> None:
    service = make_service(allow_stdio_over_http=True)
    server = service.add(stdio(), confirm=None)
    assert printed == [
        "MiaoDa Chat: the MCP server 'Files' will run: npx -y "
        "@modelcontextprotocol/server-filesystem '/home/me/My Notes' "
        "(env: API_TOKEN; values hidden)"
    ]
    assert [s["id"] for s in service.servers()] == [server["id"]]


def test_an_http_server_needs_no_confirmation(service: McpService) -> None:
    dialog = Dialog(answer=False)
    server = service.add(http(), confirm=dialog)
    assert dialog.shown == []
    assert server["transport"] == "http" and server["status"] == "starting"


def test_changing_args_or_env_asks_again_but_a_new_name_does_not(service: McpService) -> None:
    server = service.add(stdio(), confirm=Dialog())
    dialog = Dialog(answer=True)
    service.update(server["id"], {"displayName": "My files"}, confirm=dialog)
    service.update(server["id"], {"env": {"API_TOKEN": None}}, confirm=dialog)
    assert dialog.shown == []
    service.update(server["id"], {"args": ["-y", "other"]}, confirm=dialog)
    service.update(server["id"], {"env": {"API_TOKEN": "another-value-123"}}, confirm=dialog)
    service.update(server["id"], {"env": {"API_TOKEN": None, "MORE": "x"}}, confirm=dialog)
    assert len(dialog.shown) == 3


def test_a_declined_change_keeps_the_server_as_it_was(service: McpService) -> None:
    server = service.add(stdio(), confirm=Dialog())
    with pytest.raises(Cancelled):
        service.update(server["id"], {"command": "rm", "env": {}}, confirm=Dialog(answer=False))
    again = service.get(server["id"])
    assert again["command"] == "npx"
    assert again["env"] == {"API_TOKEN": None}
    spec = host_of(service).specs[server["id"]]
    assert dict(spec.env) == {"API_TOKEN": ENV_CANARY}


def test_a_change_made_while_the_dialog_was_open_is_not_overwritten(service: McpService) -> None:
    sid = service.add(stdio(), confirm=Dialog())["id"]

    def rename_meanwhile(title: str, message: str) -> bool:
        service.update(sid, {"displayName": "Renamed"}, confirm=None)
        return True

    with pytest.raises(Cancelled):
        service.update(sid, {"args": ["other"]}, confirm=rename_meanwhile)
    server = service.get(sid)
    assert server["displayName"] == "Renamed"
    assert server["args"] == stdio()["args"]


def test_turning_an_http_server_into_a_stdio_one_needs_a_command_and_a_confirmation(
    service: McpService, secrets: SecretStore
) -> None:
    sid = service.add(http(), confirm=None)["id"]
    with pytest.raises(InvalidConfig) as caught:
        service.update(sid, {"transport": "stdio"}, confirm=Dialog())
    assert "command" in caught.value.fields
    dialog = Dialog()
    changed = {"transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}
    server = service.update(sid, changed, confirm=dialog)
    assert len(dialog.shown) == 1
    assert (server["url"], server["headers"], server["commandLine"]) == (
        None,
        {},
        "uvx mcp-server-time",
    )
    assert secrets.get(f"{sid}:header:authorization") is None


def test_a_stdio_server_not_confirmed_on_this_computer_does_not_start_until_restarted(
    service: McpService, storage: Storage
) -> None:
    server = service.add(stdio(), confirm=Dialog())
    with sqlite3.connect(storage.path) as conn:  # as an import would leave it
        conn.execute("UPDATE mcp_servers SET confirmed = NULL")
    fresh = McpService(McpStore(storage), service._values._secrets, ScriptedHost)
    fresh.start_enabled()
    fresh.close()
    listed = fresh.get(server["id"])
    assert listed["status"] == "failed"
    assert listed["error"]["code"] == NOT_CONFIRMED
    assert host_of(fresh).events == []
    dialog = Dialog()
    restarted = fresh.restart(server["id"], confirm=dialog)
    assert len(dialog.shown) == 1
    assert restarted["status"] == "starting"
    assert host_of(fresh).events == [("configure", server["id"]), ("start", server["id"])]


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (stdio(command=None), "command"),
        (stdio(command="bad\x00command"), "command"),
        (stdio(args=["ok"] * 65), "args"),
        (stdio(args=["fine", "bad\x00"]), "args.1"),
        (stdio(env={"1BAD": "x"}), "env"),
        (stdio(url="https://x.example"), "url"),
        (http(url="ftp://files.example"), "url"),
        (http(url=None), "url"),
        (http(url="https://user:pw@mcp.example.com"), "url"),
        (http(headers={"Bad Name": "x"}), "headers"),
        (http(headers={"X-Token": "a\r\nb"}), "headers"),
        (http(command="npx"), "command"),
        (stdio(name="has space"), "name"),
        (stdio(transport="sse"), "transport"),
        (stdio(timeoutSeconds=0), "timeoutSeconds"),
        (stdio(status="connected"), "status"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(
    service: McpService, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidConfig) as caught:
        service.add(config, confirm=Dialog())
    assert field in caught.value.fields, caught.value.fields
    assert service.servers() == []


def test_a_null_value_on_add_is_refused_naming_env(service: McpService) -> None:
    with pytest.raises(InvalidConfig) as caught:
        service.add(stdio(env={"API_TOKEN": None}), confirm=Dialog())
    assert list(caught.value.fields) == ["env"]


def test_names_are_unique_ignoring_case(service: McpService) -> None:
    service.add(http(), confirm=None)
    with pytest.raises(DuplicateName) as caught:
        service.add(http(name="REMOTE"), confirm=None)
    assert "name" in caught.value.fields


def test_an_unknown_server_is_not_found(service: McpService) -> None:
    with pytest.raises(NotFound):
        service.update("nope", {"displayName": "x"}, confirm=None)
    with pytest.raises(NotFound):
        service.remove("nope")


# --- tools and their policies -------------------------------------------------------------


def test_new_tools_start_enabled_and_ask_and_a_changed_tool_goes_back_to_ask(
    service: McpService,
) -> None:
    server = service.add(http(), confirm=None)
    sid = server["id"]
    host = host_of(service)
    host.report(sid, connected(tool("echo"), tool("add")))
    tools = {t["name"]: t for t in service.get(sid)["tools"]}
    assert {n: (t["enabled"], t["approval"]) for n, t in tools.items()} == {
        "add": (True, "ask"),
        "echo": (True, "ask"),
    }
    service.set_tool_policy(sid, "echo", {"approval": "always"})
    service.set_tool_policy(sid, "add", {"approval": "always", "enabled": False})
    host.report(sid, connected(tool("echo", fingerprint="f2"), tool("add")))
    tools = {t["name"]: t for t in service.get(sid)["tools"]}
    assert (tools["echo"]["enabled"], tools["echo"]["approval"]) == (True, "ask")
    assert (tools["add"]["enabled"], tools["add"]["approval"]) == (False, "always")


def test_a_tool_the_server_no_longer_lists_is_removed(service: McpService) -> None:
    sid = service.add(http(), confirm=None)["id"]
    host = host_of(service)
    host.report(sid, connected(tool("echo"), tool("add")))
    host.report(sid, connected(tool("echo")))
    assert [t["name"] for t in service.get(sid)["tools"]] == ["echo"]


def test_a_failed_server_keeps_showing_its_last_tools(service: McpService) -> None:
    sid = service.add(http(), confirm=None)["id"]
    host = host_of(service)
    host.report(sid, connected(tool("echo")))
    host.report(sid, ServerState("failed", ServerError("CRASHED", "The server stopped.")))
    server = service.get(sid)
    assert server["status"] == "failed"
    assert server["error"] == {"code": "CRASHED", "message": "The server stopped."}
    assert [t["name"] for t in server["tools"]] == ["echo"]


def test_a_policy_for_a_tool_the_server_does_not_list_is_not_found(service: McpService) -> None:
    sid = service.add(http(), confirm=None)["id"]
    with pytest.raises(NotFound):
        service.set_tool_policy(sid, "nothing", {"enabled": False})
    with pytest.raises(InvalidConfig) as caught:
        service.set_tool_policy(sid, "echo", {"approval": "never"})
    assert "approval" in caught.value.fields


def test_a_disabled_server_is_stopped_and_says_so(service: McpService) -> None:
    sid = service.add(http(), confirm=None)["id"]
    server = service.update(sid, {"enabled": False}, confirm=None)
    assert server["status"] == "disabled" and server["error"] is None
    assert host_of(service).events[-1] == ("remove", sid)
    assert service.offered([sid]) == []


# --- the catalog --------------------------------------------------------------------------


def test_offered_tools_are_the_enabled_ones_named_uniquely_across_servers(
    service: McpService,
) -> None:
    host_of(service).ready["*"] = connected(tool("search"), tool("read.file"), tool("off"))
    one = service.add(http(), confirm=None)["id"]
    two = service.add(http(name="other.web", displayName="Other"), confirm=None)["id"]
    service.set_tool_policy(one, "off", {"enabled": False})
    service.set_tool_policy(two, "off", {"enabled": False})
    service.set_tool_policy(two, "search", {"approval": "always"})
    offered = service.offered([one, two, one, "unknown"])
    names = [(t.server_id, t.name, t.exposed_name, t.approval) for t in offered]
    assert names == [
        (one, "search", "remote__search", "ask"),
        (one, "read.file", "remote__read_file", "ask"),
        (two, "search", "other_web__search", "always"),
        (two, "read.file", "other_web__read_file", "ask"),
    ]


def test_a_call_runs_on_its_server_with_the_servers_timeout(service: McpService) -> None:
    host = host_of(service)
    host.ready["*"] = connected(tool("echo"))
    sid = service.add(http(timeoutSeconds=12.5), confirm=None)["id"]
    (offered,) = service.offered([sid])
    outcome = service.call(offered, {"message": "hi"}).result(timeout=1)
    assert outcome == ToolOutcome("ran echo", False, 3)
    assert host.calls == [(sid, "echo", {"message": "hi"}, 12.5)]


def test_a_tool_turned_off_after_it_was_offered_is_not_run(service: McpService) -> None:
    host = host_of(service)
    host.ready["*"] = connected(tool("echo"))
    sid = service.add(http(), confirm=None)["id"]
    (offered,) = service.offered([sid])
    service.set_tool_policy(sid, "echo", {"enabled": False})
    outcome = service.call(offered, {}).result(timeout=1)
    assert outcome.is_error and "not run" in outcome.content
    assert host.calls == []


def test_a_server_is_started_lazily_when_first_offered(
    make_service: Callable[..., McpService], storage: Storage
) -> None:
    first = make_service()
    sid = first.add(http(), confirm=None)["id"]
    later = make_service()  # the next app start, before its background start reached it
    host = host_of(later)
    host.ready["*"] = connected(tool("echo"))
    assert [t.name for t in later.offered([sid])] == ["echo"]
    assert host.events == [("configure", sid), ("start", sid)]


def test_closing_closes_the_host(service: McpService) -> None:
    service.start_enabled()
    service.close()
    assert host_of(service).closed
