"""The window's parts that need no window: where navigation may go, how a saved size comes back,
what the file dialogs answer, and what a release build refuses."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require


@pytest.fixture(scope="module")
def window_module() -> Any:
    """backend.window, which needs the app's 'gui' extra (pywebview, Qt WebEngine)."""
    installed = importlib.util.find_spec("webview") is not None and _webengine_installed()
    require(installed, "needs the gui extra with Qt WebEngine: run ./dev test")
    import backend.window

    return backend.window


def _webengine_installed() -> bool:
    try:
        return importlib.util.find_spec("PySide6.QtWebEngineCore") is not None
    except ImportError:
        return False


ORIGIN = "http://127.0.0.1:41234"


@pytest.fixture
def policy(window_module: Any) -> Any:
    return window_module.NavigationPolicy(ORIGIN)


def test_pages_of_the_app_itself_load(policy: Any, window_module: Any) -> None:
    for url in (f"{ORIGIN}/", f"{ORIGIN}/#/providers", f"{ORIGIN}/index.html?x=1"):
        assert (
            policy.for_navigation(url, main_frame=True, by_link=False)
            is window_module.Verdict.ALLOW
        )


def test_the_same_host_on_another_port_or_scheme_is_foreign(
    policy: Any, window_module: Any
) -> None:
    for url in (
        "http://127.0.0.1:41235/",
        "https://127.0.0.1:41234/",
        "http://localhost:41234/",
        "http://127.0.0.1/",
    ):
        assert not policy.is_own(url), url
        assert (
            policy.for_navigation(url, main_frame=True, by_link=False)
            is window_module.Verdict.REFUSE
        )


def test_a_link_or_script_sending_the_window_to_the_web_opens_the_browser(
    policy: Any, window_module: Any
) -> None:
    for url in ("https://example.com/docs", "http://example.org/"):
        assert (
            policy.for_navigation(url, main_frame=True, by_link=True)
            is window_module.Verdict.OPEN_IN_BROWSER
        )


def test_a_redirect_or_reload_to_another_site_is_refused_without_opening_anything(
    policy: Any, window_module: Any
) -> None:
    got = policy.for_navigation("https://example.com/", main_frame=True, by_link=False)
    assert got is window_module.Verdict.REFUSE


def test_other_schemes_never_reach_the_system_browser(policy: Any, window_module: Any) -> None:
    for url in ("file:///etc/passwd", "mailto:a@example.com", "javascript:alert(1)", "data:,x"):
        assert (
            policy.for_navigation(url, main_frame=True, by_link=True)
            is window_module.Verdict.REFUSE
        ), url
        assert policy.for_new_window(url) is window_module.Verdict.REFUSE, url


def test_frames_stay_on_the_app_or_empty(policy: Any, window_module: Any) -> None:
    def frame(url: str) -> Any:
        return policy.for_navigation(url, main_frame=False, by_link=True)

    assert frame(f"{ORIGIN}/frame.html") is window_module.Verdict.ALLOW
    assert frame("about:blank") is window_module.Verdict.ALLOW
    assert frame("https://example.com/") is window_module.Verdict.REFUSE


def test_popups_to_the_web_open_in_the_browser_and_to_the_app_not_at_all(
    policy: Any, window_module: Any
) -> None:
    assert policy.for_new_window("https://example.com/x") is window_module.Verdict.OPEN_IN_BROWSER
    assert policy.for_new_window(f"{ORIGIN}/") is window_module.Verdict.REFUSE


def test_a_missing_or_damaged_window_setting_gives_the_default_size(window_module: Any) -> None:
    geometry = window_module.WindowGeometry
    for saved in (None, "big", [], {"width": "800"}, {"width": True, "height": 700}):
        assert geometry.from_setting(saved) == geometry(), saved


def test_a_saved_size_below_the_minimum_is_not_used(window_module: Any) -> None:
    restored = window_module.WindowGeometry.from_setting({"width": 300, "height": 200})
    assert (restored.width, restored.height) == window_module.DEFAULT_SIZE


def test_a_saved_setting_comes_back_as_it_was_saved(window_module: Any) -> None:
    geometry = window_module.WindowGeometry(1000, 700, 120, 80, maximized=True)
    assert window_module.WindowGeometry.from_setting(geometry.to_setting()) == geometry


def test_a_window_on_a_screen_keeps_its_place(window_module: Any) -> None:
    geometry = window_module.WindowGeometry(1000, 700, 120, 80)
    assert geometry.fitted([(0, 0, 1920, 1080)]) == geometry


def test_a_window_off_every_screen_is_centred_on_the_primary_one(window_module: Any) -> None:
    lost = window_module.WindowGeometry(1000, 700, 5000, 3000)
    back = lost.fitted([(0, 0, 1920, 1080), (-1280, 0, 1280, 1024)])
    assert (back.x, back.y, back.width, back.height) == (460, 190, 1000, 700)


def test_a_window_on_a_second_screen_stays_there(window_module: Any) -> None:
    there = window_module.WindowGeometry(1000, 700, -1200, 100)
    assert there.fitted([(0, 0, 1920, 1080), (-1280, 0, 1280, 1024)]) == there


def test_a_window_larger_than_its_screen_is_shrunk_but_not_below_the_minimum(
    window_module: Any,
) -> None:
    huge = window_module.WindowGeometry(4000, 3000, 0, 0)
    assert huge.fitted([(0, 0, 1366, 768)]).width == 1366
    assert huge.fitted([(0, 0, 1366, 768)]).height == 768
    tiny_screen = huge.fitted([(0, 0, 640, 480)])
    assert (tiny_screen.width, tiny_screen.height) == window_module.MIN_SIZE


def test_a_window_whose_title_bar_is_above_the_screen_is_brought_back(window_module: Any) -> None:
    geometry = window_module.WindowGeometry(1000, 700, 100, -300)
    fitted = geometry.fitted([(0, 0, 1920, 1080)])
    assert fitted.y is not None and fitted.y >= 0


class FakeWindow:
    """Answers pywebview's create_file_dialog the way the Qt backend does, and records the asks."""

    def __init__(self, *answers: Sequence[str] | None) -> None:
        self.answers = list(answers)
        self.asked: list[dict[str, Any]] = []

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
