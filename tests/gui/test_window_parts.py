"""The window's Qt parts that need no window: what the file dialogs answer, and what a release
build refuses. The Qt-free rules (navigation, size and place) are tested in
tests/unit/test_window_rules.py.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import require


@pytest.fixture(scope="module")
def window_module() -> Any:
    """backend.window.qt, which needs the app's 'gui' extra (pywebview, Qt WebEngine)."""
    installed = importlib.util.find_spec("webview") is not None and _webengine_installed()
    require(installed, "needs the gui extra with Qt WebEngine: run ./dev test")
    import backend.window.qt

    return backend.window.qt


def _webengine_installed() -> bool:
    try:
        return importlib.util.find_spec("PySide6.QtWebEngineCore") is not None
    except ImportError:
        return False


def test_the_package_hands_out_run_window_from_the_qt_module(window_module: Any) -> None:
    from backend.window import run_window

    assert run_window is window_module.run_window


class FakeWindow:
    """Answers pywebview's create_file_dialog the way the Qt backend does, and records the asks."""

    def __init__(self, *answers: Sequence[str] | None) -> None:
        self.answers = list(answers)
        self.asked: list[dict[str, Any]] = []
        self.localization: dict[str, str] = {}  # pywebview's texts: the dialogs' titles

    def create_file_dialog(self, dialog_type: int, **options: Any) -> Sequence[str] | None:
        self.asked.append({"type": dialog_type, **options})
        return self.answers.pop(0)


def test_the_save_dialog_suggests_the_name_and_offers_json(window_module: Any) -> None:
    import webview

    fake = FakeWindow(("/home/u/Documents/mine.json",))
    dialogs = window_module.NativeDialogs()
    dialogs.bind(fake)
    assert dialogs.save_path("miaoda-providers.json") == "/home/u/Documents/mine.json"
    asked = fake.asked[0]
    assert asked["type"] == webview.FileDialog.SAVE
    assert asked["save_filename"] == "miaoda-providers.json"
    assert asked["directory"] == str(Path.home())
    assert "JSON files (*.json)" in asked["file_types"]


def test_the_next_dialog_opens_where_the_last_one_was_answered(window_module: Any) -> None:
    fake = FakeWindow(("/data/exports/a.json",), ("/data/exports/a.json",))
    dialogs = window_module.NativeDialogs()
    dialogs.bind(fake)
    dialogs.save_path("miaoda-providers.json")
    assert dialogs.open_path() == "/data/exports/a.json"
    assert fake.asked[1]["directory"] == "/data/exports"


def test_a_cancelled_dialog_answers_none(window_module: Any) -> None:
    dialogs = window_module.NativeDialogs()
    dialogs.bind(FakeWindow(None, ()))
    assert dialogs.save_path("miaoda-providers.json") is None
    assert dialogs.open_path() is None


def test_a_release_build_refuses_remote_debugging(
    window_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("QT_API", "QTWEBENGINE_DISABLE_SANDBOX"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setenv("QTWEBENGINE_REMOTE_DEBUGGING", "9222")
    monkeypatch.setenv("QTWEBENGINE_CHROMIUM_FLAGS", "--lang=de --remote-debugging-port=9223")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    window_module._prepare_environment()
    assert "QTWEBENGINE_REMOTE_DEBUGGING" not in os.environ
    assert os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] == "--lang=de"


def test_a_checkout_keeps_remote_debugging_for_the_gui_tests(
    window_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("QT_API", "QTWEBENGINE_DISABLE_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QTWEBENGINE_REMOTE_DEBUGGING", "9222")
    monkeypatch.delattr(sys, "frozen", raising=False)
    window_module._prepare_environment()
    assert os.environ["QTWEBENGINE_REMOTE_DEBUGGING"] == "9222"
