"""The Settings screen in the browser: its own route, the language applied without a reload (and
back), the theme overruling the OS, a refused health interval named at its field, the proxy
tested through a real local proxy (tests/fakes/proxy.py) and against one that does not answer,
where data and keys live, and screenshots in English and Chinese, light and dark.

The "remote" provider of the proxy tests is `models.example.test`: a name the proxy maps to the
fake upstream on loopback (providers on loopback never use a proxy), and that nothing else can
resolve, so a request that reaches the upstream went through the proxy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    RunningApp,
    answer_plainly,
    open_chat,
    screenshot,
    start_conversation,
)
from tests.fakes.proxy import FakeProxy

pytestmark = pytest.mark.browser

REMOTE_HOST = "models.example.test"
DEFAULTS = {
    "language": "system",
    "theme": "system",
    "sendKey": "enter",
    "health": {"enabled": True, "intervalSeconds": 300},
    "proxy": {"mode": "system"},
}


@pytest.fixture(autouse=True)
def default_settings(app: RunningApp) -> Iterator[None]:
    """Every test starts from the default settings and leaves them so for the next module."""
    assert app.rpc("updateSettings", DEFAULTS)["success"]
    yield
    assert app.rpc("updateSettings", DEFAULTS)["success"]


def open_settings(page: Any) -> Any:
    """Go to #/settings and wait until the screen has loaded the settings."""
    page.evaluate("location.hash = '#/settings'")
    page.locator("settings-view[data-ready]").wait_for()
    return page.locator("settings-view")


def section(page: Any, name: str) -> Any:
    return page.locator(f"settings-view [data-section={name}]")


def background_is_dark(element: Any) -> bool:
    """Whether the element's own background colour is dark (its RGB channels sum below 200)."""
    color = element.evaluate("el => getComputedStyle(el).backgroundColor")
    channels = [int(c) for c in color[color.index("(") + 1 : -1].replace(",", " ").split()[:3]]
    return sum(channels) < 200


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def remote_provider(app: RunningApp) -> dict[str, Any]:
    """A provider named by a host only the test proxy can resolve (the fake upstream)."""
    port = app.upstream.url.rsplit(":", 1)[1]
    return app.add_provider(baseURL=f"http://{REMOTE_HOST}:{port}/v1")


def test_settings_is_a_screen_of_its_own_beside_about(page: Any) -> None:
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.locator("settings-view .view-title")).to_have_text("Settings")
    expect(page).to_have_title("Settings — MiaoDa Chat")
    assert page.url.endswith("#/settings")
    page.get_by_role("link", name="About", exact=True).click()
    expect(page.locator("about-view .view-title")).to_have_text("About")
    expect(page.locator("settings-view")).to_be_hidden()


def test_chinese_applies_at_once_without_a_reload_and_english_comes_back(
    page: Any, app: RunningApp
) -> None:
    view = open_settings(page)
    page.evaluate("window.__sameDocument = true")

    view.get_by_role("radio", name="简体中文").check()
    expect(page.get_by_role("link", name="设置", exact=True)).to_be_visible()
    expect(page).to_have_title("设置 — 妙答")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("settings-view .view-title")).to_have_text("设置")
    expect(page.get_by_role("radio", name="简体中文")).to_be_focused()  # the choice just made
    assert app.rpc("getSettings")["settings"]["language"] == "zh-CN"

    page.get_by_role("radio", name="English").check()
    expect(page.get_by_role("link", name="Settings", exact=True)).to_be_visible()
    expect(page).to_have_title("Settings — MiaoDa Chat")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.evaluate("window.__sameDocument") is True  # never reloaded
    assert app.rpc("getSettings")["settings"]["language"] == "en"


def test_the_chat_comes_back_on_the_same_conversation_after_a_change_of_language(
    page: Any, app: RunningApp
) -> None:
    answer_plainly(app, "Kyoto in autumn, then.")
    provider = app.add_provider()
    conversation = start_conversation(app, provider["id"], "Plan a trip to Kyoto")
    open_chat(page)
    page.evaluate(f"location.hash = '#/chat/{conversation}'")
    expect(page.locator("chat-message.msg-assistant")).to_contain_text("Kyoto in autumn")

    open_settings(page).get_by_role("radio", name="简体中文").check()
    expect(page).to_have_title("设置 — 妙答")
    page.get_by_role("link", name="对话", exact=True).click()
    expect(page.locator("chat-message.msg-user")).to_contain_text("Plan a trip to Kyoto")
    expect(page.locator("chat-message.msg-assistant")).to_contain_text("Kyoto in autumn")
    assert page.url.endswith(f"#/chat/{conversation}")


def test_the_dark_theme_overrules_a_light_os_and_stays_after_a_reload(page: Any) -> None:
    page.emulate_media(color_scheme="light")
    view = open_settings(page)
    card = section(page, "general")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert not background_is_dark(card)

    view.get_by_role("radio", name="Dark").check()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background_is_dark(card)
    assert background_is_dark(page.locator("body"))

    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    open_settings(page)
    expect(page.get_by_role("radio", name="Dark")).to_be_checked()
    assert background_is_dark(section(page, "general"))

    page.locator("[data-choice=theme]").get_by_role("radio", name="System").check()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.emulate_media(color_scheme="dark")  # "System" follows the OS when it changes
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.emulate_media(color_scheme="light")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")


