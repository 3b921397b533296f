"""Opening a folder or a file with the program the operating system picks for it.

`openDataFolder` and `openLogFile` show the user where their data and the log are. The bridge
is handed an `Opener`: `open_with_os` in the app, a recorder in tests (nothing is ever launched
by a test). `MIAODA_OPEN_WITH` names another program to use (its path, with arguments, given
the path last), e.g. for a desktop without `xdg-open`, or `true` for a test run of the app.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from backend.errors import InternalError
from backend.i18n import tr

log = logging.getLogger("miaoda.settings")

Opener = Callable[[Path], None]
OPEN_WITH = "MIAODA_OPEN_WITH"


def open_command(path: Path, environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The command that opens `path` here; None on Windows, where `os.startfile` does."""
    env = os.environ if environ is None else environ
    chosen = env.get(OPEN_WITH, "").strip()
    if chosen:
        return [*shlex.split(chosen), str(path)]
    if sys.platform == "win32":
        return None
    return ["open" if sys.platform == "darwin" else "xdg-open", str(path)]


def open_with_os(path: Path) -> None:
    """Open `path` with the OS's program for it, without waiting for that program."""
    command = open_command(path)
    try:
        if command is None:
            os.startfile(path)  # type: ignore[attr-defined]  # noqa: S606 - Windows only
            return
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        log.warning("could not open %s: %s", path, exc)
        raise InternalError(tr("settings.open.failed", path=str(path))) from None
    # Reaped when it exits (xdg-open hands over at once), so no zombie is left behind.
    threading.Thread(target=child.wait, name="miaoda-opener", daemon=True).start()
