"""The MCP methods of the bridge: envelopes, the window's dialogs, and what HTTP cannot do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.bridge import AppInfo, Bridge, Dialogs
from backend.secrets import EncryptedFileSecretStore
from backend.storage import McpStore, Storage
from backend.tools.service import McpService
from tests.helpers import FakeTools
from tests.unit.mcp_helpers import ENV_CANARY, ScriptedHost, connected, http, stdio, tool


class WindowDialogs(Dialogs):
    """The window's dialogs as a test scripts them."""

    def __init__(self) -> None:
        self.confirm_answer = True
        self.folder: str | None = "/home/me/Notes"
        self.asked: list[str] = []

    def save_path(self, suggested_name: str) -> str | None:
        return None

    def open_path(self) -> str | None:
        return None

    def confirm(self, title: str, message: str) -> bool:
        self.asked.append(message)
        return self.confirm_answer

    def choose_folder(self) -> str | None:
        self.asked.append("folder")
        return self.folder


@pytest.fixture
def secret_store(file_secret_store: EncryptedFileSecretStore) -> EncryptedFileSecretStore:
    """The providers' manager needs one; the file store is enough here."""
    return file_secret_store


@pytest.fixture
def mcp(storage: Storage, data_dir: Path) -> Iterator[McpService]:
    service = McpService(McpStore(storage), EncryptedFileSecretStore(data_dir), ScriptedHost)
    yield service
    service.close()


def make_bridge(manager: Any, monitor: Any, mcp: McpService, dialogs: Dialogs | None) -> Bridge:
    info = AppInfo("/d", "test", lambda: "test", "/d/log", lambda: None, "t0k")
    return Bridge(manager, monitor, FakeTools(), info, dialogs, mcp=mcp)


@pytest.fixture
def dialogs() -> WindowDialogs:
    return WindowDialogs()


@pytest.fixture
def window(manager: Any, monitor: Any, mcp: McpService, dialogs: WindowDialogs) -> Bridge:
    return make_bridge(manager, monitor, mcp, dialogs)


@pytest.fixture
def browser(manager: Any, monitor: Any, mcp: McpService) -> Bridge:
    return make_bridge(manager, monitor, mcp, None)


def test_the_window_asks_before_adding_a_stdio_server(
    window: Bridge, dialogs: WindowDialogs
) -> None:
    added = window.addMcpServer(stdio())
    assert added["success"], added
    assert added["id"] == added["server"]["id"]
    assert len(dialogs.asked) == 1 and "server-filesystem" in dialogs.asked[0]
    listed = window.getAllMcpServers()
    assert [s["name"] for s in listed["servers"]] == ["files"]
    assert ENV_CANARY not in repr(listed)


def test_declining_in_the_window_is_cancelled(window: Bridge, dialogs: WindowDialogs) -> None:
    dialogs.confirm_answer = False
    answer = window.addMcpServer(stdio())
    assert answer["success"] is False
    assert answer["error"]["code"] == "CANCELLED"
    assert window.getAllMcpServers()["servers"] == []


def test_a_browser_cannot_add_a_stdio_server_without_the_flag(browser: Bridge) -> None:
    answer = browser.addMcpServer(stdio())
    assert answer["success"] is False
    assert answer["error"]["code"] == "BAD_REQUEST"
    assert "transport" in answer["error"]["fields"]
    assert browser.addMcpServer(http())["success"]


def test_choose_folder_uses_the_window_dialog(window: Bridge, dialogs: WindowDialogs) -> None:
    assert window.chooseFolder() == {"success": True, "path": "/home/me/Notes"}
    dialogs.folder = None
    assert window.chooseFolder()["error"]["code"] == "CANCELLED"


def test_choose_folder_in_a_browser_is_a_bad_request_naming_path(browser: Bridge) -> None:
    answer = browser.chooseFolder()
    assert answer["error"]["code"] == "BAD_REQUEST"
    assert "path" in answer["error"]["fields"]


def test_policy_answers_the_server_and_the_tool(browser: Bridge, mcp: McpService) -> None:
    sid = browser.addMcpServer(http())["id"]
    host = mcp._host
    assert isinstance(host, ScriptedHost)
    host.report(sid, connected(tool("echo")))
    answer = browser.setMcpToolPolicy(sid, "echo", {"approval": "always"})
    assert answer["success"], answer
    assert answer["tool"]["approval"] == "always"
    assert answer["server"]["tools"][0]["approval"] == "always"
    assert browser.removeMcpServer(sid) == {"success": True, "id": sid}
    assert browser.removeMcpServer(sid)["error"]["code"] == "NOT_FOUND"


def test_a_bad_id_is_invalid_config_naming_it(browser: Bridge) -> None:
    answer = browser.updateMcpServer(42, {"enabled": False})
    assert answer["error"]["code"] == "INVALID_CONFIG"
    assert "id" in answer["error"]["fields"]
    answer = browser.setMcpToolPolicy(None, "echo", {})
    assert "serverId" in answer["error"]["fields"]
