"""Tools (MCP) in the window (CONTRACT §12, §6): the tools screen — the reference server
`@modelcontextprotocol/server-everything` added from the UI over stdio (run with `node` from
node_modules) and over streamable HTTP (started by the test), connected with its tools, a tool's
approval changed, a server whose command does not exist failing with a clear status — and a
chat that turns the server on and whose model calls `echo`: the approval card (focused, with
the server's name and the arguments), Allow once then the result and the final answer, Deny,
Stop while the card waits, Always allow, the reply shown the same after a reload, the
conversation's servers changed, and the 10-round limit. Screenshots of
the screen, the form and the approval card in English and Chinese, light and dark. The app is
started with `--allow-stdio-tools`; when the module ends no server it started is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.english import page_english
from tests.e2e.helpers import (
    CHAT_PATH,
    REPO,
    RunningApp,
    chat_reply,
    emulate_scheme,
    last_reply,
    open_chat,
    reload_chat,
    screenshot,
    screenshot_matrix,
    send_message,
    serve,
    wait_until,
)
from tests.fakes.upstream import FakeUpstream
from tests.helpers import CANARY_KEY, require
from tests.unit.test_i18n import frontend_catalogue

pytestmark = pytest.mark.browser

EVERYTHING = (
    REPO / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
)
# Marks the servers this module's app starts (an environment variable of theirs), so the orphan
# check finds them and nothing else on the machine.
MARKER = f"miaoda-e2e-{uuid.uuid4().hex[:12]}"
ZH = frontend_catalogue("zh-CN")


def text(catalogue: dict[str, Any], key: str, **params: Any) -> str:
    """A frontend text (a plural's `other` form) with its parameters filled."""
    entry = catalogue[key]
    value = entry if isinstance(entry, str) else entry["other"]
    for name, param in params.items():
        value = value.replace("{" + name + "}", str(param))
    return str(value)


def node() -> str:
    """The `node` program; the suite fails (never skips) without it or the reference server."""
    found = shutil.which("node")
    require(found is not None, "needs Node.js (node) on PATH")
    require(EVERYTHING.exists(), "needs node_modules: run npm ci")
    assert found is not None
    return found


def marked_processes() -> list[int]:
    """Pids of live processes whose environment holds this module's MARKER."""
    found = []
    needle = MARKER.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def served_app(
    tmp_path_factory: pytest.TempPathFactory, shared_upstream: FakeUpstream
) -> Iterator[RunningApp]:
    """Overrides conftest's: `miaoda serve --allow-stdio-tools`, so the browser may add stdio
    servers; after SIGTERM, none of the servers it started may be left running."""
    node()
    root = tmp_path_factory.mktemp("miaoda-mcp")
    running = serve(
        root / "data", root / "serve-stderr.txt", shared_upstream, allow_stdio_tools=True
    )
    try:
        yield running
    finally:
        running.process.send_signal(signal.SIGTERM)
        try:
            running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()
    assert wait_until(lambda: not marked_processes(), timeout=10), (
        f"tool servers left running after the app stopped: {marked_processes()}"
    )


@pytest.fixture
def tools(app: RunningApp) -> Iterator[RunningApp]:
    """The module's app without tool servers, before and after the test."""
    remove_servers(app)
    yield app
    remove_servers(app)


def remove_servers(app: RunningApp) -> None:
    for server in app.rpc("getAllMcpServers")["servers"]:
        assert app.rpc("removeMcpServer", server["id"])["success"]


@pytest.fixture
def chinese(tools: RunningApp) -> Iterator[RunningApp]:
    """The app in Simplified Chinese, put back to the system's language afterwards."""
    assert tools.rpc("updateSettings", {"language": "zh-CN"})["success"]
    yield tools
    assert tools.rpc("updateSettings", {"language": "system"})["success"]


def add_everything(app: RunningApp, **fields: Any) -> dict[str, Any]:
    """The reference server over stdio, added through the API; once it is connected."""
    config = {
        "name": "everything",
        "displayName": "Everything",
        "transport": "stdio",
        "command": node(),
        "args": [str(EVERYTHING), "stdio"],
        "env": {"E2E_MARKER": MARKER},
        **fields,
    }
    result = app.rpc("addMcpServer", config)
    assert result["success"], result
    server_id: str = result["id"]
    return connected(app, server_id)


def connected(app: RunningApp, server_id: str, timeout: float = 30) -> dict[str, Any]:
    """Server `server_id` once the app says it is connected (fails after `timeout` seconds)."""
    found: dict[str, Any] = {}

    def ready() -> bool:
        for server in app.rpc("getAllMcpServers")["servers"]:
            if server["id"] == server_id:
                found.update(server)
        return found.get("status") == "connected"

    assert wait_until(ready, timeout), f"server not connected: {found}"
    return found


def open_tools(page: Any) -> Any:
    """Go to #/tools and wait for the view to have read the servers; returns the view."""
    page.evaluate("location.hash = '#/tools'")
    view = page.locator("mcp-view[data-ready]")
    view.wait_for()
    return view


def card(view: Any, name: str) -> Any:
    return view.locator("mcp-server-card").filter(
        has=view.page.locator(".mcp-title", has_text=name)
    )


def open_tool_list(server_card: Any) -> Any:
    """The card's tools, opened."""
    tools = server_card.locator("details.mcp-tools")
    if tools.get_attribute("open") is None:
        tools.locator("summary").click()
    return tools


def echo_call(message: str, call_id: str = "call_upstream_1") -> list[dict[str, Any]]:
    return [{"id": call_id, "name": "echo", "arguments": json.dumps({"message": message})}]


def chat_with_tools(page: Any, app: RunningApp, server: dict[str, Any]) -> None:
    """The chat view, a new conversation with `server` turned on from the header's Tools menu."""
    app.add_provider(name="groq", displayName="Groq")
    open_chat(page)
    page.get_by_role("button", name="Tools").click()
    panel = page.locator(".tool-servers-panel")
    expect(panel).to_be_visible()
    box = panel.locator(f'input[data-server-id="{server["id"]}"]')
    expect(panel.locator(".tool-servers-item")).to_contain_text(server["displayName"])
    box.check()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.get_by_role("button", name="Tools: 1 server on")).to_be_visible()


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `role: tool` messages of an OpenAI-style request body."""
    return [m for m in body["messages"] if m.get("role") == "tool"]


# --- the tools screen ---------------------------------------------------------------------------


def test_the_reference_server_is_added_from_the_screen_and_shows_its_tools(
    page: Any, tools: RunningApp
) -> None:
    view = open_tools(page)
    expect(view.locator(".mcp-empty")).to_be_visible()
    view.get_by_role("button", name="Add a tool server").click()
    form = page.locator("dialog.mcp-dialog")
    expect(form).to_be_visible()

    # The Everything preset fills in npx; the test runs the installed copy with node instead.
    form.locator('.mcp-preset[data-preset="everything"]').click()
    expect(form.get_by_label("Command")).to_have_value("npx")
    expect(form.get_by_label("Display name")).to_have_value("Everything")
    expect(form.get_by_label("Name", exact=True)).to_have_value("everything")
    form.get_by_label("Command").fill(node())
    form.get_by_label("Arguments").fill(f"{EVERYTHING}\nstdio")
    env = form.locator("mcp-pairs-editor").first
    env.get_by_role("button", name="Add variable").click()
    env.get_by_label("Variable 1 name").fill("E2E_MARKER")
    env.get_by_label("Variable 1 value").fill(MARKER)
    env.get_by_role("button", name="Add variable").click()
    env.get_by_label("Variable 2 name").fill("CANARY_TOKEN")
    env.get_by_label("Variable 2 value").fill(CANARY_KEY)
    screenshot_matrix(page, "mcp-form")
    form.get_by_role("button", name="Add server").click()
    expect(form).to_be_hidden()

    server_card = card(view, "Everything")
    expect(server_card).to_have_attribute("data-status", "connected", timeout=30_000)
    expect(server_card.locator(".mcp-status")).to_have_text("Connected")
    expect(server_card.locator(".mcp-target")).to_contain_text("stdio")
    listed = open_tool_list(server_card)
    echo = listed.locator('.mcp-tool[data-tool="echo"]')
    expect(echo).to_be_visible()
    # New tools ask first; one set to always allow is saved as such.
    expect(echo.get_by_label("Approval for echo")).to_have_value("ask")
    listed.locator('.mcp-tool[data-tool="get-sum"]').get_by_label(
        "Approval for get-sum"
    ).select_option("always")
    listed.locator('.mcp-tool[data-tool="get-env"]').get_by_label(
        "Offer get-env to the model"
    ).uncheck()

    def policies() -> dict[str, tuple[bool, str]]:
        servers = tools.rpc("getAllMcpServers")["servers"]
        return {t["name"]: (t["enabled"], t["approval"]) for t in servers[0]["tools"]}

    assert wait_until(lambda: policies()["get-sum"] == (True, "always"))
    assert wait_until(lambda: policies()["get-env"][0] is False)
    assert policies()["echo"] == (True, "ask")
    stored = tools.rpc("getAllMcpServers")["servers"][0]
    assert stored["env"] == {"E2E_MARKER": None, "CANARY_TOKEN": None}
    assert CANARY_KEY not in json.dumps(stored)
    expect(view.locator(".view-subtitle")).to_have_text("1 server, 1 connected")
    screenshot_matrix(page, "mcp-screen")

    # Editing: the saved values are not shown again, only their hints.
    server_card.get_by_role("button", name="Edit Everything").click()
    expect(form).to_be_visible()
    value = form.get_by_label("Variable 2 value")
    expect(value).to_have_value("")
    expect(value).to_have_attribute("type", "password")
    expect(value).to_have_attribute(
        "placeholder", f"Saved (sk-…{CANARY_KEY[-4:]}): type to replace"
    )
    screenshot(page, "mcp-edit-form")
    page.keyboard.press("Escape")


def test_a_server_over_streamable_http_is_added_by_url_with_a_secret_header(
    page: Any, tools: RunningApp, tmp_path: Path
) -> None:
    with everything_over_http(tmp_path) as url:
        view = open_tools(page)
        view.get_by_role("button", name="Add a tool server").click()
        form = page.locator("dialog.mcp-dialog")
        form.locator('.mcp-preset[data-preset="custom"]').click()
        form.get_by_label("Display name").fill("Remote everything")
        form.get_by_label("Remote server (HTTP)").check()
        expect(form.get_by_label("Command")).to_be_hidden()
        form.get_by_label("URL").fill(url)
        headers = form.locator("mcp-pairs-editor").last
        headers.get_by_role("button", name="Add header").click()
        headers.get_by_label("Header 1 name").fill("Authorization")
        headers.get_by_label("Header 1 value").fill(f"Bearer {CANARY_KEY}")
        form.get_by_role("button", name="Add server").click()
        expect(form).to_be_hidden()
        server_card = card(view, "Remote everything")
        expect(server_card).to_have_attribute("data-status", "connected", timeout=30_000)
        expect(server_card.locator(".mcp-transport-tag")).to_have_text("HTTP")
        expect(server_card.locator(".mcp-target")).to_have_text(url)
        expect(open_tool_list(server_card).locator('.mcp-tool[data-tool="echo"]')).to_be_visible()
        stored = tools.rpc("getAllMcpServers")["servers"][0]
        assert stored["headers"] == {"Authorization": None}
        screenshot(page, "mcp-screen-http")
        remove_servers(tools)


def test_a_server_whose_command_does_not_exist_says_so_and_can_be_removed(
    page: Any, tools: RunningApp
) -> None:
    view = open_tools(page)
    view.get_by_role("button", name="Add a tool server").click()
    form = page.locator("dialog.mcp-dialog")
    form.locator('.mcp-preset[data-preset="custom"]').click()
    form.get_by_label("Display name").fill("Broken")
    form.get_by_label("Command").fill("miaoda-no-such-command")
    form.get_by_role("button", name="Add server").click()
    server_card = card(view, "Broken")
    expect(server_card).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(server_card.locator(".mcp-status")).to_have_text("Failed")
    expect(server_card.locator(".mcp-error .error-code")).to_have_text("COMMAND_NOT_FOUND")
    expect(server_card.locator(".mcp-error-message")).to_contain_text("miaoda-no-such-command")
    expect(server_card.get_by_role("button", name="Restart Broken")).to_be_visible()
    screenshot(page, "mcp-screen-failed")

    # Turned off: no error, "Off"; removed after a confirmation.
    server_card.get_by_role("switch", name="Turn Broken off").uncheck()
    expect(server_card).to_have_attribute("data-status", "disabled")
    expect(server_card.locator(".mcp-status")).to_have_text("Off")
    expect(server_card.locator(".mcp-error")).to_be_hidden()
    server_card.get_by_role("button", name="Remove Broken").click()
    page.locator("dialog.confirm-dialog").get_by_role("button", name="Remove server").click()
    expect(view.locator("mcp-server-card")).to_have_count(0)
    expect(view.locator(".mcp-empty")).to_be_visible()
    assert tools.rpc("getAllMcpServers")["servers"] == []


def test_field_errors_from_the_server_show_under_their_fields(page: Any, tools: RunningApp) -> None:
    view = open_tools(page)
    view.get_by_role("button", name="Add a tool server").click()
    form = page.locator("dialog.mcp-dialog")
    form.locator('.mcp-preset[data-preset="custom"]').click()
    form.get_by_label("Display name").fill("No command")
    form.get_by_role("button", name="Add server").click()
    field = form.locator('.field[data-field="command"]')
    expect(field).to_have_class(re.compile(r"\bhas-error\b"))
    expect(field.locator(".field-msg")).not_to_be_empty()
    expect(form.locator(".form-error")).to_contain_text("Command")
    expect(form.get_by_label("Command")).to_be_focused()
    page.keyboard.press("Escape")
    assert tools.rpc("getAllMcpServers")["servers"] == []


# --- tools in the chat --------------------------------------------------------------------------


def test_a_tool_call_waits_for_approval_then_shows_its_result_and_the_answer(
    page: Any, tools: RunningApp
) -> None:
    server = add_everything(tools)
    tools.upstream.script(
        CHAT_PATH,
        chat_reply(["Let me echo that."], tool_calls=echo_call("hello from the model")),
        chat_reply(["The tool answered: hello from the model."]),
    )
    chat_with_tools(page, tools, server)
    send_message(page, "Echo something")

    reply = last_reply(page)
    call = reply.locator("chat-tool-call")
    expect(call).to_have_attribute("data-state", "approval")
    ask = call.locator(".tool-ask")
    expect(ask).to_be_focused()
    expect(ask).to_contain_text("Run the tool echo from Everything?")
    expect(call.locator(".tool-args")).to_contain_text('"message": "hello from the model"')
    expect(reply.locator(".msg-round-text")).to_have_text("Let me echo that.")
    screenshot_matrix(page, "chat-tool-approval")

    # The keyboard answers: Tab reaches "Allow once" first.
    page.keyboard.press("Tab")
    expect(call.get_by_role("button", name="Allow once")).to_be_focused()
    page.keyboard.press("Enter")
    expect(reply.locator(".msg-content")).to_have_text("The tool answered: hello from the model.")
    expect(call).to_have_attribute("data-state", "done")
    result = call.locator("details.tool-result")
    expect(result.locator(".tool-result-preview")).to_contain_text("hello from the model")
    result.locator("summary").click()
    expect(result.locator(".tool-result-text")).to_be_visible()
    expect(result.locator(".tool-result-text")).to_contain_text("Echo: hello from the model")
    screenshot_matrix(page, "chat-tool-result")

    # The model got the result in OpenAI's shape, answering the call the app named.
    bodies = [seen.json for seen in tools.upstream.requests_to(CHAT_PATH)]
    assert len(bodies) == 2
    offered = sorted(t["function"]["name"] for t in bodies[0]["tools"])
    assert offered == sorted(t["name"] for t in server["tools"] if t["enabled"])
    calls = [m for m in bodies[1]["messages"] if m.get("tool_calls")]
    results = tool_messages(bodies[1])
    assert len(calls) == 1 and len(results) == 1
    assert results[0]["tool_call_id"] == calls[0]["tool_calls"][0]["id"]
    assert "Echo: hello from the model" in results[0]["content"]

    # Stored and shown the same after a reload: one reply, the call with its result.
    reload_chat(page)
    reply = last_reply(page)
    expect(page.locator("chat-message.msg-assistant")).to_have_count(1)
    expect(reply.locator(".msg-round-text")).to_have_text("Let me echo that.")
    expect(reply.locator("chat-tool-call")).to_have_attribute("data-state", "done")
    expect(reply.locator(".tool-result-preview")).to_contain_text("hello from the model")
    expect(reply.locator(".msg-content")).to_have_text("The tool answered: hello from the model.")


def test_a_denied_call_is_marked_and_the_model_is_told(page: Any, tools: RunningApp) -> None:
    server = add_everything(tools)
    tools.upstream.script(
        CHAT_PATH,
        chat_reply([], tool_calls=echo_call("secret plans")),
        chat_reply(["Understood, I will not run it."]),
    )
    chat_with_tools(page, tools, server)
    send_message(page, "Echo my plans")
    call = last_reply(page).locator("chat-tool-call")
    expect(call).to_have_attribute("data-state", "approval")
    call.get_by_role("button", name="Deny").click()
    expect(last_reply(page).locator(".msg-content")).to_have_text("Understood, I will not run it.")
    expect(call).to_have_attribute("data-state", "denied")
    expect(call.locator(".tool-state")).to_have_text("Denied")
    screenshot(page, "chat-tool-denied")
    second = tools.upstream.requests_to(CHAT_PATH)[1].json
    [declined] = tool_messages(second)
    assert "declined" in declined["content"].lower()
    assert "Echo:" not in declined["content"]


def test_stopping_while_a_call_waits_for_approval_leaves_it_not_run(
    page: Any, tools: RunningApp
) -> None:
    server = add_everything(tools)
    tools.upstream.script(CHAT_PATH, chat_reply([], tool_calls=echo_call("never")))
    chat_with_tools(page, tools, server)
    send_message(page, "Echo, then I change my mind")
    call = last_reply(page).locator("chat-tool-call")
    expect(call.locator(".tool-ask")).to_be_focused()
    page.keyboard.press("Escape")  # Stop, from the focused card
    expect(last_reply(page)).to_have_attribute("data-status", "stopped")
    expect(call).to_have_attribute("data-state", "notrun")
    expect(call.locator(".tool-ask")).to_have_count(0)
    assert len(tools.upstream.requests_to(CHAT_PATH)) == 1


def test_always_allow_runs_later_calls_without_asking(page: Any, tools: RunningApp) -> None:
    server = add_everything(tools)
    tools.upstream.script(
        CHAT_PATH,
        chat_reply([], tool_calls=echo_call("first")),
        chat_reply(["Done once."]),
        chat_reply([], tool_calls=echo_call("second", "call_upstream_2")),
        chat_reply(["Done twice."]),
    )
    chat_with_tools(page, tools, server)
    send_message(page, "Echo first")
    call = last_reply(page).locator("chat-tool-call")
    call.get_by_role("button", name="Always allow").click()
    expect(last_reply(page).locator(".msg-content")).to_have_text("Done once.")

    def echo_policy() -> str:
        listed = tools.rpc("getAllMcpServers")["servers"][0]["tools"]
        return str(next(t["approval"] for t in listed if t["name"] == "echo"))

    assert wait_until(lambda: echo_policy() == "always")
    send_message(page, "Echo second")
    expect(last_reply(page).locator(".msg-content")).to_have_text("Done twice.")
    expect(last_reply(page).locator("chat-tool-call")).to_have_attribute("data-state", "done")
    expect(page.locator(".tool-ask")).to_have_count(0)
    # The second message answered the end of the first reply's chain (not its first round).
    third = tools.upstream.requests_to(CHAT_PATH)[2].json
    assert [m["role"] for m in third["messages"]][-1] == "user"
    assert any(m.get("content") == "Done once." for m in third["messages"])

    # The stored conversation has the server on; turning it off there is saved at once.
    conversation_id = page.locator("chat-view").get_attribute("data-conversation-id")
    stored = tools.rpc("getConversation", conversation_id)["conversation"]
    assert stored["toolServers"] == [server["id"]]
    page.get_by_role("button", name="Tools: 1 server on").click()
    page.locator(f'.tool-servers-panel input[data-server-id="{server["id"]}"]').uncheck()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Tools", exact=True)).to_be_visible()
    assert wait_until(
        lambda: tools.rpc("getConversation", conversation_id)["conversation"]["toolServers"] == []
    )


def test_a_reply_that_keeps_calling_tools_stops_at_the_round_limit(
    page: Any, tools: RunningApp
) -> None:
    server = add_everything(tools)
    assert tools.rpc("setMcpToolPolicy", server["id"], "echo", {"approval": "always"})["success"]
    tools.upstream.script(CHAT_PATH, chat_reply([], tool_calls=echo_call("again")))
    chat_with_tools(page, tools, server)
    send_message(page, "Loop forever")
    reply = last_reply(page)
    expect(reply.locator(".msg-limit")).to_be_visible(timeout=30_000)
    expect(reply.locator(".msg-limit")).to_contain_text("Stopped after 10 rounds")
    expect(reply.locator("chat-tool-call")).to_have_count(10)
    expect(reply.locator('chat-tool-call[data-state="notrun"]')).to_have_count(1)
    screenshot(page, "chat-tool-limit")


# --- Chinese ----------------------------------------------------------------------------------

# What stays as it is on these screens: the server's names and command, its tools' names, the
# commands the presets run, the provider's names, and what the model and the tool wrote (the
# arguments' `message`, the result's "Echo:").
KEPT = (
    *("Everything", "everything", "echo", "Echo", "stdio", "node", "npx", "uvx", "uv", "Node.js"),
    *("Groq", "fake-model", "message"),
)


def test_the_screen_and_the_approval_card_speak_chinese(page: Any, chinese: RunningApp) -> None:
    server = add_everything(chinese)
    page.reload()
    view = open_tools(page)
    server_card = card(view, "Everything")
    expect(server_card.locator(".mcp-status")).to_have_text(text(ZH, "mcp.status.connected"))
    check_chinese(page, "tools screen")
    screenshot_pair(page, "zh-mcp-screen")
    view.get_by_role("button", name=text(ZH, "mcp.view.add")).click()
    form = page.locator("dialog.mcp-dialog")
    expect(form).to_be_visible()
    check_chinese(page, "form")
    screenshot_pair(page, "zh-mcp-form")
    page.keyboard.press("Escape")

    chinese.upstream.script(
        CHAT_PATH,
        chat_reply(["我来调用工具。"], tool_calls=echo_call("你好")),
        chat_reply(["工具返回了：你好"]),
    )
    chinese.add_provider(name="groq", displayName="Groq")
    open_chat(page)
    page.get_by_role("button", name=text(ZH, "mcp.picker.button"), exact=True).click()
    page.locator(f'.tool-servers-panel input[data-server-id="{server["id"]}"]').check()
    page.keyboard.press("Escape")
    box = page.get_by_role("textbox").last
    box.fill("请回显你好")
    box.press("Enter")
    call = last_reply(page).locator("chat-tool-call")
    expect(call).to_have_attribute("data-state", "approval")
    expect(call.locator(".tool-ask-text")).to_have_text(
        text(ZH, "mcp.call.askFrom", tool="echo", server="Everything")
    )
    check_chinese(page, "approval card")
    screenshot_pair(page, "zh-chat-tool-approval")
    call.get_by_role("button", name=text(ZH, "mcp.call.allowOnce")).click()
    expect(last_reply(page).locator(".msg-content")).to_have_text("工具返回了：你好")
    expect(call.locator(".tool-result-label")).to_have_text(text(ZH, "mcp.call.resultLabel"))
    screenshot_pair(page, "zh-chat-tool-result")


def check_chinese(page: Any, name: str) -> None:
    """No English word on the page besides names, commands and what the model or tool wrote."""
    left = page_english(page, KEPT)
    assert left == [], f"English left on the {name}: {left}"


def screenshot_pair(page: Any, name: str) -> None:
    """Light and dark screenshots at the current size."""
    for scheme in ("light", "dark"):
        emulate_scheme(page, scheme)
        screenshot(page, f"{name}-{scheme}")
    emulate_scheme(page, "light")


# --- the reference server over streamable HTTP ------------------------------------------------


@contextlib.contextmanager
def everything_over_http(folder: Path) -> Iterator[str]:
    """The reference server in streamable HTTP mode on a free port; its MCP URL while it runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = folder / "everything-http.txt"
    env = {**os.environ, "PORT": str(port), "E2E_MARKER": MARKER}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [node(), str(EVERYTHING), "streamableHttp"], env=env, stdout=out, stderr=out
        )
    try:
        listening = f"listening on port {port}"
        assert wait_until(lambda: listening in log.read_text(errors="replace"), timeout=20), (
            log.read_text(errors="replace")[-2000:]
        )
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
