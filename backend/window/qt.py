"""The desktop window itself: pywebview's Qt backend showing the app's own local server.

`run_window` starts the server, opens one window on `http://127.0.0.1:<port>/` with the bridge as
window.pywebview.api, and shuts the app down when the window closes. This is the only module
that imports pywebview or Qt. It wires the Qt-free rules into Qt's signals: where navigations
and popups may go (`navigation`), and the remembered size and place (`geometry`).
docs/WINDOW.md tells the whole story.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import types
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, cast

import webview
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWebEngineCore import (
    QWebEngineNavigationRequest,
    QWebEngineNewWindowRequest,
    QWebEnginePage,
    QWebEngineScript,
    QWebEngineSettings,
)
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QMainWindow

from backend import APP_NAME
from backend.bridge import Dialogs
from backend.i18n import tr
from backend.paths import frontend_dir
from backend.window.geometry import MIN_SIZE, SAVE_DELAY_MS, SETTING_KEY, WindowGeometry
from backend.window.navigation import NavigationPolicy, Verdict, describe_url
from backend.window.protocols import AppLike, SettingsStore

log = logging.getLogger("miaoda.window")

# The name of the menu entry (miaoda-chat.desktop): Wayland matches windows to it by this id.
DESKTOP_FILE = "miaoda-chat"
# The dialogs' file filters by the suffix of the file offered: (its kind's name, the pattern).
FILE_FILTERS = {
    ".md": ("window.dialog.markdownFiles", "*.md"),
    ".csv": ("window.dialog.csvFiles", "*.csv"),
    ".json": ("window.dialog.jsonFiles", "*.json"),
}
# The ways to let an outside program drive the window's web engine; a release build refuses them.
DEBUG_ENV = "QTWEBENGINE_REMOTE_DEBUGGING"
DEBUG_FLAGS = ("--remote-debugging-port", "--remote-debugging-pipe", "--remote-allow-origins")
# How long a popup's sink lives after it has decided (Qt may still be finishing the popup).
SINK_LIFETIME_MS = 5_000
# pywebview 6 needs eval() in the page twice: it builds each `window.pywebview.api.<method>` with
# `new Function(...)`, and it hands every result back through `Window.evaluate_js`, which wraps
# the callback in `eval("...")`. The app's Content-Security-Policy has no 'unsafe-eval', so both
# fail and the api stays empty. Rather than weaken the policy for every page, the window swaps
# in eval-free equivalents of those two steps (see `_ScriptRunner`). This script runs at the
# creation of every document, before any page script, and gives each pywebview object that gets
# installed a `_createApi` with the same behaviour: one stub per method that registers a result
# callback and posts the call over Qt's WebChannel.
PYWEBVIEW_EVALUATE = "evaluate_js"
EVAL_FREE_API_JS = """
(() => {
  "use strict";
  let nextId = 0;
  function createApi(methods) {
    const pywebview = window.pywebview;
    for (const { func: name } of methods) {
      const path = name.split(".");
      const leaf = path.pop();
      let owner = pywebview.api;
      for (const key of path) owner = owner[key] || (owner[key] = {});
      owner[leaf] = function (...args) {
        const id = String(++nextId);
        const result = new Promise((resolve, reject) => {
          pywebview._checkValue(name, resolve, reject, id);
        });
        pywebview._jsApiCallback(name, args, id);
        return result;
      };
      pywebview._returnValuesCallbacks[name] ||= {};  // again after a load: keep waiting calls
    }
  }
  let installed = window.pywebview;
  Object.defineProperty(window, "pywebview", {
    configurable: true,
    enumerable: true,
    get: () => installed,
    set: (value) => {
      // pywebview installs itself again after every load event, even a refused navigation that
      // leaves this document in place. Keep the object the page already uses: a new one would
      // have an empty api until pywebview's second step, and lose the calls awaiting results.
      if (installed && installed._createApi === createApi) return;
      const usable = value && typeof value._checkValue === "function"
        && typeof value._jsApiCallback === "function";
      if (usable) value._createApi = createApi;
      installed = value;
    },
  });
})();
"""

Opener = Callable[[str], object]


def run_window(
    app: AppLike,
    *,
    dialogs: Dialogs | None = None,
    open_external: Opener | None = None,
) -> int:
    """Show the app in its desktop window until the user closes it; 0 when it closed cleanly.

    `dialogs` replaces the native file dialogs and `open_external` the system browser: tests
    pass scripted ones. Everything the app started is stopped before this returns.
    """
    problem = _display_problem()
    if problem:
        print(f"{APP_NAME}: {problem}", file=sys.stderr)
        app.close()
        return 1
    _prepare_environment()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        server = app.start_server(0)
        app.start_background()  # the health scheduler; close() stops it first
        native_dialogs = NativeDialogs() if dialogs is None else None
        geometry = WindowGeometry.from_setting(app.storage.get_setting(SETTING_KEY))
        window = webview.create_window(
            tr("window.title"),
            f"{server.url}/",
            js_api=app.bridge(dialogs=dialogs or native_dialogs),
            width=geometry.width,
            height=geometry.height,
            min_size=MIN_SIZE,
            maximized=geometry.maximized,
            # pywebview would otherwise block text selection (with an inline style the CSP
            # refuses anyway); people copy model output and error messages.
            text_select=True,
            localization=dialog_titles(),
        )
        if window is None:
            raise RuntimeError("pywebview refused to create the window")
        if native_dialogs is not None:
            native_dialogs.bind(window)
        # The title follows the language (pywebview hands the change to the GUI thread).
        app.on_language_change(lambda _language: window.set_title(tr("window.title")))
        controller = _WindowController(
            window,
            policy=NavigationPolicy(server.url),
            open_external=open_external or webbrowser.open,
            storage=app.storage,
            geometry=geometry,
        )
        window.events.before_show += controller.on_before_show
        window.events.loaded += controller.on_loaded
        window.events.closing += controller.on_closing
        log.info("opening the window on %s", server.url)
        # Private mode keeps the web engine's cookies and caches in memory: the app's data lives
        # in its own folder, and the origin's port changes with every launch anyway.
        webview.start(gui="qt", private_mode=True, debug=False, icon=_icon())
        log.info("the window was closed")
    finally:
        for signum, handler in handlers.items():
            if handler is not None:
                signal.signal(signum, handler)
        app.close()
    return 0


class NativeDialogs(Dialogs):
    """The file, folder and yes-or-no dialogs, shown by the window (one at a time)."""

    def __init__(self) -> None:
        self._window: webview.Window | None = None
        self._lock = threading.Lock()
        self._directory: Path | None = None

    def bind(self, window: webview.Window) -> None:
        """Show the dialogs over `window` (called once it exists)."""
        self._window = window

    def save_path(self, suggested_name: str) -> str | None:
        return self._ask(webview.FileDialog.SAVE, save_filename=suggested_name)

    def open_path(self) -> str | None:
        # Only the provider import opens files: our export, or another app's file or backup.
        return self._ask(webview.FileDialog.OPEN, file_types=_import_file_types())

    def confirm(self, title: str, message: str) -> bool:
        window = self._window
        if window is None:
            return False
        with self._lock:
            # A window closed meanwhile answers None: no.
            return window.create_confirmation_dialog(title, message) is True

    def choose_folder(self) -> str | None:
        return self._ask(webview.FileDialog.FOLDER)

    def _ask(
        self,
        kind: webview.FileDialog,
        save_filename: str = "",
        file_types: tuple[str, ...] | None = None,
    ) -> str | None:
        window = self._window
        if window is None:
            return None
        with self._lock:
            directory = self._directory or Path.home()
            # The dialog's title in the language of the moment: pywebview's Qt window reads it
            # from this dict (the same object) each time it shows a dialog.
            window.localization.update(dialog_titles())
            answer = window.create_file_dialog(
                kind,
                directory=str(directory),
                save_filename=save_filename,
                file_types=file_types or _file_types(save_filename),
            )
            chosen = _first_path(answer)
            if chosen is not None:
                self._directory = Path(chosen).parent
        return chosen


def dialog_titles() -> dict[str, str]:
    """pywebview's texts for its file dialogs' titles, in the app's language."""
    return {
        "global.saveFile": tr("window.dialog.save"),
        "linux.openFile": tr("window.dialog.open"),
        "linux.openFiles": tr("window.dialog.open"),
        "linux.openFolder": tr("window.dialog.chooseFolder"),
    }


