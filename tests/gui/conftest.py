"""Fixtures for the real-window tests: each app runs in a process of its own, driven over CDP.

Qt allows one `webview.start()` per process, so every launch is `python -m tests.gui.launch_app`
with `QTWEBENGINE_REMOTE_DEBUGGING` set; Playwright attaches to the window's web engine over the
Chrome DevTools Protocol and talks to the app only through `window.pywebview.api`. The
harness (`WindowApp`, `Launcher`) is in tests/gui/helpers.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.gui.helpers import Launcher, PlaywrightThread, WindowApp, webengine_installed
from tests.helpers import require


@pytest.fixture(scope="module")
def playwright_thread() -> Iterator[PlaywrightThread]:
    """Playwright on its own thread, for a module's windows; skips without a display."""
    require(bool(os.environ.get("DISPLAY")), "needs a display (Xvfb): run ./dev test")
    require(webengine_installed(), "needs Qt WebEngine (PySide6-WebEngine): run ./dev test")
    driver = PlaywrightThread()
    yield driver
    driver.close()


@pytest.fixture
def launch(
    playwright_thread: PlaywrightThread, tmp_path: Path
) -> Iterator[Callable[..., WindowApp]]:
    """Start the real window (optionally on a given data folder); all stopped at teardown."""
    launcher = Launcher(playwright_thread, tmp_path)
    yield launcher.start
    launcher.stop_all()


@pytest.fixture(scope="module")
def shared_window(
    playwright_thread: PlaywrightThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WindowApp]:
    """One window for the tests of a module that only look and navigate, to save launches."""
    launcher = Launcher(playwright_thread, tmp_path_factory.mktemp("shared-window"))
    yield launcher.start()
    launcher.stop_all()


@pytest.fixture
def window(shared_window: WindowApp) -> WindowApp:
    """The shared window, on the app's page, with nothing yet handed to the system browser."""
    assert shared_window.evaluate("() => location.origin") == shared_window.origin
    shared_window.browser_log.unlink(missing_ok=True)
    return shared_window
