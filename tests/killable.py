"""A child process killed on purpose: the crash-safety tests' common harness.

`run_until_killed` runs `python -m <module> <args>` from the repository root, kills it with
SIGKILL (TerminateProcess on Windows) `delay` seconds after it starts, or after it prints a line
starting with `wait_for`, and returns every whole line it printed on stdout. A line cut short by
the kill has no newline and never counts. The child must not have failed by itself: anything on
its stderr, or an exit of its own, fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_until_killed(
    module: str,
    args: list[str],
    *,
    errors: Path,
    label: str,
    delay: float,
    wait_for: str | None = None,
    wait_timeout: float = 30.0,
) -> list[str]:
    """Run the child, kill it, and return its whole stdout lines (see the module docstring)."""
    with errors.open("w", encoding="utf-8") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
        )
    lines: list[str] = []
    reached = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if wait_for is not None and line.startswith(wait_for):
                reached.set()

    # Only this thread reads stdout, so no reported line can go astray.
    reader = threading.Thread(target=read)
    reader.start()
    if wait_for is not None:
        assert reached.wait(timeout=wait_timeout), f"{label} never said {wait_for!r}"
    time.sleep(delay)
    child.kill()
    child.wait(timeout=10)
    reader.join(timeout=10)
    assert child.stdout is not None
    child.stdout.close()
    complaint = errors.read_text(encoding="utf-8")
    assert not complaint, f"{label} failed by itself:\n{complaint}"
    assert child.returncode != 0, f"{label} stopped by itself"
    return [line.rstrip("\n") for line in lines if line.endswith("\n")]
