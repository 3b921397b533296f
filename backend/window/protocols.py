"""What the window needs from the app it shows, as structural types.

The window sits below the composition root (`backend.app`) and beside storage, so it may import
neither. These protocols name exactly the calls `run_window` makes; `MiaodaApp` (and its
`Storage`) satisfy them without knowing they exist, and mypy checks that where `run_window` is
called. Like `navigation` and `geometry`, this module imports neither Qt nor pywebview.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from backend.bridge import Dialogs


class SettingsStore(Protocol):
    """Where the window reads and saves its size and place (the `window` setting)."""

    def get_setting(self, key: str) -> object:
        """The JSON value saved under `key`, or None."""
        ...

    def set_setting(self, key: str, value: object) -> None:
        """Save a JSON-serialisable value under `key`."""
        ...


class RunningServer(Protocol):
    """The app's local server, once it serves."""

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, without a trailing slash."""
        ...


class AppLike(Protocol):
    """The app the window shows: its server, its bridge, its settings, and its shutdown."""

    @property
    def storage(self) -> SettingsStore:
        """Where the window's size and place are kept."""
        ...

    def start_server(self, port: int) -> RunningServer:
        """Serve the frontend on 127.0.0.1 (`port` 0: the OS picks one)."""
        ...

    def start_background(self) -> None:
        """Start the background work that runs while the window is open."""
        ...

    def bridge(self, *, dialogs: Dialogs | None) -> object:
        """The object pywebview exposes to the page as window.pywebview.api."""
        ...

    def on_language_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(language)` whenever the language in effect changes."""
        ...

    def close(self) -> None:
        """Stop everything the app started."""
        ...