def _file_types(save_filename: str) -> tuple[str, ...]:
    # The filter the dialog opens with follows the file offered: a conversation exported as
    # Markdown must not be saved under a JSON filter (Qt would add ".json"), nor usage as CSV.
    suffix = Path(save_filename).suffix.lower()
    name, pattern = FILE_FILTERS.get(suffix, FILE_FILTERS[".json"])
    return (f"{tr(name)} ({pattern})", f"{tr('window.dialog.allFiles')} (*)")


def _import_file_types() -> tuple[str, ...]:
    return (
        f"{tr('window.dialog.importFiles')} (*.json *.zip)",
        f"{tr('window.dialog.allFiles')} (*)",
    )


def _first_path(answer: str | Sequence[str] | None) -> str | None:
    # Qt answers with a tuple; other pywebview backends may answer a save dialog with a string.
    if isinstance(answer, str):
        return answer or None
    return (answer[0] or None) if answer else None  # Qt answers a cancelled folder with ""


# --- keeping the remembered size and place up to date -----------------------------------


class _GeometryKeeper(QObject):
    """Watches the Qt window and saves its geometry shortly after it stops moving (GUI thread)."""

    _WATCHED = (QEvent.Type.Resize, QEvent.Type.Move, QEvent.Type.WindowStateChange)

    def __init__(
        self,
        native: QMainWindow,
        storage: SettingsStore,
        *,
        saved: WindowGeometry,
        normal: WindowGeometry,
    ) -> None:
        super().__init__(native)
        self._native = native
        self._storage = storage
        self._saved = saved  # what the settings hold
        self._normal = replace(normal, maximized=False)  # the last size and place seen unmaximized
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.save)
        native.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._native and event.type() in self._WATCHED:
            self._timer.start()
        return False

    def save(self) -> None:
        """Save the current geometry unless it is what the settings already hold."""
        self._timer.stop()
        current = self.snapshot()
        if current == self._saved:
            return
        try:
            self._storage.set_setting(SETTING_KEY, current.to_setting())
        except Exception:  # a lost window size must never take the window down
            log.exception("could not save the window's size")
            return
        self._saved = current

    def snapshot(self) -> WindowGeometry:
        """The geometry to restore next time; a maximized window keeps its normal size."""
        native = self._native
        state = native.windowState()
        if state & (Qt.WindowState.WindowMinimized | Qt.WindowState.WindowFullScreen):
            return self._saved
        if state & Qt.WindowState.WindowMaximized:
            return replace(self._normal, maximized=True)
        # x() and y() are the frame's corner, the same point move() takes at the next start.
        self._normal = WindowGeometry(native.width(), native.height(), native.x(), native.y())
        return self._normal


