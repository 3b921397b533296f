"""MCP servers the user adds, end to end: the real app, its real ToolHost, real servers.

The servers are the small ones written with the Python SDK in tests/fakes/mcp: a stdio one (run
with this Python) and a streamable HTTP one that wants a bearer token from its environment.
Secrets are canaries: an `env` value and a header value that must never reach the data file,
the log, an answer or an error message.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from backend.bridge import Bridge, Dialogs
from backend.redact import REDACTOR
from tests.fakes.mcp import script
from tests.helpers import files_containing
from tests.integration.served import rpc, serve

ENV_CANARY = "mcp-env-canary-3c7a9e1f5b2d"
HEADER_CANARY = "mcp-header-canary-6f0b2d8e4a1c"
WRONG_TOKEN = "wrong-token-9d4e2a7c1b5f"
STARTED = 30.0  # seconds a test waits for a server process to say it is ready


class ConfirmingDialogs(Dialogs):
    """The window's dialogs: every command line is confirmed, and remembered."""

    def __init__(self) -> None:
        self.confirmed: list[str] = []

    def save_path(self, suggested_name: str) -> str | None:
        return None

    def open_path(self) -> str | None:
        return None

    def confirm(self, title: str, message: str) -> bool:
        self.confirmed.append(message)
        return True


@pytest.fixture
def app(data_dir: Path) -> Iterator[MiaodaApp]:
    instance = serve(data_dir)
    yield instance
    instance.close()


@pytest.fixture
def dialogs() -> ConfirmingDialogs:
    return ConfirmingDialogs()


@pytest.fixture
def window(app: MiaodaApp, dialogs: ConfirmingDialogs) -> Bridge:
    return app.bridge(dialogs=dialogs)


