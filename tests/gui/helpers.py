"""Helpers for the real-window tests: each app runs in a process of its own, driven over CDP.

Qt allows one `webview.start()` per process, so every launch is `python -m tests.gui.launch_app`
with `QTWEBENGINE_REMOTE_DEBUGGING` set; Playwright attaches to the window's web engine over the
Chrome DevTools Protocol and talks to the app only through `window.pywebview.api`. The fixtures
are in tests/gui/conftest.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.helpers import artifacts_dir

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 10.0
READY_LINE = "the window is ready"
API_READY = (
    "() => Boolean(window.pywebview && window.pywebview.api"
    " && typeof window.pywebview.api.getAppInfo === 'function')"
)
T = TypeVar("T")


class PlaywrightThread:
    """Runs every Playwright call on one thread of its own.

    Playwright's sync API allows one instance per thread, and the browser tests of the same
    session may hold one on the main thread; a private thread keeps the two apart.
    """

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self.playwright = self.run(lambda: sync_playwright().start())

    def run(self, action: Callable[[], T], timeout: float = 60.0) -> T:
        """Run `action` on the Playwright thread and return what it returns."""
        return self._pool.submit(action).result(timeout=timeout)

    def close(self) -> None:
        self.run(self.playwright.stop)
        self._pool.shutdown()


class WindowApp:
    """One launch of `miaoda`'s real window, with scripted dialogs and a recorded browser."""

    def __init__(self, driver: PlaywrightThread, data_dir: Path, workdir: Path) -> None:
        self.driver = driver
        self.data_dir = data_dir
        self.answers = workdir / "dialog-answers.json"
        self.browser_log = workdir / "system-browser.txt"
        self.output = workdir / "output.txt"
        self.answer_dialogs(save=None, open=None)
        self.cdp_port = _free_port()
        env = {
            **os.environ,
            "MIAODA_DATA_DIR": str(data_dir),
            "MIAODA_TEST_DIALOGS": str(self.answers),
            "MIAODA_TEST_BROWSER": str(self.browser_log),
            "QTWEBENGINE_REMOTE_DEBUGGING": str(self.cdp_port),
        }
        self._log_start = len(self.log_text())  # a data folder may hold earlier launches' logs
        self.started = time.monotonic()
        with self.output.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.gui.launch_app"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group, so teardown can reach Qt's helpers too
            )
        self.browser: Any = None
        self.page: Any = None
        self.ready_seconds = 0.0
        self.origin = ""

    def wait_ready(self) -> None:
        """Wait until the page is loaded and `window.pywebview.api` answers, then attach."""
        deadline = self.started + START_TIMEOUT_S
        # Attaching while the first page is still committing can leave Playwright's
        # connect_over_cdp waiting forever, so wait for the app to say its page is in place.
        while READY_LINE not in self.log_text()[self._log_start :]:
            if self.process.poll() is not None:
                pytest.fail(f"the window exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the window did not get ready in {START_TIMEOUT_S} s:\n{self.tail()}")
            time.sleep(0.02)
        self.ready_seconds = time.monotonic() - self.started
        while not _answers(f"http://127.0.0.1:{self.cdp_port}/json/version"):
            if time.monotonic() > deadline:
                pytest.fail(f"the window's web engine did not answer over CDP:\n{self.tail()}")
            time.sleep(0.02)
        self.driver.run(lambda: self._attach(deadline))
        info = self.call("getAppInfo")
        assert info["dataDir"] == str(self.data_dir), "attached to some other app's window"
        self.origin = info["serverURL"]

    def _attach(self, deadline: float) -> None:
        chromium = self.driver.playwright.chromium
        endpoint = f"http://127.0.0.1:{self.cdp_port}"
        self.browser = chromium.connect_over_cdp(endpoint, no_defaults=True, timeout=15_000)
        pages = [p for c in self.browser.contexts for p in c.pages]
        self.page = next((p for p in pages if p.url.startswith("http://127.0.0.1:")), None)
        if self.page is None:
            raise AssertionError(f"no app page among {[p.url for p in pages]}")
        remaining_ms = max(1000.0, (deadline - time.monotonic()) * 1000)
        self.page.wait_for_function(API_READY, timeout=remaining_ms)

    # --- driving the page ---------------------------------------------------------------

    def call(self, method: str, *args: Any) -> dict[str, Any]:
        """Call `window.pywebview.api.<method>(...args)` in the window; the envelope it gives."""
        script = "([method, args]) => window.pywebview.api[method](...args)"
        result: dict[str, Any] = self.evaluate(script, [method, list(args)])
        return result

    def evaluate(self, script: str, arg: Any = None) -> Any:
        """`page.evaluate` on the app's page."""
        return self.driver.run(lambda: self.page.evaluate(script, arg))

    def reattach(self) -> None:
        """Connect to the web engine again and find the app's page (which must still be there)."""
        old = self.browser
        with contextlib.suppress(Exception):
            if old is not None:
                self.driver.run(old.close, timeout=10)
        self.driver.run(lambda: self._attach(time.monotonic() + 15))

    def on_page(self, action: Callable[[Any], T]) -> T:
        """Run `action(page)` on the Playwright thread."""
        return self.driver.run(lambda: action(self.page))

    def page_urls(self) -> list[str]:
        """The URL of every page target the web engine has."""
        return self.driver.run(lambda: [p.url for c in self.browser.contexts for p in c.pages])

    # --- the seams and the outcome ------------------------------------------------------

    def answer_dialogs(self, *, save: Path | None, open: Path | None) -> None:
        """What the next save and open dialogs answer (None: the user cancels)."""
        answers = {"save": str(save) if save else None, "open": str(open) if open else None}
        self.answers.write_text(json.dumps(answers), encoding="utf-8")

    def dialogs_asked(self) -> list[dict[str, Any]]:
        asked = self.answers.with_name(self.answers.name + ".asked")
        if not asked.exists():
            return []
        return [json.loads(line) for line in asked.read_text(encoding="utf-8").splitlines()]

    def opened_in_browser(self) -> list[str]:
        if not self.browser_log.exists():
            return []
        return self.browser_log.read_text(encoding="utf-8").splitlines()

    def log_text(self) -> str:
        log = self.data_dir / "logs" / "miaoda.log"
        return log.read_text(encoding="utf-8") if log.exists() else ""

    def tail(self, lines: int = 40) -> str:
        text = (
            self.output.read_text(encoding="utf-8", errors="replace")
            if self.output.exists()
            else ""
        )
        return "\n".join(text.splitlines()[-lines:])

    def close_window(self) -> None:
        """Close the window as its close button would (the page asks its host to close)."""
        self.driver.run(lambda: self.page.close())

    def wait_exit(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        """The process's exit code, once it has exited."""
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Make sure the process and its web-engine helpers are gone."""
        if self.browser is not None:
            browser, self.browser = self.browser, None
            # The window may be gone already, and the connection with it.
            with contextlib.suppress(Exception):
                self.driver.run(browser.close, timeout=10)
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # the window closes and the app stops in order
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            # Still unreaped, so the group is certainly ours: the app and Qt's helpers with it.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def webengine_installed() -> bool:
    """True when Qt WebEngine (PySide6-WebEngine) can be imported."""
    try:
        return importlib.util.find_spec("PySide6.QtWebEngineCore") is not None
    except ImportError:
        return False


class Launcher:
    """Starts windows in processes of their own, and stops them all when done."""

    def __init__(self, driver: PlaywrightThread, workdir: Path) -> None:
        self._driver = driver
        self._workdir = workdir
        self._launched: list[WindowApp] = []

    def start(self, data_dir: Path | None = None) -> WindowApp:
        """Launch the window (on `data_dir`, else a fresh folder) and wait until it is ready."""
        workdir = self._workdir / f"launch-{len(self._launched) + 1}"
        workdir.mkdir()
        app = WindowApp(self._driver, data_dir or workdir / "data", workdir)
        self._launched.append(app)
        app.wait_ready()
        _record_launch_time(app.ready_seconds)
        return app

    def stop_all(self) -> None:
        for app in self._launched:
            app.stop()


def _record_launch_time(seconds: float) -> None:
    line = f"launch to ready (page loaded, window.pywebview.api answering): {seconds:.2f} s"
    print(line)
    with (artifacts_dir() / "gui-launch-times.txt").open("a", encoding="utf-8") as report:
        report.write(line + "\n")
