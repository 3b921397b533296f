"""The provider list, health, navigation and layout in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.english import element_english
from tests.e2e.helpers import MODEL, XSS, RunningApp, reload_list, screenshot
from tests.fakes.upstream import Reply

pytestmark = pytest.mark.browser


def card(page: Any, display_name: str) -> Any:
    return page.locator("provider-card").filter(
        has=page.locator(".card-title", has_text=display_name)
    )


@pytest.fixture
def chinese(app: RunningApp) -> Iterator[RunningApp]:
    """The app with its language set to Simplified Chinese, put back to the system's after."""
    assert app.rpc("updateSettings", {"language": "zh-CN"})["success"]
    yield app
    assert app.rpc("updateSettings", {"language": "system"})["success"]


def test_an_empty_app_invites_adding_the_first_provider(page: Any) -> None:
    empty = page.locator("providers-view .empty-state")
    expect(empty).to_contain_text("Add your first provider")
    expect(page.get_by_role("button", name="Check all")).to_be_disabled()
    empty.get_by_role("button", name="Add a provider").click()
    expect(page.locator("dialog.provider-dialog")).to_be_visible()


def test_delete_asks_first_and_names_the_provider(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    app.add_provider(name="local", displayName="Local box")
    reload_list(page)

    page.get_by_role("button", name="Delete Local box").click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_contain_text("Delete “Local box”?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    expect(card(page, "Local box")).to_be_visible()

    page.get_by_role("button", name="Delete Local box").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete provider").click()
    expect(card(page, "Local box")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Deleted Local box")
    assert [p["name"] for p in app.providers()] == ["groq"]


def test_check_all_shows_progress_then_each_result(page: Any, app: RunningApp) -> None:
    app.add_provider(name="fast", displayName="Fast")
    app.add_provider(name="rejected", displayName="Rejected", baseURL=f"{app.upstream.url}/bad/v1")
    app.add_provider(name="slow", displayName="Slow", baseURL=f"{app.upstream.url}/slow/v1")
    slow = Reply.json({"data": [{"id": "fake-model"}]})
    slow.hang_before_headers = 1.5
    app.upstream.script("/slow/v1/models", slow)
    reload_list(page)

    button = page.locator(".check-all-btn")
    button.click()
    expect(button).to_be_disabled()
    expect(button).to_have_text(re.compile(r"Checking 2/3"))
    expect(card(page, "Slow").locator("health-badge")).to_have_text("Checking…")
    expect(button).to_have_text("Check all", timeout=10_000)
    expect(button).to_be_enabled()
    expect(page.locator(".check-result")).to_have_text(
        "Checked 3 providers: 2 healthy, 1 unhealthy."
    )
    expect(card(page, "Fast").locator("health-badge")).to_have_text("Healthy")
    expect(card(page, "Slow").locator("health-badge")).to_have_text("Healthy")
    expect(card(page, "Rejected").locator("health-badge")).to_have_text("Unhealthy")
    expect(card(page, "Rejected").locator(".card-error")).to_contain_text("AUTH_FAILED")
    expect(card(page, "Slow").locator(".card-latency")).to_have_text(
        re.compile(r"^\d(\.\d)? s$|^\d+ ms$")
    )
    expect(
        card(page, "Fast").locator(".sparkline polyline, .sparkline circle").first
    ).to_be_attached()


def test_check_now_and_the_history_chart(page: Any, app: RunningApp) -> None:
    app.add_provider()
    reload_list(page)
    groq = card(page, "Groq")
    for _ in range(3):
        groq.get_by_role("button", name="Check the health of Groq").click()
        expect(groq.locator("health-badge")).to_have_text("Healthy")
    groq.get_by_role("button", name="Show details of Groq").click()
    chart = groq.locator("health-chart")
    expect(chart.locator(".stat", has_text="Uptime")).to_contain_text("100%")
    expect(chart.locator(".stat", has_text="Checks")).to_contain_text("3")
    expect(chart.locator("circle.chart-point")).to_have_count(3)
    screenshot(page, "provider-detail-1280")


def test_a_provider_named_like_html_stays_text_everywhere(
    page: Any, app: RunningApp, watch: Any, tmp_path: Any
) -> None:
    app.add_provider(name="xss", displayName=XSS, model=XSS, baseURL=f"{app.upstream.url}/bad/v1")
    reload_list(page)
    count_images = (
        "() => [...document.querySelectorAll('img')]"
        ".filter(i => !i.src.endsWith('/img/logo.svg')).length"
    )

    xss_card = card(page, XSS)
    expect(xss_card.locator(".card-title")).to_have_text(XSS)
    expect(xss_card.locator(".card-model")).to_have_text(XSS)
    xss_card.get_by_role("button", name=f"Check the health of {XSS}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{XSS} is unhealthy")

    xss_card.get_by_role("button", name=f"Edit {XSS}").click()
    form = page.locator("dialog.provider-dialog")
    expect(form.get_by_role("heading", name=f"Edit {XSS}")).to_be_visible()
    expect(form.get_by_label("Display name")).to_have_value(XSS)
    page.keyboard.press("Escape")

    xss_card.get_by_role("button", name=f"Delete {XSS}").click()
    expect(page.get_by_role("dialog")).to_contain_text(f"Delete “{XSS}”?")
    page.keyboard.press("Escape")

    bad_file = tmp_path / "xss.json"
    bad_file.write_text(
        '{"format": "miaoda-chat/custom-providers", "version": 1, "providers": [{"name": "'
        + XSS
        + '"}], "secrets": null}'
    )
    page.get_by_role("button", name="Import", exact=True).click()
    page.locator("import-dialog input[type=file]").set_input_files(str(bad_file))
    expect(page.locator(".preview-errors")).to_contain_text(XSS)

    assert page.evaluate(count_images) == 0
    assert watch.dialogs == []


def test_cached_statuses_refresh_every_30_seconds(page: Any, app: RunningApp) -> None:
    provider = app.add_provider()
    page.clock.install()
    reload_list(page)
    expect(card(page, "Groq").locator("health-badge")).to_have_text("Unknown")
    app.rpc("checkCustomProviderHealth", provider["id"])  # e.g. the background schedule
    page.clock.run_for(25_000)
    expect(card(page, "Groq").locator("health-badge")).to_have_text("Unknown")
    page.clock.run_for(6_000)
    expect(card(page, "Groq").locator("health-badge")).to_have_text("Healthy")


def test_the_list_fits_an_800x600_window(page: Any, app: RunningApp) -> None:
    long_url = f"{app.upstream.url}/v1/" + "very-long-path-segment/" * 6
    app.add_provider(name="groq", displayName="Groq")
    app.add_provider(
        name="long",
        displayName="A provider with a rather long display name for a card",
        baseURL=long_url.rstrip("/"),
    )
    app.add_provider(
        name="claude",
        displayName="Anthropic (work)",
        type="anthropic-compatible",
        baseURL="http://127.0.0.1:9",
        apiKey=None,
    )
    app.rpc("checkAllCustomProvidersHealth")
    page.set_viewport_size({"width": 800, "height": 600})
    reload_list(page)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll at 800x600: {widths}"
    main = page.evaluate(
        "() => { const m = document.querySelector('.main'); "
        "return [m.scrollWidth, m.clientWidth]; }"
    )
    assert main[0] <= main[1], f"the main area scrolls sideways: {main}"
    expect(page.get_by_role("link", name="Providers", exact=True)).to_be_visible()
    screenshot(page, "providers-800x600")

    page.get_by_role("button", name="Add provider").click()
    box = page.locator("dialog.provider-dialog").bounding_box()
    assert (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= 800
        and box["y"] + box["height"] <= 600
    )


def test_the_list_and_about_at_1280x800(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    app.add_provider(
        name="rejected", displayName="Mistral (old key)", baseURL=f"{app.upstream.url}/bad/v1"
    )
    app.add_provider(
        name="ollama",
        displayName="Ollama (local)",
        baseURL="http://127.0.0.1:9/v1",
        apiKey=None,
        auth={"scheme": "none"},
    )
    for _ in range(4):
        app.rpc("checkAllCustomProvidersHealth")
    reload_list(page)
    expect(page.locator("provider-card .sparkline").first).to_be_visible()
    screenshot(page, "providers-1280")

    page.get_by_role("link", name="About", exact=True).click()
    info = app.rpc("getAppInfo")
    about = page.locator("about-view")
    expect(about).to_contain_text(f"Version {info['version']}")
    expect(about).to_contain_text(info["secretStorage"]["description"])
    expect(about).to_contain_text(str(app.data_dir))
    assert page.url.endswith("#/about")
    screenshot(page, "about-1280")


def test_the_token_leaves_the_address_bar_and_survives_a_reload(page: Any, app: RunningApp) -> None:
    assert app.token not in page.url
    assert page.url.endswith("#/providers")
    page.get_by_role("link", name="Chat", exact=True).click()
    expect(page.locator("chat-view")).to_contain_text("Add a provider to start chatting")
    page.reload()
    expect(page.locator("chat-view")).to_contain_text("Add a provider to start chatting")
    page.get_by_role("link", name="Providers", exact=True).click()
    expect(page.locator("providers-view .empty-state")).to_be_visible()


def test_a_page_without_the_token_says_how_to_open_the_app(context: Any, app: RunningApp) -> None:
    tab = context.new_page()
    tab.goto(f"{app.base}/")
    expect(tab.get_by_role("alert")).to_contain_text(
        "Open MiaoDa Chat from its link", timeout=10_000
    )


# What stays as it is in any language: what the test seeded (names, the model), the words of
# the fake upstream's refusal ("Incorrect API key provided.") that the card's error quotes, the
# "sk" of a key's hint (sk-…a1b2), the sampling parameter "Top P" and the example id groq-work.
NAMES = (
    "Steady",
    "Rejected",
    "steady",
    "rejected",
    MODEL,
    "Incorrect",
    "provided",
    "sk",
    "Top",
    "groq-work",
)


def test_the_list_the_form_and_the_dialogs_speak_chinese(page: Any, chinese: RunningApp) -> None:
    chinese.add_provider(name="steady", displayName="Steady")
    chinese.add_provider(
        name="rejected", displayName="Rejected", baseURL=f"{chinese.upstream.url}/bad/v1"
    )
    chinese.rpc("checkAllCustomProvidersHealth")
    reload_list(page)
    view = page.locator("providers-view")
    expect(view.locator(".view-title")).to_have_text("服务商")
    expect(view.locator(".view-subtitle")).to_have_text("2 个服务商 · 1 个正常 · 1 个异常")
    steady_card = card(page, "Steady")
    expect(steady_card.locator("health-badge")).to_have_text("正常")
    expect(steady_card.locator(".card-when")).to_have_text("刚刚检查过模型列表")
    expect(card(page, "Rejected").locator("health-badge")).to_have_text("异常")
    steady_card.get_by_role("button", name="查看 Steady 的详情").click()
    expect(steady_card.locator("health-chart .stat", has_text="可用率")).to_contain_text("100%")
    left = element_english(view.locator(".view-header, .view-body"), NAMES)
    assert left == [], left
    screenshot(page, "providers-zh-1280")

    page.get_by_role("button", name="编辑 Steady").click()
    form = page.locator("dialog.provider-dialog")
    expect(form.locator(".dialog-title")).to_have_text("编辑 Steady")
    for section in form.locator("details.section").all():
        section.locator("summary").click()
    form.get_by_label("显示名称").fill("")
    form.get_by_role("button", name="保存修改").click()
    expect(form.locator(".form-error")).to_have_text("有 1 个字段需要修改：显示名称。")
    expect(form.get_by_label("显示名称")).to_have_attribute("aria-invalid", "true")
    left = element_english(form, NAMES)
    assert left == [], left
    screenshot(page, "provider-form-zh-1280")
    page.keyboard.press("Escape")

    view.get_by_role("button", name="添加服务商").click()
    expect(form.get_by_role("searchbox")).to_be_focused()
    templates = chinese.rpc("getProviderTemplates")["templates"]
    expect(form.locator(".template-tile")).to_have_count(len(templates) + 1)
    # The tiles name providers, and provider names stay as they are.
    brands = [word for t in templates for word in re.findall(r"[\w.]+", t["displayName"])]
    left = element_english(form, (*NAMES, *brands))
    assert left == [], left
    page.keyboard.press("Escape")

    for button, title in (("导出", "导出服务商"), ("导入", "导入服务商")):
        view.get_by_role("button", name=button, exact=True).click()
        dialog = page.get_by_role("dialog", name=title)
        expect(dialog).to_be_visible()
        left = element_english(dialog, NAMES)
        assert left == [], left
        page.keyboard.press("Escape")
