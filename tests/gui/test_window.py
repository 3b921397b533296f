"""The real desktop window: `miaoda` under Xvfb with Qt, driven through `window.pywebview.api`."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.gui import x11
from tests.gui.helpers import WindowApp
from tests.helpers import CANARY_KEY, artifacts_dir, files_containing, provider_config

pytestmark = pytest.mark.gui

Launch = Callable[..., WindowApp]


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until `condition()` is truthy; return its value (fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"still not true after {timeout} s: {condition}")
        time.sleep(0.05)
    return value


def test_the_window_shows_the_app_with_the_bridge(window: WindowApp) -> None:
    app = window
    info = app.call("getAppInfo")
    assert info["success"] is True
    assert info["desktop"] is True
    assert app.on_page(lambda page: page.url).startswith(info["serverURL"] + "/")
    app.on_page(lambda page: page.screenshot(path=artifacts_dir() / "window-page.png"))
    x11.screenshot_root(artifacts_dir() / "window-screen.png")
    assert app.ready_seconds < 15, f"took {app.ready_seconds:.1f} s to be ready"


def test_a_provider_added_in_the_window_reads_back_without_its_key(launch: Launch) -> None:
    app = launch()
    added = app.call("addCustomProvider", provider_config(), {"validate": False})
    assert added["success"] is True, added
    got = app.call("getCustomProvider", added["id"])
    listed = app.call("getAllCustomProviders")
    assert got["provider"]["name"] == "groq"
    assert got["provider"]["hasApiKey"] is True
    assert [p["name"] for p in listed["providers"]] == ["groq"]
    assert CANARY_KEY not in json.dumps([added, got, listed])
    assert files_containing(app.data_dir, CANARY_KEY) == []  # database, log, secrets file


def test_export_and_import_go_through_the_native_dialogs(launch: Launch, tmp_path: Path) -> None:
    app = launch()
    app.call("addCustomProvider", provider_config(), {"validate": False})
    exported = tmp_path / "chosen" / "providers.json"
    exported.parent.mkdir()
    app.answer_dialogs(save=exported, open=None)

    export = app.call("exportCustomProviders")
    assert export == {"success": True, "path": str(exported), "count": 1}
    text = exported.read_text(encoding="utf-8")
    assert json.loads(text)["providers"][0]["name"] == "groq"
    assert CANARY_KEY not in text

    app.answer_dialogs(save=None, open=exported)
    report = app.call("importCustomProviders", {"onConflict": "rename"})
    assert report["success"] is True, report
    assert len(report["added"]) == 1 and report["renamed"][0]["from"] == "groq"
    names = sorted(p["name"] for p in app.call("getAllCustomProviders")["providers"])
    assert names == sorted(["groq", report["renamed"][0]["to"]])
    assert [a["dialog"] for a in app.dialogs_asked()] == ["save", "open"]
    assert app.dialogs_asked()[0]["suggestedName"] == "miaoda-providers.json"


def test_keys_leave_the_window_only_encrypted(launch: Launch, tmp_path: Path) -> None:
    app = launch()
    app.call("addCustomProvider", provider_config(), {"validate": False})
    exported = tmp_path / "with-keys.json"
    app.answer_dialogs(save=exported, open=None)
    export = app.call("exportCustomProviders", {"includeKeys": True, "passphrase": "horse staple"})
    assert export["success"] is True, export
    assert json.loads(exported.read_text(encoding="utf-8"))["secrets"]["cipher"] == "AES-256-GCM"
    assert files_containing(tmp_path, CANARY_KEY) == []


def test_cancelled_dialogs_change_nothing(window: WindowApp) -> None:
    app = window
    before = app.call("getAllCustomProviders")
    app.answer_dialogs(save=None, open=None)
    export = app.call("exportCustomProviders")
    imported = app.call("importCustomProviders")
    assert export["error"]["code"] == "CANCELLED"
    assert imported["error"]["code"] == "CANCELLED"
    assert app.call("getAllCustomProviders") == before


def test_a_script_sending_the_window_to_the_web_gets_the_browser_instead(window: WindowApp) -> None:
    app = window
    app.evaluate("() => { window.location.href = 'https://example.com/'; }")
    assert wait_for(app.opened_in_browser) == ["https://example.com/"]
    assert app.evaluate("() => location.origin") == app.origin
    assert app.call("getAppInfo")["success"] is True  # the app's own page, bridge and all


def test_the_bridge_keeps_answering_while_a_navigation_is_refused(window: WindowApp) -> None:
    app = window
    # Calls keep going out while the refused navigation settles and pywebview, which installs
    # itself again after it, runs; every one of them must come back.
    answers = app.evaluate(
        """async () => {
          const call = () => {
            try {
              return window.pywebview.api.getAppInfo().then((r) => r.success, () => "rejected");
            } catch {
              return Promise.resolve("no such method");
            }
          };
          const calls = [];
          location.href = 'https://example.com/elsewhere';
          const until = performance.now() + 500;
          while (performance.now() < until) {
            calls.push(call());
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
          const late = new Promise((resolve) => setTimeout(() => resolve("no answer"), 5000));
          return Promise.all(calls.map((c) => Promise.race([c, late])));
        }"""
    )
    assert set(answers) == {True}, sorted(set(map(str, answers)))


def test_the_window_never_goes_to_local_files(window: WindowApp) -> None:
    app = window
    app.evaluate("() => { window.location.href = 'file:///etc/passwd'; }")
    time.sleep(1.0)  # time enough for a navigation that was not refused to commit
    assert app.evaluate("() => location.origin") == app.origin
    assert app.opened_in_browser() == []


def test_a_clicked_web_link_opens_in_the_system_browser(window: WindowApp) -> None:
    app = window
    app.evaluate(
        """() => {
          const link = document.createElement('a');
          link.id = 'gui-test-link';
          link.href = 'https://example.com/docs?from=miaoda';
          link.textContent = 'docs';
          link.style.cssText = 'position:fixed;top:0;left:0;padding:8px;z-index:99999';
          document.body.append(link);
        }"""
    )
    # A click by mouse position: Playwright's page.click would wait for navigations to finish,
    # and a refused one never does.
    app.on_page(lambda page: page.mouse.click(5, 5))
    assert wait_for(app.opened_in_browser) == ["https://example.com/docs?from=miaoda"]
    assert app.evaluate("() => location.origin") == app.origin


def test_popups_open_in_the_system_browser_never_in_a_window(window: WindowApp) -> None:
    app = window
    # page.evaluate counts as a user gesture, as a click would.
    app.evaluate("() => { window.open('https://example.com/popup'); }")
    app.evaluate("() => { window.open('file:///etc/passwd'); }")
    assert wait_for(app.opened_in_browser) == ["https://example.com/popup"]
    time.sleep(0.5)
    assert app.opened_in_browser() == ["https://example.com/popup"]
    assert not [url for url in app.page_urls() if not url.startswith((app.origin, "about:"))]


def test_a_script_cannot_open_windows_on_its_own(window: WindowApp) -> None:
    app = window
    # Driving the page through Playwright counts as a user's click. A first popup spends that
    # activation, so the second one, from a timer, is what a script alone would get.
    script = """() => new Promise((resolve) => {
      window.open('about:blank');
      setTimeout(() => resolve([
        navigator.userActivation.isActive,
        String(window.open('https://example.com/auto')),
      ]), 0);
    })"""
    try:
        answer = app.evaluate(script)
    except PlaywrightError as error:
        if "has been closed" not in str(error):  # only a TargetClosedError (not public API)
            raise
        # Seen once in a full CI run: the CDP session dropped while the first popup's page was
        # being created. Attach again (this fails if the app's page is gone) and try once more.
        app.reattach()
        answer = app.evaluate(script)
    assert answer == [False, "null"]
    assert app.opened_in_browser() == []
    assert app.evaluate("() => location.origin") == app.origin


def test_closing_the_window_stops_the_app(launch: Launch) -> None:
    app = launch()
    server = app.origin
    closed_at = time.monotonic()
    app.close_window()
    assert app.wait_exit(timeout=10) == 0
    assert time.monotonic() - closed_at < 5
    assert "MiaoDa Chat stopped" in app.log_text()
    with pytest.raises(OSError):
        urllib.request.urlopen(server + "/", timeout=2)  # noqa: S310 - loopback


def test_sigterm_closes_the_window_the_normal_way(launch: Launch) -> None:
    app = launch()
    app.process.terminate()
    assert app.wait_exit(timeout=10) == 0
    log = app.log_text()
    assert "the window was closed" in log
    assert "MiaoDa Chat stopped" in log


def test_the_window_reopens_with_the_size_and_place_it_was_given(
    launch: Launch, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = launch(data_dir)
    assert wait_for(lambda: x11.move_resize_window_of(first.process.pid, 90, 70, 1000, 700))
    wait_for(lambda: first.evaluate("() => [innerWidth, innerHeight]") == [1000, 700])
    saved = wait_for(lambda: _saved_window_setting(data_dir), timeout=3)  # debounced, not on close
    assert (saved["width"], saved["height"], saved["x"], saved["y"]) == (1000, 700, 90, 70)
    first.close_window()
    assert first.wait_exit() == 0

    second = launch(data_dir)
    size = second.evaluate("() => [innerWidth, innerHeight, screenX, screenY]")
    assert size == [1000, 700, 90, 70]


def _saved_window_setting(data_dir: Path) -> dict[str, Any] | None:
    from backend.storage import Storage

    storage = Storage(data_dir / "miaoda.db")
    try:
        saved = storage.get_setting("window")
    finally:
        storage.close()
    if isinstance(saved, dict) and saved.get("width") == 1000:
        return saved
    return None


def test_the_window_title_follows_the_language(launch: Launch) -> None:
    app = launch()
    pid = app.process.pid
    assert wait_for(lambda: "MiaoDa Chat" in x11.titles_of(pid), timeout=10)
    switched = app.call("updateSettings", {"language": "zh-CN"})
    assert switched["success"] is True and switched["language"] == "zh-CN", switched
    assert wait_for(lambda: "妙答" in x11.titles_of(pid), timeout=10)
    assert app.call("updateSettings", {"language": "en"})["success"] is True
    assert wait_for(lambda: "MiaoDa Chat" in x11.titles_of(pid), timeout=10)