# --- wiring the guard and the keeper into pywebview's Qt window --------------------------


class _PopupSink(QWebEnginePage):
    """Where pywebview sends a popup: nothing ever loads here, web links go to the browser.

    One sink takes one popup. QtWebEngine adopts the popup's web contents into the page that
    `createWindow` returns; given the same page again for a later popup, it sometimes crashed
    the whole process (seen in the window tests, about 1 run in 8). Once a sink has decided,
    it is deleted a little later, when Qt is surely done with it. Until then `keep` holds it:
    without a Python reference its `acceptNavigationRequest` would no longer be called, and
    the popup would load in the hidden page.
    """

    def __init__(
        self, page: QWebEnginePage, decide: Callable[[str], None], keep: set[_PopupSink]
    ) -> None:
        super().__init__(page.profile(), page)
        self._decide = decide
        self._decided = False
        self._keep = keep
        keep.add(self)

    def acceptNavigationRequest(
        self, url: QUrl | str, kind: QWebEnginePage.NavigationType, main_frame: bool, /
    ) -> bool:
        if main_frame and not self._decided:
            self._decided = True
            self._decide(_url_text(url))
            QTimer.singleShot(SINK_LIFETIME_MS, self._release)
        return False

    def _release(self) -> None:
        self._keep.discard(self)
        self.deleteLater()