def test_a_refused_interval_is_named_at_its_field_and_nothing_is_saved(
    page: Any, app: RunningApp
) -> None:
    open_settings(page)
    health = section(page, "health")
    interval = health.get_by_label("Check every")
    expect(interval).to_have_value("5")
    expect(health.get_by_label("Unit")).to_have_value("60")

    interval.fill("10")
    health.get_by_label("Unit").select_option(label="seconds")
    health.get_by_role("button", name="Save").click()
    expect(interval).to_have_attribute("aria-invalid", "true")
    expect(health.locator(".interval-field .field-msg")).to_contain_text("30")
    expect(health.locator(".settings-status")).to_have_text("Check the marked field.")
    expect(interval).to_be_focused()
    assert app.rpc("getSettings")["settings"]["health"]["intervalSeconds"] == 300

    interval.fill("2")
    health.get_by_label("Unit").select_option(label="minutes")
    health.get_by_role("button", name="Save").click()
    expect(health.locator(".settings-status")).to_have_text("Saved")
    expect(interval).not_to_have_attribute("aria-invalid", "true")
    assert app.rpc("getSettings")["settings"]["health"]["intervalSeconds"] == 120


def test_a_proxy_that_does_not_answer_fails_the_test_with_advice(
    page: Any, app: RunningApp
) -> None:
    remote_provider(app)
    open_settings(page)
    proxy = section(page, "proxy")
    proxy.get_by_role("radio", name="This proxy").check()
    port = closed_port()
    proxy.get_by_label("Proxy URL").fill(f"http://127.0.0.1:{port}")
    proxy.get_by_role("button", name="Test").click()

    result = proxy.locator(".proxy-result[data-state=error]")
    expect(result.locator(".error-code")).to_have_text("CONNECTION_FAILED", timeout=15_000)
    expect(result).to_contain_text(f"127.0.0.1:{port}")
    expect(result).to_contain_text("To connect without it, choose No proxy.")
    assert app.rpc("getSettings")["settings"]["proxy"]["mode"] == "system"  # a test saves nothing


def test_the_proxy_test_reaches_a_provider_through_the_proxy_and_save_keeps_the_password(
    page: Any, app: RunningApp
) -> None:
    remote_provider(app)
    with FakeProxy(hosts={REMOTE_HOST: "127.0.0.1"}) as fake:
        open_settings(page)
        proxy = section(page, "proxy")
        proxy.get_by_role("radio", name="This proxy").check()
        address = fake.url.removeprefix("http://")
        proxy.get_by_label("Proxy URL").fill(f"http://alice@{address}")
        proxy.get_by_label("Password").fill("s3cret-proxy-word")
        proxy.get_by_role("button", name="Test").click()

        result = proxy.locator(".proxy-result[data-state=ok]")
        expect(result).to_contain_text("Reached Groq through", timeout=15_000)
        expect(result).to_contain_text(address)
        expect(result).to_contain_text(" ms")
        assert any(REMOTE_HOST in line for line in fake.seen)

        proxy.get_by_role("button", name="Save").click()
        expect(proxy.locator(".settings-status")).to_have_text("Saved")
    saved = app.rpc("getSettings")["settings"]["proxy"]
    assert saved["mode"] == "manual" and saved["hasPassword"] is True
    assert "s3cret" not in saved["url"] and address in saved["url"]
    password = proxy.get_by_label("Password")
    expect(password).to_have_value("")
    expect(password).to_have_attribute("placeholder", "Saved — leave empty to keep it")


def test_storage_says_where_data_and_keys_are_and_opens_the_folder(
    page: Any, app: RunningApp
) -> None:
    info = app.rpc("getAppInfo")
    open_settings(page)
    storage = section(page, "storage")
    expect(storage).to_contain_text(str(app.data_dir))
    expect(storage).to_contain_text(info["secretStorage"]["description"])
    # The backend's opener is tested with a recorder (tests/integration): here the button's
    # call is answered in the page, so nothing is launched on the machine running the tests.
    opened: list[str] = []

    def answer(route: Any) -> None:
        opened.append(route.request.url.rsplit("/", 1)[1])
        route.fulfill(json={"success": True, "opened": True})

    page.route("**/api/rpc/openDataFolder", answer)
    page.route("**/api/rpc/openLogFile", answer)
    storage.get_by_role("button", name="Open data folder").click()
    storage.get_by_role("button", name="Open log").click()
    expect(storage.locator(".settings-status")).to_be_empty()
    assert opened == ["openDataFolder", "openLogFile"]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_screenshots_of_the_settings_screen(page: Any, app: RunningApp, language: str) -> None:
    remote_provider(app)
    for theme in ("light", "dark"):
        assert app.rpc("updateSettings", {"language": language, "theme": theme})["success"]
        page.reload()
        open_settings(page)
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
        expect(page.locator("html")).to_have_attribute("lang", language)
        proxy = section(page, "proxy")
        proxy.get_by_role("radio").nth(2).check()
        proxy.locator("input[name=url]").fill(f"http://127.0.0.1:{closed_port()}")
        proxy.locator(".settings-actions .btn").first.click()
        expect(proxy.locator(".proxy-result[data-state=error]")).to_be_visible(timeout=15_000)
        page.locator("#main").evaluate("main => main.scrollTo(0, 0)")
        screenshot(page, f"settings-{language}-{theme}-1280")
        proxy.scroll_into_view_if_needed()
        screenshot(page, f"settings-proxy-{language}-{theme}-1280")
