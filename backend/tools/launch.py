"""The launcher a stdio MCP server is started through: it ties the server's life to the app's.

    python -I -S launch.py --parent <app pid> [--watch MODE] -- <command> <args…>
    miaoda _mcp-launch --parent <app pid> -- <command> <args…>      (the frozen app)

The MCP SDK starts a stdio server in a session of its own, so it gets no signal when the app's
process group goes, and a process-group kill from a dead app never comes. The launcher is that
session's leader and stays a small parent of the real command:

- It asks to be told when the app goes: on Linux `prctl(PR_SET_PDEATHSIG, SIGTERM)` (sent when
  the *thread* that started it exits: the host's loop thread, which lives as long as the host);
  on macOS and the BSDs a thread waiting on a kqueue `NOTE_EXIT` for the app's pid; elsewhere a
  thread that polls `getppid()`. It then checks that the app is still its parent (it may have
  gone before the request was made).
- It runs the command as its child (same process group, inheriting stdin, stdout and stderr),
  then gives its own copies of stdin and stdout up, so the server's end of the pipes is the
  server's alone. On Linux the child gets a parent-death signal (SIGTERM) of its own, for the
  case of the launcher alone being killed.
- On SIGTERM (the app went, or the SDK stops the server) it sends SIGTERM to the whole group and,
  if anything is still alive after `GRACE` seconds, SIGKILL. This is what reaches the server's
  own children (`npx` starts `node`), which a parent-death signal on the server would not.
- When the command exits, it writes `EXIT_MARK` and the exit status as the last line of stderr
  (the host reads the server's stderr and reports the code), then kills what is left of the group.

Only the standard library, and nothing from `backend`: the host runs this file by path with
Python's `-I -S`, so it starts in a few milliseconds and sees no user environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

EXIT_MARK = "[miaoda-launch]"
"""Starts the launcher's own last line on stderr: `exit <code>`, `signal <n>` or `error <text>`."""

COMMAND = "_mcp-launch"
"""The hidden sub-command of the frozen app that runs `main` (backend/__main__.py)."""

GRACE = 2.0
"""Seconds the group has between SIGTERM and SIGKILL."""

_PR_SET_PDEATHSIG = 1
_POLL_INTERVAL = 0.25
_WATCHES = ("pdeathsig", "kqueue", "poll")


def default_watch() -> str:
    """How this platform learns that the parent has gone."""
    if sys.platform.startswith("linux"):
        return "pdeathsig"
    if hasattr(select, "kqueue"):
        return "kqueue"
    return "poll"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command after `--` as described in the module docstring; its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        parent, watch, command = _parse(args)
    except ValueError as err:
        _say(f"error {err}")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    _watch_parent(parent, watch)
    if os.getppid() != parent:
        return 1  # the app went before it could be watched
    dies_with_us = _die_with_parent if watch == "pdeathsig" else None
    try:
        # The command line the user confirmed. Its own parent-death signal covers this
        # launcher being killed alone (SIGTERM: `npx` passes it on to `node`).
        child = subprocess.Popen(command, preexec_fn=dies_with_us)
    except OSError as err:
        _say(f"error {err.strerror or err}")
        return 127
    _give_up_stdio()
    code = child.wait()
    _say(f"signal {-code}" if code < 0 else f"exit {code}")
    _end_group()
    return code if code >= 0 else 128 - code


def _parse(args: list[str]) -> tuple[int, str, list[str]]:
    if "--" not in args:
        raise ValueError("usage: launch.py --parent PID [--watch MODE] -- COMMAND [ARGS…]")
    split = args.index("--")
    options, command = args[:split], args[split + 1 :]
    if not command:
        raise ValueError("no command after --")
    values = dict(zip(options[::2], options[1::2], strict=False))
    if len(options) % 2 or set(values) - {"--parent", "--watch"} or "--parent" not in values:
        raise ValueError(f"bad options: {' '.join(options)}")
    watch = values.get("--watch", default_watch())
    if watch not in _WATCHES:
        raise ValueError(f"--watch must be one of {', '.join(_WATCHES)}")
    return int(values["--parent"]), watch, command


def _watch_parent(parent: int, watch: str) -> None:
    if watch == "pdeathsig":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        return
    target = _wait_kqueue if watch == "kqueue" else _wait_poll
    threading.Thread(target=target, args=(parent,), name="parent-watch", daemon=True).start()


def _die_with_parent() -> None:
    """In the command's process, before exec: SIGTERM when the launcher goes."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def _wait_kqueue(parent: int) -> None:
    if sys.platform != "linux" and sys.platform != "win32":  # kqueue: macOS and the BSDs
        queue = select.kqueue()
        event = select.kevent(
            parent,
            filter=select.KQ_FILTER_PROC,
            flags=select.KQ_EV_ADD,
            fflags=select.KQ_NOTE_EXIT,
        )
        with contextlib.suppress(ProcessLookupError):  # already gone
            queue.control([event], 1, None)
    os.kill(os.getpid(), signal.SIGTERM)


def _wait_poll(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_INTERVAL)
    os.kill(os.getpid(), signal.SIGTERM)


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: the app went, or the server is being stopped. The group gets SIGTERM now and
    SIGKILL after GRACE; the main flow reports the child's exit as usual if it comes first."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # our own killpg below comes back to us
    if not _leads_group():
        return
    os.killpg(0, signal.SIGTERM)
    timer = threading.Timer(GRACE, os.killpg, args=(0, signal.SIGKILL))
    timer.daemon = True
    timer.start()


def _end_group() -> None:
    """The command has exited: whatever it left behind in the group goes too."""
    if _leads_group():
        sys.stderr.flush()
        os.killpg(0, signal.SIGKILL)  # this process included: nothing of the group is left


def _leads_group() -> bool:
    # Only as the leader of a group of our own (the SDK's new session): a launcher started by
    # hand from a shell must not signal the shell's group.
    return os.getpgrp() == os.getpid()


def _give_up_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)


def _say(text: str) -> None:
    try:
        sys.stderr.write(f"\n{EXIT_MARK} {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # no stderr to write to: the host then sees no status


if __name__ == "__main__":
    sys.exit(main())
