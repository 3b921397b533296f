"""ToolHost against real MCP servers: the reference server `@modelcontextprotocol/server-everything`
(pinned in package.json, run from node_modules with node) over stdio, streamable HTTP and legacy
SSE, and the small Python SDK servers of tests/fakes/mcp/ for what a well-behaved server never
does (hang, crash, exit, refuse a token). Every server is a real subprocess; no test sleeps to
synchronise: each waits on a state, a future or a file, with a bound.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend import i18n
from backend.redact import MASK
from backend.tools.host import ToolHost
from backend.tools.model import ServerSpec, ServerState
from tests.fakes.mcp import alive, script
from tests.helpers import require

ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = ROOT / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist"
NODE = "node"
TOKEN = "mcp-token-canary-3f9a1c7e5b2d"
ENV_SECRET = "mcp-env-canary-6d4b2a9f0e1c"
READY = 30.0  # seconds a server may take to start on a busy machine


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` (a process table, a file) until it holds; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


class Changes:
    """Records the host's on_change calls."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, ServerState]] = []

    def __call__(self, server_id: str, state: ServerState) -> None:
        self.seen.append((server_id, state))

    def statuses(self, server_id: str) -> list[str]:
        return [state.status for sid, state in self.seen if sid == server_id]


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def host(changes: Changes) -> Iterator[ToolHost]:
    """A real ToolHost; closed (every server stopped) after the test."""
    tool_host = ToolHost(changes)
    yield tool_host
    tool_host.close()


def fake(server_id: str, *args: str, **fields: Any) -> ServerSpec:
    """A spec for tests/fakes/mcp/stdio_server.py run with this Python."""
    return ServerSpec(
        id=server_id,
        name=f"Fake {server_id}",
        transport="stdio",
        command=sys.executable,
        args=(script("stdio_server.py"), *args),
        **fields,
    )


def ready(host: ToolHost, spec: ServerSpec) -> ServerState:
    host.configure(spec)
    state = host.wait_ready(spec.id, READY)
    assert state.status == "connected", state
    return state


def tool_names(state: ServerState) -> set[str]:
    return {tool.name for tool in state.tools}


def launcher_pid(server_pid: int) -> int:
    """The parent of a stdio server: the launcher it was started through (Linux /proc)."""
    stat = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[1])


