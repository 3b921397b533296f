"""The window's rules that need neither Qt nor pywebview: where navigation and popups may go, and
how a saved size and place come back on today's screens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from backend.window.geometry import DEFAULT_SIZE, MIN_SIZE, WindowGeometry
from backend.window.navigation import NavigationPolicy, Verdict, describe_url

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://127.0.0.1:41234"


def test_the_rules_import_neither_qt_nor_pywebview() -> None:
    # A fresh interpreter: this one may have imported Qt for other tests.
    script = (
        "import sys\n"
        "import backend.window.navigation, backend.window.geometry, backend.window.protocols\n"
        "gui = sorted(m for m in sys.modules if m.startswith(('PySide6', 'webview', 'qtpy')))\n"
        "assert not gui, gui\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def policy() -> NavigationPolicy:
    return NavigationPolicy(ORIGIN)


# --- navigation ------------------------------------------------------------------------------


def test_the_policy_needs_an_http_origin() -> None:
    for origin in ("file:///tmp", "127.0.0.1:41234", "about:blank", "http://"):
        with pytest.raises(ValueError, match="not an http origin"):
            NavigationPolicy(origin)


def test_pages_of_the_app_itself_load(policy: NavigationPolicy) -> None:
    for url in (f"{ORIGIN}/", f"{ORIGIN}/#/providers", f"{ORIGIN}/index.html?x=1"):
        assert policy.for_navigation(url, main_frame=True, by_link=False) is Verdict.ALLOW


def test_the_origin_ignores_case_and_a_spelled_out_default_port() -> None:
    policy = NavigationPolicy("http://LocalHost")
    assert policy.is_own("http://localhost:80/page")
    assert not policy.is_own("https://localhost/page")


def test_the_same_host_on_another_port_or_scheme_is_foreign(policy: NavigationPolicy) -> None:
    for url in (
        "http://127.0.0.1:41235/",
        "https://127.0.0.1:41234/",
        "http://localhost:41234/",
        "http://127.0.0.1/",
    ):
        assert not policy.is_own(url), url
        assert policy.for_navigation(url, main_frame=True, by_link=False) is Verdict.REFUSE


def test_a_url_with_a_broken_port_is_foreign(policy: NavigationPolicy) -> None:
    assert not policy.is_own("http://127.0.0.1:99999/")
    assert policy.for_navigation("http://127.0.0.1:99999/", main_frame=True, by_link=True) is (
        Verdict.REFUSE
    )


def test_a_link_or_script_sending_the_window_to_the_web_opens_the_browser(
    policy: NavigationPolicy,
) -> None:
    for url in ("https://example.com/docs", "http://example.org/"):
        assert policy.for_navigation(url, main_frame=True, by_link=True) is Verdict.OPEN_IN_BROWSER


def test_a_redirect_or_reload_to_another_site_is_refused_without_opening_anything(
    policy: NavigationPolicy,
) -> None:
    got = policy.for_navigation("https://example.com/", main_frame=True, by_link=False)
    assert got is Verdict.REFUSE


def test_other_schemes_never_reach_the_system_browser(policy: NavigationPolicy) -> None:
    for url in ("file:///etc/passwd", "mailto:a@example.com", "javascript:alert(1)", "data:,x"):
        assert policy.for_navigation(url, main_frame=True, by_link=True) is Verdict.REFUSE, url
        assert policy.for_new_window(url) is Verdict.REFUSE, url


def test_frames_stay_on_the_app_or_empty(policy: NavigationPolicy) -> None:
    def frame(url: str) -> Verdict:
        return policy.for_navigation(url, main_frame=False, by_link=True)

    assert frame(f"{ORIGIN}/frame.html") is Verdict.ALLOW
    assert frame("about:blank") is Verdict.ALLOW
    assert frame("about:srcdoc") is Verdict.ALLOW
    assert frame("https://example.com/") is Verdict.REFUSE


def test_popups_to_the_web_open_in_the_browser_and_to_the_app_not_at_all(
    policy: NavigationPolicy,
) -> None:
    assert policy.for_new_window("https://example.com/x") is Verdict.OPEN_IN_BROWSER
    assert policy.for_new_window(f"{ORIGIN}/") is Verdict.REFUSE


def test_the_log_names_a_destination_without_its_path_or_query() -> None:
    assert describe_url("https://example.com/reset?token=s3cret#x") == "https://example.com"
    assert describe_url("mailto:someone@example.com") == "a mailto: URL"
    assert describe_url("/just/a/path?key=s3cret") == "a relative: URL"


# --- size and place --------------------------------------------------------------------------


def test_a_missing_or_damaged_window_setting_gives_the_default_size() -> None:
    for saved in (None, "big", [], {"width": "800"}, {"width": True, "height": 700}):
        assert WindowGeometry.from_setting(saved) == WindowGeometry(), saved


def test_a_saved_size_below_the_minimum_is_not_used() -> None:
    restored = WindowGeometry.from_setting({"width": 300, "height": 200})
    assert (restored.width, restored.height) == DEFAULT_SIZE


def test_a_place_with_one_coordinate_missing_is_dropped() -> None:
    restored = WindowGeometry.from_setting({"width": 1000, "height": 700, "x": 10, "y": "top"})
    assert (restored.width, restored.height, restored.x, restored.y) == (1000, 700, None, None)


def test_only_a_saved_true_means_maximized() -> None:
    assert WindowGeometry.from_setting({"maximized": True}).maximized
    assert not WindowGeometry.from_setting({"maximized": 1}).maximized
    assert not WindowGeometry.from_setting({"maximized": "yes"}).maximized


def test_a_saved_setting_comes_back_as_it_was_saved() -> None:
    geometry = WindowGeometry(1000, 700, 120, 80, maximized=True)
    assert WindowGeometry.from_setting(geometry.to_setting()) == geometry


def test_without_screens_the_geometry_is_kept() -> None:
    geometry = WindowGeometry(1000, 700, 5000, 3000)
    assert geometry.fitted([]) == geometry


def test_a_window_on_a_screen_keeps_its_place() -> None:
    geometry = WindowGeometry(1000, 700, 120, 80)
    assert geometry.fitted([(0, 0, 1920, 1080)]) == geometry


def test_a_window_never_placed_is_centred_on_the_primary_screen() -> None:
    fitted = WindowGeometry().fitted([(0, 0, 1920, 1080)])
    assert (fitted.x, fitted.y, fitted.width, fitted.height) == (320, 140, 1280, 800)


def test_a_window_off_every_screen_is_centred_on_the_primary_one() -> None:
    lost = WindowGeometry(1000, 700, 5000, 3000)
    back = lost.fitted([(0, 0, 1920, 1080), (-1280, 0, 1280, 1024)])
    assert (back.x, back.y, back.width, back.height) == (460, 190, 1000, 700)


def test_a_window_on_a_second_screen_stays_there() -> None:
    there = WindowGeometry(1000, 700, -1200, 100)
    assert there.fitted([(0, 0, 1920, 1080), (-1280, 0, 1280, 1024)]) == there


def test_a_window_larger_than_its_screen_is_shrunk_but_not_below_the_minimum() -> None:
    huge = WindowGeometry(4000, 3000, 0, 0)
    assert huge.fitted([(0, 0, 1366, 768)]).width == 1366
    assert huge.fitted([(0, 0, 1366, 768)]).height == 768
    tiny_screen = huge.fitted([(0, 0, 640, 480)])
    assert (tiny_screen.width, tiny_screen.height) == MIN_SIZE


def test_a_window_whose_title_bar_is_above_the_screen_is_brought_back() -> None:
    geometry = WindowGeometry(1000, 700, 100, -300)
    fitted = geometry.fitted([(0, 0, 1920, 1080)])
    assert fitted.y is not None and fitted.y >= 0


def test_a_window_with_too_little_of_its_top_edge_on_screen_is_brought_back() -> None:
    # 99 pixels of the top edge on the screen is less than the grab margin; 100 is enough.
    barely = WindowGeometry(1000, 700, 1821, 100)
    assert barely.fitted([(0, 0, 1920, 1080)]).x == 460
    enough = WindowGeometry(1000, 700, 1820, 100)
    assert enough.fitted([(0, 0, 1920, 1080)]) == enough