def _give_each_popup_its_own_sink(page: QWebEnginePage, decide: Callable[[str], None]) -> None:
    """Answer every popup of `page` with a new `_PopupSink`.

    pywebview's `createWindow` answers every popup with one page kept for the window's life;
    this instance-level `createWindow` (PySide calls it in place of the class's) takes over.
    """
    kept: set[_PopupSink] = set()

    def create_window(self: QWebEnginePage, kind: QWebEnginePage.WebWindowType) -> _PopupSink:
        return _PopupSink(self, decide, kept)

    page.createWindow = types.MethodType(create_window, page)  # type: ignore[method-assign]


class _ScriptRunner(QObject):
    """Runs pywebview's result callbacks in the page, without eval() and without waiting.

    pywebview hands every bridge result back through `Window.evaluate_js`, whose eval() wrapper
    only serves to catch errors and return the script's last value; a result callback needs
    neither. This runner takes its place: it queues the script to the GUI thread and returns at
    once, so a bridge call still running when the window closes cannot hang the process (the
    original blocks its thread until the GUI thread answers, which after closing it never does).
    The app itself never evaluates JavaScript in the window.
    """

    submitted = Signal(str)

    def __init__(self, page: QWebEnginePage) -> None:
        super().__init__(page)
        self._page = page
        self.submitted.connect(self._run)

    def evaluate(self, script: str, callback: Callable[..., Any] | None = None) -> None:
        """Stand-in for `Window.evaluate_js`, callable from any thread."""
        self.submitted.emit(script)

    def _run(self, script: str) -> None:
        self._page.runJavaScript(script, QWebEngineScript.ScriptWorldId.MainWorld)


