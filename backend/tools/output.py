"""A stdio server's error output: its last lines, and how it ended as the launcher reports it.

The SDK hands a server's stderr to a file we give it (`errlog`). That file is the write end of a
pipe; a daemon thread reads the other end into a bounded ring of lines until every process that
holds the write end has closed it. The launcher's own last line (`launch.EXIT_MARK`) is taken
out of the ring and kept as the server's exit status.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections import deque
from typing import TextIO

from backend.tools.launch import EXIT_MARK

MAX_LINES = 40
"""Lines kept (the oldest go first)."""

MAX_LINE = 400
"""Characters kept of one line."""

_STATUS = re.compile(r"(exit|signal) (-?\d+)$")


class ErrorOutput:
    """The server's stderr, read on a thread of its own (see the module docstring)."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self._lines: deque[str] = deque(maxlen=MAX_LINES)
        self._lock = threading.Lock()
        self._status: tuple[str, int] | None = None
        self._reported = threading.Event()
        self.file: TextIO = os.fdopen(write_fd, "w", encoding="utf-8", errors="replace")
        self._thread = threading.Thread(
            target=self._read, args=(read_fd,), name="mcp-stderr", daemon=True
        )
        self._thread.start()

    def release_writer(self) -> None:
        """Close our copy of the write end (once the server has its own), so the reader sees
        the end of the output when the server's processes are gone."""
        with contextlib.suppress(OSError):
            self.file.close()

    def tail(self, count: int = 12) -> list[str]:
        """The last `count` lines written (empty ones left out)."""
        with self._lock:
            lines = [line for line in self._lines if line.strip()]
        return lines[-count:]

    def wait_status(self, timeout: float) -> tuple[str, int] | None:
        """How the server ended (`("exit", code)` or `("signal", number)`), waiting up to
        `timeout` seconds for the launcher's report; None when none came."""
        self._reported.wait(timeout)
        return self._status

    def _read(self, fd: int) -> None:
        pending = b""
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._take(line.decode("utf-8", "replace"))
                pending = pending[-MAX_LINE * 4 :]  # an endless line is cut, not hoarded
        if pending:
            self._take(pending.decode("utf-8", "replace"))
        self._reported.set()  # the output ended: no report is coming any more

    def _take(self, line: str) -> None:
        line = line.rstrip("\r")
        if line.startswith(EXIT_MARK):
            match = _STATUS.search(line)
            if match:
                self._status = (match.group(1), int(match.group(2)))
                self._reported.set()
                return
            line = line[len(EXIT_MARK) :].strip()  # why the command could not be run
        with self._lock:
            self._lines.append(line[:MAX_LINE])
