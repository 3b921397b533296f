"""Small MCP servers written with the Python SDK, run as scripts by the tool-host tests.

- `stdio_server.py`: a stdio server whose tools echo, fail, hang, crash the server, return an
  image or structured content, and start a child process; it can count its starts in a file and
  exit at once with a code and some error output.
- `paged_server.py`: a stdio server (the SDK's low-level one) that lists its tools in pages and
  adds a tool when asked, announcing it with `notifications/tools/list_changed`.
- `http_server.py`: a streamable HTTP server that wants `Authorization: Bearer <token>` (the token
  comes from its environment), on a port the OS picks, printed as its first line.

`script(name)` is the path to run with `sys.executable`; `leftover_servers()` finds the server
processes of this test run still alive (the suite's orphan check, tests/conftest.py).
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

HERE = Path(__file__).resolve().parent


def script(name: str) -> str:
    """The path of one of these servers, to run with `sys.executable`."""
    path = HERE / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return str(path)


# --- processes ---------------------------------------------------------------------------------

MARKERS = ("server-everything", "tests/fakes/mcp")
"""What the command line of an MCP server the suite starts contains."""

PROC = Path("/proc")


def alive(pid: int) -> bool:
    """True while `pid` is a process that has not exited (a zombie counts as gone)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return fields[0] not in ("Z", "X")


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _home(pid: int) -> str | None:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"HOME="):
            return entry[5:].decode("utf-8", "replace")
    return None


def _descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(64):
        stat = _stat(pid)
        if stat is None or stat[0] <= 1:
            return False
        if stat[0] == ancestor:
            return True
        pid = stat[0]
    return False


def leftover_servers() -> list[tuple[int, str]]:
    """MCP server processes this test run started that are still alive: (pid, command line).

    Ours are the descendants of this process, and, when the run has a throw-away HOME (as under
    ./dev test), the processes started since this one with that HOME: a server whose parent died
    is no descendant any more. Other runs on the machine are left alone.
    """
    if not PROC.is_dir():
        return []
    me = os.getpid()
    home = os.environ.get("HOME", "")
    own_start = (_stat(me) or (0, 0))[1]
    throwaway = home != pwd.getpwuid(os.getuid()).pw_dir
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        command = _cmdline(pid)
        if not any(marker in command for marker in MARKERS) or not alive(pid):
            continue
        stat = _stat(pid)
        ours = _descends_from(pid, me) or (
            throwaway and stat is not None and stat[1] >= own_start and _home(pid) == home
        )
        if ours:
            found.append((pid, command.strip()))
    return found