class _WindowController:
    """Attaches the guard, the geometry keeper and the close handling once Qt built the window."""

    def __init__(
        self,
        window: webview.Window,
        *,
        policy: NavigationPolicy,
        open_external: Opener,
        storage: SettingsStore,
        geometry: WindowGeometry,
    ) -> None:
        self._window = window
        self._policy = policy
        self._open_external = open_external
        self._storage = storage
        self._geometry = geometry
        self._keeper: _GeometryKeeper | None = None
        self._ready = False

    def on_before_show(self) -> None:
        """pywebview's `before_show`: runs on the GUI thread, before the window appears."""
        native = cast(QMainWindow, self._window.native)
        page = cast(QWebEngineView, native.centralWidget()).page()
        page.scripts().insert(_eval_free_api_script())
        setattr(self._window, PYWEBVIEW_EVALUATE, _ScriptRunner(page).evaluate)
        page.navigationRequested.connect(self._on_navigation)
        page.newWindowRequested.connect(self._on_new_window)
        # Popups load nothing: web links go to the system browser, anything else is refused.
        _give_each_popup_its_own_sink(page, self._on_popup)
        # Chromium's popup blocker: a script may open a window only in answer to a click.
        page.settings().setAttribute(
            QWebEngineSettings.WebAttribute.JavascriptCanOpenWindows, False
        )
        # The page asking to close (its window.close(), a DevTools client) closes the window.
        page.windowCloseRequested.connect(native.close)
        QGuiApplication.setDesktopFileName(DESKTOP_FILE)
        placed = self._place(native)
        self._keeper = _GeometryKeeper(native, self._storage, saved=self._geometry, normal=placed)
        self._close_on_signals(native)

    def on_loaded(self) -> None:
        """pywebview's `loaded`: the page is loaded and window.pywebview.api is in place."""
        # pywebview fires this after every load event, refused navigations included.
        if not self._ready:
            self._ready = True
            log.info("the window is ready: page loaded, bridge in place")

    def on_closing(self) -> None:
        """pywebview's `closing`: the last moment the window's geometry can be read."""
        if self._keeper is not None:
            self._keeper.save()

    def _on_navigation(self, request: QWebEngineNavigationRequest) -> None:
        url = _url_text(request.url())
        verdict = self._policy.for_navigation(
            url,
            main_frame=request.isMainFrame(),
            by_link=request.navigationType()
            == QWebEngineNavigationRequest.NavigationType.LinkClickedNavigation,
        )
        if verdict is Verdict.ALLOW:
            return
        request.reject()
        self._act(verdict, url, "navigation")

    def _on_new_window(self, request: QWebEngineNewWindowRequest) -> None:
        # Reached only if the page's createWindow is not ours; not calling openIn() refuses.
        self._on_popup(_url_text(request.requestedUrl()))

    def _on_popup(self, url: str) -> None:
        self._act(self._policy.for_new_window(url), url, "new window")

    def _act(self, verdict: Verdict, url: str, what: str) -> None:
        if verdict is not Verdict.OPEN_IN_BROWSER:
            log.info("refused a %s to %s", what, describe_url(url))
            return
        log.info("opening %s in the system browser", describe_url(url))
        try:
            self._open_external(url)
        except Exception:
            log.exception("could not open the system browser")

    def _place(self, native: QMainWindow) -> WindowGeometry:
        primary = QGuiApplication.primaryScreen()
        screens = sorted(QGuiApplication.screens(), key=lambda s: s is not primary)
        areas = [
            (r.x(), r.y(), r.width(), r.height()) for r in (s.availableGeometry() for s in screens)
        ]
        fitted = self._geometry.fitted(areas)
        native.resize(fitted.width, fitted.height)
        if fitted.x is not None and fitted.y is not None:
            native.move(fitted.x, fitted.y)
        return fitted

    def _close_on_signals(self, native: QMainWindow) -> None:
        # SIGTERM (logout, `kill`) and Ctrl+C close the window the normal way, so its size is
        # saved and the app shuts down in order. Qt runs Python handlers on pywebview's timer tick.
        def handler(signum: int, frame: FrameType | None) -> None:
            QTimer.singleShot(0, native.close)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def _icon() -> str | None:
    logo = frontend_dir() / "img" / "logo.svg"
    return str(logo) if logo.is_file() else None


def _eval_free_api_script() -> QWebEngineScript:
    script = QWebEngineScript()
    script.setName("miaoda-eval-free-api")
    script.setSourceCode(EVAL_FREE_API_JS)
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    script.setRunsOnSubFrames(False)
    return script


def _url_text(url: QUrl | str) -> str:
    if isinstance(url, str):
        return url
    return url.toString(QUrl.ComponentFormattingOption.FullyEncoded)


# --- the process environment ------------------------------------------------------------


def _display_problem() -> str | None:
    """Why no window can open here, if that is known before Qt aborts on it."""
    if not sys.platform.startswith("linux"):
        return None
    if any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return None
    return "no display to open a window on. Run `miaoda serve` to use the app in a web browser."


def _prepare_environment() -> None:
    """Settle the Qt environment before pywebview starts Qt."""
    # pywebview reaches Qt through qtpy; make sure it picks the binding the app ships with.
    os.environ.setdefault("QT_API", "pyside6")
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        # Chromium's sandbox refuses to run as root (containers, CI); the window only ever shows
        # the app's own origin, which the navigation guard enforces.
        os.environ["QTWEBENGINE_DISABLE_SANDBOX"] = "1"
    if getattr(sys, "frozen", False):
        # Remote debugging would let any local process drive the window and call the bridge.
        # The GUI tests use it through a checkout; a release build never allows it.
        os.environ.pop(DEBUG_ENV, None)
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS")
        if flags:
            kept = [flag for flag in flags.split() if not flag.startswith(DEBUG_FLAGS)]
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = " ".join(kept)
