"""A stdio MCP server for the tool-host tests (see tests/fakes/mcp/__init__.py).

Options: `--starts FILE` appends a line to FILE at each start; `--exit CODE` writes two lines to
stderr and exits at once with CODE (before any handshake); `--stderr TEXT` writes TEXT to stderr
at start; `--silent` never answers (a handshake that never ends); `--calls FILE` records the
calls of `slow` in FILE: `started` when one starts, `cancelled` when the client's
`notifications/cancelled` stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ImageContent, TextContent

# A 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

server = MCPServer("fake-stdio", log_level="WARNING")
children: list[subprocess.Popen[bytes]] = []
call_log: list[str] = []


@server.tool()
def echo(message: str) -> str:
    """Returns the message."""
    return f"echo: {message}"


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the reason."""
    raise ToolError(f"failed on purpose: {reason}")


@server.tool()
async def hang() -> str:
    """Never answers."""
    await asyncio.sleep(3600)
    return "never"


@server.tool()
async def slow(seconds: float) -> str:
    """Answers after `seconds`."""
    note("started")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        note("cancelled")
        raise
    return f"slept {seconds}"


def note(what: str) -> None:
    for path in call_log:
        with open(path, "a", encoding="utf-8") as file:
            file.write(what + "\n")


@server.tool()
def pid() -> str:
    """The server's process id."""
    return str(os.getpid())


@server.tool()
def crash() -> str:
    """Kills the server mid-call."""
    sys.stderr.write("about to crash\n")
    sys.stderr.flush()
    os._exit(7)


@server.tool()
def env(name: str) -> str:
    """The value of one environment variable (or "unset")."""
    return os.environ.get(name, "unset")


@server.tool()
def picture() -> list[TextContent | ImageContent]:
    """A caption and a 1x1 PNG."""
    return [
        TextContent(type="text", text="a pixel"),
        ImageContent(type="image", data=base64.b64encode(PIXEL).decode(), mime_type="image/png"),
    ]


@server.tool()
def spawn_child() -> str:
    """Starts a long-sleeping child process and returns its pid."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    children.append(child)
    return str(child.pid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts")
    parser.add_argument("--exit", type=int)
    parser.add_argument("--stderr")
    parser.add_argument("--silent", action="store_true")
    parser.add_argument("--calls")
    args = parser.parse_args()
    if args.calls:
        call_log.append(args.calls)
    if args.starts:
        with open(args.starts, "a", encoding="utf-8") as file:
            file.write(f"{os.getpid()} {time.time()}\n")
    if args.stderr:
        sys.stderr.write(args.stderr + "\n")
        sys.stderr.flush()
    if args.exit is not None:
        sys.stderr.write("fake-stdio: starting\nfake-stdio: configuration is broken\n")
        sys.stderr.flush()
        sys.exit(args.exit)
    if args.silent:
        time.sleep(3600)
    server.run("stdio")


if __name__ == "__main__":
    main()
