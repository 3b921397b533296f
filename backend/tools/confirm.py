"""The stdio confirmation (CONTRACT §12): a stdio server runs only the command line the user saw.

`CommandLine` is what a stdio server runs, as the user is shown it: the command and its
arguments quoted as a POSIX shell would need them, and the names of its `env` (their values
are secrets and never shown). Its `digest` is saved with the server once confirmed; a stdio
server runs only while its command line still has that digest.

`approve` asks for the confirmation: in the desktop window a native dialog (`Confirm`, the
dialogs seam of the window); over HTTP (`miaoda serve`), where no dialog can be shown on the
user's screen, only an app started with `--allow-stdio-tools` goes on, and prints the command
line on its terminal. Declined, the change is CANCELLED; refused over HTTP, BAD_REQUEST naming
`transport`.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass

from backend import APP_NAME
from backend.errors import BadRequest, Cancelled
from backend.i18n import tr

Confirm = Callable[[str, str], bool]
"""Asks the user (title, message) in a native dialog of the desktop window; True to go on."""
Terminal = Callable[[str], None]
"""Prints one line on the terminal the app was started from."""


@dataclass(frozen=True)
class CommandLine:
    """What a stdio server runs, as the user confirms it."""

    command: str
    args: tuple[str, ...]
    env_names: tuple[str, ...]

    @property
    def text(self) -> str:
        """The command and its arguments, quoted as a POSIX shell would need them."""
        return shlex.join((self.command, *self.args))

    @property
    def digest(self) -> str:
        """What is saved once confirmed: of the command, arguments and env names only."""
        payload = json.dumps([self.command, list(self.args), sorted(self.env_names)])
        return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def print_to_stderr(line: str) -> None:
    """The default `Terminal`."""
    print(line, file=sys.stderr, flush=True)


def approve(
    line: CommandLine,
    display_name: str,
    confirm: Confirm | None,
    *,
    allow_over_http: bool,
    terminal: Terminal,
) -> None:
    """Return once the user confirmed `line`; raise CANCELLED or BAD_REQUEST otherwise."""
    if confirm is not None:
        # Anything but True (a window closed meanwhile answers None) is a no.
        if confirm(tr("tools.service.confirm.title"), _message(line, display_name)) is True:
            return
        raise Cancelled(tr("tools.service.confirm.declined"))
    if not allow_over_http:
        problem = tr("tools.service.stdioOverHttpField")
        raise BadRequest(tr("tools.service.stdioOverHttp"), fields={"transport": [problem]})
    env = f" (env: {', '.join(line.env_names)}; values hidden)" if line.env_names else ""
    terminal(f"{APP_NAME}: the MCP server {display_name!r} will run: {line.text}{env}")


def _message(line: CommandLine, display_name: str) -> str:
    if line.env_names:
        return tr(
            "tools.service.confirm.messageWithEnv",
            name=display_name,
            command=line.text,
            env=", ".join(line.env_names),
        )
    return tr("tools.service.confirm.message", name=display_name, command=line.text)
