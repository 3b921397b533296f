"""The desktop window: pywebview's Qt backend showing the app's own local server.

`run_window(app)` opens the window and returns once the user closed it and the app stopped.
Where to look:

- `qt.py`: the window itself, the only module that imports pywebview or Qt: `run_window`, the
  native file dialogs, the wiring into Qt's signals, the Qt environment;
- `navigation.py`: which navigations and popups stay in the app, which go to the system browser,
  which are refused;
- `geometry.py`: the remembered size and place, and how they are fitted to the screens;
- `protocols.py`: what the window needs from the app (its server, bridge, settings, shutdown).

The last three import neither Qt nor pywebview, and neither does this file: `run_window` is
imported from `qt.py` on first use, so `from backend.window import run_window` still fails with
the missing module's ImportError when the 'gui' extra is not installed. docs/WINDOW.md tells the
whole story.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.window.qt import run_window

__all__ = ["run_window"]


def __getattr__(name: str) -> object:
    # Only the names in __all__ come from qt.py; importing it loads pywebview and Qt.
    if name == "run_window":
        from backend.window.qt import run_window

        return run_window
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