@pytest.fixture
def http_server() -> Iterator[str]:
    """The fake streamable HTTP server, wanting `Bearer <HEADER_CANARY>`: its MCP URL."""
    env = dict(os.environ, FAKE_MCP_TOKEN=HEADER_CANARY)
    proc = subprocess.Popen(
        [sys.executable, script("http_server.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = _first_line(proc, STARTED)
        match = re.fullmatch(r"PORT (\d+)", line.strip())
        assert match, line
        yield f"http://127.0.0.1:{match.group(1)}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line from {proc.args} within {timeout} s") from None


def stdio_server(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "fake",
        "displayName": "Fake",
        "transport": "stdio",
        "command": sys.executable,
        "args": [script("stdio_server.py")],
        "env": {"SECRET_VALUE": ENV_CANARY},
    }
    config.update(overrides)
    return config


def assert_nowhere(data_dir: Path, *texts: str, answers: Any = ()) -> None:
    """None of `texts` in the data folder (database, log; the secret store is encrypted) or in
    `answers`."""
    dumped = json.dumps(answers, ensure_ascii=False)
    for text in texts:
        assert text not in dumped
        assert files_containing(data_dir, text) == []


def test_a_stdio_server_added_in_the_window_connects_lists_its_tools_and_runs_them(
    app: MiaodaApp, window: Bridge, dialogs: ConfirmingDialogs, data_dir: Path
) -> None:
    added = window.addMcpServer(stdio_server())
    assert added["success"], added
    sid = added["id"]
    assert dialogs.confirmed and "SECRET_VALUE" in dialogs.confirmed[0]
    offered = {tool.name: tool for tool in app.mcp.offered([sid])}
    assert {"echo", "env", "fail"} <= set(offered)
    assert offered["echo"].approval == "ask"

    listed = window.getAllMcpServers()
    (server,) = listed["servers"]
    assert server["status"] == "connected" and server["error"] is None
    echo = next(t for t in server["tools"] if t["name"] == "echo")
    assert (echo["enabled"], echo["approval"]) == (True, "ask")
    assert echo["inputSchema"]["properties"]["message"]

    outcome = app.mcp.call(offered["echo"], {"message": "hi"}).result(timeout=30)
    assert (outcome.content, outcome.is_error) == ("echo: hi", False)
    # The server got the env value; what it says back is masked before anyone sees it.
    secret = app.mcp.call(offered["env"], {"name": "SECRET_VALUE"}).result(timeout=30)
    assert REDACTOR.redact(secret.content) == "[redacted]"

    policy = window.setMcpToolPolicy(sid, "echo", {"approval": "always"})
    assert policy["tool"]["approval"] == "always"
    assert_nowhere(data_dir, ENV_CANARY, answers=[added, listed, policy, dialogs.confirmed])


def test_an_http_server_gets_its_header_token_and_a_wrong_one_fails_clearly(
    app: MiaodaApp, http_server: str, data_dir: Path
) -> None:
    good = rpc(
        app,
        "addMcpServer",
        {
            "name": "web",
            "displayName": "Web",
            "transport": "http",
            "url": http_server,
            "headers": {"Authorization": f"Bearer {HEADER_CANARY}"},
        },
    )
    bad = rpc(
        app,
        "addMcpServer",
        {
            "name": "web-wrong",
            "displayName": "Web (wrong token)",
            "transport": "http",
            "url": http_server,
            "headers": {"Authorization": f"Bearer {WRONG_TOKEN}"},
        },
    )
    assert good["success"] and bad["success"], (good, bad)
    (echo,) = [t for t in app.mcp.offered([good["id"], bad["id"]]) if t.name == "echo"]
    assert echo.server_id == good["id"]
    outcome = app.mcp.call(echo, {"message": "over http"}).result(timeout=30)
    assert outcome.content == "echo: over http"

    servers = {s["name"]: s for s in rpc(app, "getAllMcpServers")["servers"]}
    assert servers["web"]["status"] == "connected"
    assert servers["web"]["headers"] == {"Authorization": None}
    assert servers["web"]["secretHeaders"] == [{"name": "Authorization", "hint": "…4a1c"}]
    assert servers["web-wrong"]["status"] == "failed"
    assert servers["web-wrong"]["error"]["code"] == "AUTH_FAILED"
    app.storage.checkpoint()
    assert_nowhere(data_dir, HEADER_CANARY, WRONG_TOKEN, answers=[good, bad, servers])


def test_a_command_that_does_not_exist_says_so(app: MiaodaApp, window: Bridge) -> None:
    added = window.addMcpServer(stdio_server(command="miaoda-no-such-program-4f2", args=[]))
    assert added["success"], added
    assert app.mcp.offered([added["id"]]) == []
    (server,) = window.getAllMcpServers()["servers"]
    assert server["status"] == "failed"
    assert server["error"]["code"] == "COMMAND_NOT_FOUND"
    assert "miaoda-no-such-program-4f2" in server["error"]["message"]


def test_enabled_servers_start_with_the_app_and_removed_ones_take_their_secrets(
    data_dir: Path, dialogs: ConfirmingDialogs
) -> None:
    first = serve(data_dir)
    try:
        sid = first.bridge(dialogs=dialogs).addMcpServer(stdio_server())["id"]
    finally:
        first.close()
    again = serve(data_dir)
    try:
        again.start_background()
        assert "echo" in {tool.name for tool in again.mcp.offered([sid])}
        assert again.secrets.get(f"{sid}:env:SECRET_VALUE") == ENV_CANARY
        assert rpc(again, "removeMcpServer", sid) == {"success": True, "id": sid}
        assert again.secrets.get(f"{sid}:env:SECRET_VALUE") is None
        assert rpc(again, "getAllMcpServers")["servers"] == []
    finally:
        again.close()


# --- `miaoda serve` and stdio servers -------------------------------------------------------

LINE = re.compile(r"^MiaoDa Chat is running at (http://127\.0\.0\.1:\d+)/#token=(\S+)$")


def _served_rpc(url: str, token: str, method: str, *args: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/api/rpc/{method}",
        content=json.dumps(list(args)),
        headers={"Content-Type": "application/json", "X-MiaoDa-Token": token},
        timeout=30,
    )
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("allowed", [False, True], ids=["without-flag", "with-flag"])
def test_serve_takes_stdio_servers_only_with_the_flag_and_prints_their_command_line(
    data_dir: Path, tmp_path: Path, allowed: bool
) -> None:
    flags = ["--allow-stdio-tools"] if allowed else []
    errors = tmp_path / "stderr.txt"
    env = dict(os.environ, MIAODA_DATA_DIR=str(data_dir), MIAODA_SECRET_BACKEND="file")
    env.pop("MIAODA_TOKEN", None)
    with errors.open("w", encoding="utf-8") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--no-browser", *flags],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        match = LINE.match(_first_line(proc, STARTED).strip())
        assert match, errors.read_text()
        url, token = match.groups()
        answer = _served_rpc(url, token, "addMcpServer", stdio_server(enabled=False))
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    printed = errors.read_text(encoding="utf-8")
    if allowed:
        assert answer["success"], answer
        assert f"the MCP server 'Fake' will run: {sys.executable}" in printed
        assert "(env: SECRET_VALUE; values hidden)" in printed
    else:
        assert answer["error"]["code"] == "BAD_REQUEST"
        assert "transport" in answer["error"]["fields"]
        assert "will run" not in printed
    assert ENV_CANARY not in printed