# --- the reference server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def everything() -> Path:
    """The reference server's entry point, installed by `npm ci` (./dev does it)."""
    entry = EVERYTHING / "index.js"
    require(entry.is_file(), "needs @modelcontextprotocol/server-everything: run ./dev test")
    require(bool(subprocess.run([NODE, "--version"], capture_output=True).stdout), "needs node")
    return entry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def everything_http(
    everything: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The reference server over streamable HTTP and over legacy SSE: URL by transport."""
    servers = []
    urls = {}
    folder = tmp_path_factory.mktemp("everything")
    for transport, path in (("streamableHttp", "/mcp"), ("sse", "/sse")):
        port = free_port()
        said = folder / f"{transport}.txt"
        with said.open("w") as output:
            servers.append(
                subprocess.Popen(
                    [NODE, str(everything), transport],
                    env={**os.environ, "PORT": str(port)},
                    stdout=subprocess.DEVNULL,
                    stderr=output,
                )
            )
        # It says "... listening on port N" / "... running on port N" on stderr once it listens.
        listening = f"port {port}"
        wait_until(
            lambda said=said, listening=listening: listening in said.read_text(),
            READY,
            f"{transport} to listen",
        )
        urls[transport] = f"http://127.0.0.1:{port}{path}"
    yield urls
    for process in servers:
        process.terminate()
        process.wait(10)


def everything_spec(entry: Path, server_id: str = "everything") -> ServerSpec:
    return ServerSpec(
        id=server_id,
        name="Everything",
        transport="stdio",
        command=NODE,
        args=(str(entry), "stdio"),
    )


def http_spec(url: str, server_id: str = "web", **fields: Any) -> ServerSpec:
    return ServerSpec(id=server_id, name="Web", transport="http", url=url, **fields)


def test_reference_server_over_stdio_lists_its_tools_and_runs_echo_and_sum(
    host: ToolHost, everything: Path
) -> None:
    state = ready(host, everything_spec(everything))
    assert {"echo", "get-sum", "trigger-long-running-operation"} <= tool_names(state)
    echo = next(tool for tool in state.tools if tool.name == "echo")
    assert echo.input_schema["properties"]["message"]["type"] == "string"
    assert len(echo.fingerprint) == 64

    said = host.call("everything", "echo", {"message": "héllo"}).result(READY)
    total = host.call("everything", "get-sum", {"a": 2, "b": 40}).result(READY)

    assert (said.content, said.is_error) == ("Echo: héllo", False)
    assert "42" in total.content and not total.is_error


def test_reference_server_over_streamable_http(
    host: ToolHost, everything_http: dict[str, str]
) -> None:
    url = everything_http["streamableHttp"]
    state = ready(host, http_spec(url))

    said = host.call("web", "echo", {"message": "over http"}).result(READY)

    assert {"echo", "get-sum"} <= tool_names(state)
    assert (said.content, said.is_error) == ("Echo: over http", False)


def test_reference_server_over_legacy_sse(host: ToolHost, everything_http: dict[str, str]) -> None:
    url = everything_http["sse"]
    ready(host, http_spec(url, "legacy"))

    total = host.call("legacy", "get-sum", {"a": 1, "b": 2}).result(READY)

    assert "3" in total.content and not total.is_error


def test_a_tool_that_fails_gives_an_error_outcome_and_the_server_stays_up(
    host: ToolHost, everything: Path
) -> None:
    ready(host, everything_spec(everything))

    outcome = host.call("everything", "get-sum", {"a": "two", "b": 2}).result(READY)

    assert outcome.is_error
    assert "get-sum" in outcome.content
    assert host.state("everything").status == "connected"


def test_a_long_running_call_cancelled_resolves_at_once_and_the_server_stays_up(
    host: ToolHost, everything: Path
) -> None:
    ready(host, everything_spec(everything))
    running = host.call(
        "everything", "trigger-long-running-operation", {"duration": 60, "steps": 60}
    )

    assert running.cancel()
    done, _ = concurrent.futures.wait([running], timeout=1)

    assert running in done and running.cancelled()
    after = host.call("everything", "echo", {"message": "still here"}).result(READY)
    assert after.content == "Echo: still here"


def test_a_cancelled_call_is_cancelled_on_the_server(host: ToolHost, tmp_path: Path) -> None:
    calls = tmp_path / "slow.txt"
    ready(host, fake("s", "--calls", str(calls)))
    running = host.call("s", "slow", {"seconds": 120})
    wait_until(lambda: calls.exists() and "started" in calls.read_text(), 10, "the call to start")

    running.cancel()

    wait_until(lambda: "cancelled" in calls.read_text(), 10, "the server to see the cancel")
    assert calls.read_text().split() == ["started", "cancelled"]
    assert host.call("s", "echo", {"message": "x"}).result(READY).content == "echo: x"


# --- a server that misbehaves ------------------------------------------------------------------


def test_a_hanging_tool_times_out_and_the_server_stays_connected(host: ToolHost) -> None:
    ready(host, fake("h", call_timeout=1.0))

    outcome = host.call("h", "hang", {}).result(READY)

    assert outcome.is_error
    assert outcome.content == "The tool did not answer within 1 s; the call was cancelled."
    assert host.state("h").status == "connected"
    assert host.call("h", "echo", {"message": "x"}).result(READY).content == "echo: x"


def test_a_call_timeout_can_be_given_per_call(host: ToolHost) -> None:
    ready(host, fake("h"))

    outcome = host.call("h", "slow", {"seconds": 30}, timeout=0.5).result(READY)

    assert outcome.is_error and "0.5 s" in outcome.content


def test_a_crash_mid_call_restarts_the_server_once(
    host: ToolHost, changes: Changes, tmp_path: Path
) -> None:
    starts = tmp_path / "starts.txt"
    ready(host, fake("c", "--starts", str(starts)))

    outcome = host.call("c", "crash", {}).result(READY)

    assert outcome.is_error
    assert outcome.content.startswith(
        "The server stopped during the call and was restarted; the call did not finish."
    )
    assert "exit code 7" in outcome.content and "about to crash" in outcome.content
    assert host.wait_ready("c", READY).status == "connected"
    assert len(starts.read_text().splitlines()) == 2
    restarted = ["connected", "starting", "connected"]  # on_change runs on a thread of its own
    wait_until(lambda: changes.statuses("c")[-3:] == restarted, 10, "on_change to tell")
    assert host.call("c", "echo", {"message": "back"}).result(READY).content == "echo: back"


def test_a_second_crash_leaves_the_server_failed_until_started_again(
    host: ToolHost, tmp_path: Path
) -> None:
    starts = tmp_path / "starts.txt"
    ready(host, fake("c", "--starts", str(starts)))
    host.call("c", "crash", {}).result(READY)
    host.wait_ready("c", READY)

    second = host.call("c", "crash", {}).result(READY)
    state = host.wait_ready("c", READY)

    assert "it had already been restarted once" in second.content
    assert state.status == "failed" and state.error is not None
    assert state.error.code == "CRASHED"
    assert "exit code 7" in state.error.message
    assert {"echo", "crash"} <= tool_names(state)  # the last listing is kept
    refused = host.call("c", "echo", {"message": "x"}).result(READY)
    assert refused.is_error and refused.content.startswith("The server “Fake c” is not connected")
    assert len(starts.read_text().splitlines()) == 2

    host.start("c")

    assert host.wait_ready("c", READY).status == "connected"
    assert len(starts.read_text().splitlines()) == 3


def test_a_server_that_dies_while_idle_is_restarted(host: ToolHost, tmp_path: Path) -> None:
    starts = tmp_path / "starts.txt"
    ready(host, fake("i", "--starts", str(starts)))
    first = int(host.call("i", "pid", {}).result(READY).content)

    os.kill(first, signal.SIGKILL)

    wait_until(lambda: len(starts.read_text().splitlines()) == 2, READY, "the restart")
    assert host.wait_ready("i", READY).status == "connected"
    assert int(host.call("i", "pid", {}).result(READY).content) != first


def test_a_server_goes_when_its_launcher_is_killed_alone(host: ToolHost) -> None:
    require(sys.platform.startswith("linux"), "the parent-death signal is Linux's")
    ready(host, fake("l"))
    server = int(host.call("l", "pid", {}).result(READY).content)

    os.kill(launcher_pid(server), signal.SIGKILL)

    wait_until(lambda: not alive(server), 10, "the server to follow its launcher")


def test_a_missing_command_fails_naming_the_folders_searched(host: ToolHost) -> None:
    spec = ServerSpec(
        id="m",
        name="Missing",
        transport="stdio",
        command="no-such-mcp-server",
        env={"PATH": os.pathsep.join(["/opt/nowhere/bin", "/srv/none"])},
    )
    host.configure(spec)

    state = host.wait_ready("m", READY)

    assert state.status == "failed" and state.error is not None
    assert state.error.code == "COMMAND_NOT_FOUND"
    assert "no-such-mcp-server" in state.error.message
    assert "/opt/nowhere/bin, /srv/none" in state.error.message


def test_a_missing_command_is_explained_in_chinese_when_the_app_is(host: ToolHost) -> None:
    i18n.set_language("zh-CN")
    host.configure(ServerSpec(id="m", name="M", transport="stdio", command="no-such-mcp-server"))

    state = host.wait_ready("m", READY)

    assert state.error is not None and state.error.message.startswith("找不到命令")


def test_a_server_that_exits_reports_its_code_and_last_error_lines(host: ToolHost) -> None:
    host.configure(fake("x", "--exit", "3"))

    state = host.wait_ready("x", READY)

    assert state.status == "failed" and state.error is not None
    assert state.error.code == "EXITED"
    assert state.error.message == (
        "The server exited with code 3 before it was ready.\n"
        "The last lines of its error output:\n"
        "fake-stdio: starting\nfake-stdio: configuration is broken"
    )


def test_a_server_that_never_answers_fails_with_a_handshake_timeout(changes: Changes) -> None:
    quick = ToolHost(changes, handshake_timeout=1.0)
    try:
        quick.configure(fake("slow", "--silent"))
        state = quick.wait_ready("slow", READY)
    finally:
        quick.close()

    assert state.error is not None and state.error.code == "HANDSHAKE_TIMEOUT"
    assert state.error.message == "The server did not finish the MCP handshake within 1 s."


def test_env_reaches_the_server_and_is_masked_in_what_it_says(host: ToolHost) -> None:
    ready(host, fake("e", env={"FAKE_SECRET": ENV_SECRET}))
    told = host.call("e", "env", {"name": "FAKE_SECRET"}).result(READY)
    host.configure(fake("leak", "--stderr", f"token is {ENV_SECRET}", "--exit", "1"))
    failed = host.wait_ready("leak", READY)

    assert told.content == ENV_SECRET  # results are the loop's to mask (ToolOutcome)
    assert failed.error is not None
    assert ENV_SECRET not in failed.error.message
    assert f"token is {MASK}" in failed.error.message


def test_changed_list_of_tools_is_picked_up_across_pages(host: ToolHost, changes: Changes) -> None:
    spec = ServerSpec(
        id="p",
        name="Paged",
        transport="stdio",
        command=sys.executable,
        args=(script("paged_server.py"),),
    )
    first = ready(host, spec)
    before = {tool.name: tool.fingerprint for tool in first.tools}

    host.call("p", "add_tool", {}).result(READY)
    wait_until(lambda: "extra_4" in tool_names(host.state("p")), 10, "the new tool")
    host.call("p", "describe", {"text": "Echoes, differently."}).result(READY)
    wait_until(
        lambda: host.state("p").tools[0].fingerprint != before["echo"], 10, "the new description"
    )

    assert set(before) == {"echo", "add_tool", "describe"}  # two pages
    assert tool_names(host.state("p")) == {"echo", "add_tool", "describe", "extra_4"}
    assert host.refresh_tools("p").tools == host.state("p").tools
    wait_until(lambda: "extra_4" in tool_names(changes.seen[-1][1]), 5, "on_change")


def test_a_changed_spec_restarts_a_running_server(host: ToolHost) -> None:
    ready(host, fake("r", env={"FAKE_MODE": "one"}))
    first_pid = host.call("r", "pid", {}).result(READY).content

    host.configure(fake("r", env={"FAKE_MODE": "two"}))

    assert host.wait_ready("r", READY).status == "connected"
    assert host.call("r", "env", {"name": "FAKE_MODE"}).result(READY).content == "two"
    assert not alive(int(first_pid))


def test_stop_and_remove_end_the_server_process(host: ToolHost) -> None:
    ready(host, fake("s"))
    pid = int(host.call("s", "pid", {}).result(READY).content)

    host.stop("s")

    assert host.state("s").status == "disabled"
    wait_until(lambda: not alive(pid), 10, "the stopped server to exit")
    ready(host, fake("s"))
    pid = int(host.call("s", "pid", {}).result(READY).content)
    host.remove("s")
    wait_until(lambda: not alive(pid), 10, "the removed server to exit")
    with pytest.raises(KeyError):
        host.state("s")


def test_a_call_starts_a_server_that_is_not_running(host: ToolHost) -> None:
    host.configure(fake("lazy"))
    assert host.state("lazy").status == "disabled"

    outcome = host.call("lazy", "echo", {"message": "wake"}).result(READY)

    assert outcome.content == "echo: wake"


def test_close_stops_every_server_and_its_children(changes: Changes) -> None:
    closing = ToolHost(changes)
    ready(closing, fake("a"))
    ready(closing, fake("b"))
    pids = [int(closing.call(sid, "pid", {}).result(READY).content) for sid in ("a", "b")]
    child = int(closing.call("a", "spawn_child", {}).result(READY).content)

    closing.close()

    wait_until(lambda: not any(alive(pid) for pid in (*pids, child)), 10, "every process to end")


# --- HTTP with a header token ------------------------------------------------------------------


@pytest.fixture
def token_server() -> Iterator[str]:
    """tests/fakes/mcp/http_server.py wanting TOKEN: its URL."""
    process = subprocess.Popen(
        [sys.executable, script("http_server.py")],
        env={**os.environ, "FAKE_MCP_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().split()
    try:
        assert first[:1] == ["PORT"], first
        yield f"http://127.0.0.1:{first[1]}/mcp"
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def test_a_wrong_token_is_auth_failed_and_shows_no_token(
    host: ToolHost, token_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "mcp-wrong-canary-0a9b8c7d6e5f"
    host.configure(http_spec(token_server, headers={"Authorization": f"Bearer {wrong}"}))

    state = host.wait_ready("web", READY)

    assert state.status == "failed" and state.error is not None
    assert state.error.code == "AUTH_FAILED"
    assert "HTTP 401" in state.error.message
    assert wrong not in json.dumps(state.error.to_wire())
    assert wrong not in caplog.text and TOKEN not in caplog.text


def test_the_right_token_connects_and_stays_out_of_logs(
    host: ToolHost, token_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    state = ready(host, http_spec(token_server, headers={"Authorization": f"Bearer {TOKEN}"}))

    said = host.call("web", "echo", {"message": "in"}).result(READY)

    assert tool_names(state) == {"echo"}
    assert said.content == "echo: in"
    assert TOKEN not in caplog.text


def test_a_refused_connection_is_connection_failed(host: ToolHost) -> None:
    host.configure(http_spec(f"http://127.0.0.1:{free_port()}/mcp?key={ENV_SECRET}"))

    state = host.wait_ready("web", READY)

    assert state.error is not None and state.error.code == "CONNECTION_FAILED"
    assert state.error.message.startswith("Could not connect to http://127.0.0.1:")
    assert ENV_SECRET not in state.error.message


# --- the app killed with SIGKILL ---------------------------------------------------------------

HOSTING = textwrap.dedent(
    """
    import sys
    from backend.tools.host import ToolHost
    from backend.tools.model import ServerSpec

    host = ToolHost(launcher=sys.argv[2:] or None)
    host.configure(ServerSpec(id="k", name="K", transport="stdio", command=sys.executable,
                              args=(sys.argv[1],)))
    assert host.wait_ready("k", 60).status == "connected"
    server = host.call("k", "pid", {}).result(60).content
    child = host.call("k", "spawn_child", {}).result(60).content
    print(server, child, flush=True)
    sys.stdin.read()  # until killed
    """
)


@pytest.mark.parametrize("watch", ["pdeathsig", "poll"])
def test_servers_and_their_children_die_when_the_app_is_killed(watch: str) -> None:
    require(sys.platform.startswith("linux"), "the parent-death signal is Linux's")
    launcher = None
    if watch == "poll":  # the watcher the other POSIX systems fall back on
        from backend.tools.connect import launcher_command

        launcher = [*launcher_command(), "--watch", "poll"]
    app = subprocess.Popen(
        [sys.executable, "-c", HOSTING, script("stdio_server.py"), *(launcher or [])],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdout is not None and app.stdin is not None
    try:
        server, child = (int(pid) for pid in app.stdout.readline().split())
        middle = launcher_pid(server)
        assert all(alive(pid) for pid in (middle, server, child))

        os.kill(app.pid, signal.SIGKILL)
        app.wait(10)

        wait_until(
            lambda: not any(alive(pid) for pid in (middle, server, child)),
            10,
            "the launcher, the server and its child to die with the app",
        )
    finally:
        app.kill()
        app.wait(10)
        app.stdin.close()
        app.stdout.close()
