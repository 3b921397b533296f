"""The whole app in Simplified Chinese: every screen and dialog, visited with real data, shows no
English word outside what stays English (docs/TRANSLATION.md: provider names, model ids, codes,
URLs, units), and is photographed in light and dark with a CJK font (fonts-noto-cjk).

Screens and dialogs: the provider list with a provider's health chart, the add form (templates,
a pasted URL detected with its evidence, then a form refused with field errors, then a
connection test's result), the edit form, the import and export dialogs, a chat with an error
card, the conversation sidebar and search, routes and the route form, the tools screen (a
server that cannot be reached) and its add form, usage, settings, about and the shortcuts
sheet. Buttons are found by their Chinese names read from the catalogues, so
a reworded label does not break the walk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.english import page_english
from tests.e2e.helpers import (
    MODEL,
    RunningApp,
    answer_plainly,
    emulate_scheme,
    post_chat,
    reload_list,
    screenshot,
    start_conversation,
)
from tests.unit.test_i18n import frontend_catalogue

ZH = frontend_catalogue("zh-CN")


def zh(key: str) -> str:
    """The Chinese text of a frontend key (a plural's `other` form)."""
    entry = ZH[key]
    return entry if isinstance(entry, str) else entry["other"]


@pytest.fixture
def chinese(app: RunningApp) -> Iterator[RunningApp]:
    """The app in Simplified Chinese, health checks off (the test checks when it wants), put
    back afterwards (one app serves the whole module)."""
    assert app.rpc("setHealthSettings", {"enabled": False})["success"]
    assert app.rpc("updateSettings", {"language": "zh-CN"})["success"]
    yield app
    assert app.rpc("updateSettings", {"language": "system"})["success"]
    assert app.rpc("setHealthSettings", {"enabled": True})["success"]


def seeded(app: RunningApp) -> dict[str, Any]:
    """Two providers (one answering, one refusing its key), a route over both, a conversation
    answered, one that ended in an error card, and a budget: what every screen shows."""
    groq = app.add_provider(name="groq", displayName="Groq")
    deepseek = app.add_provider(
        name="deepseek", displayName="DeepSeek", baseURL=f"{app.upstream.url}/bad/v1"
    )
    app.rpc("checkAllCustomProvidersHealth")
    route = app.rpc(
        "addRoute",
        {
            "name": "main",
            "displayName": "Groq",
            "strategy": "failover",
            "members": [deepseek["id"], groq["id"]],
        },
    )
    assert route["success"], route
    answer_plainly(app, "你好！有什么可以帮你？")
    answered = start_conversation(app, groq["id"], "用一句话介绍你自己")
    failed = post_chat(
        app,
        {
            "conversationId": None,
            "providerId": deepseek["id"],
            "message": {"role": "user", "content": "今天天气怎么样？"},
        },
    )
    assert not failed["success"] and failed["error"]["code"] == "AUTH_FAILED", failed
    budget = app.rpc("setBudget", groq["id"], {"amount": 10, "currency": "USD"})
    assert budget["success"], budget
    return {
        "groq": groq,
        "deepseek": deepseek,
        "answered": answered,
        "failed": failed["error"]["conversationId"],
    }


# What this test puts on the screens that stays as it is: its providers' and route's names, the
# words of the refusing upstream's own message (quoted as the provider sent it: script_rejecting)
# and the start of the key hints (`sk-…0000`).
SEEDED_NAMES = (
    "Groq",
    "DeepSeek",
    "groq",
    "deepseek",
    "main",
    MODEL,
    "Incorrect",
    "provided",
    "sk",
)


# An MCP URL where nothing listens (port 9, discard: refused on a test machine).
CLOSED_MCP_URL = "http://127.0.0.1:9/mcp"


def check(page: Any, name: str, allowed: tuple[str, ...] = ()) -> None:
    """No English word on the page; screenshots light and dark (1280x800)."""
    left = page_english(page, (*SEEDED_NAMES, *allowed))
    assert left == [], f"English left on {name}: {left}"
    for scheme in ("light", "dark"):
        emulate_scheme(page, scheme)
        screenshot(page, f"zh-{name}-{scheme}")
    emulate_scheme(page, "light")


def go(page: Any, hash_: str, ready: str) -> Any:
    page.evaluate(f"location.hash = '{hash_}'")
    view = page.locator(ready)
    view.wait_for()
    return view


def brand_words(app: RunningApp) -> tuple[str, ...]:
    """The words of the templates' display names (the add form's tiles name providers)."""
    templates = app.rpc("getProviderTemplates")["templates"]
    return tuple(w for t in templates for w in re.findall(r"[\w.]+", t["displayName"]))


def test_every_screen_and_dialog_speaks_chinese(page: Any, chinese: RunningApp) -> None:
    # Without motion: a dialog fading in is invisible to the scan (opacity) until its animation
    # ends, so a scan in the middle of one would miss its text.
    page.emulate_media(reduced_motion="reduce")
    data = seeded(chinese)
    reload_list(page)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    # The provider list, one card opened on its health chart.
    view = go(page, "#/providers", "providers-view")
    expect(view.locator(".view-title")).to_have_text(zh("providers.view.title"))
    card = view.locator("provider-card").filter(has=page.locator(".card-title", has_text="Groq"))
    card.get_by_role("button", name=zh("providers.card.action.details").format(name="Groq")).click()
    expect(card.locator("health-chart")).to_be_visible()
    check(page, "providers")

    # Adding: the templates, then the custom form refused with field errors.
    view.get_by_role("button", name=zh("providers.view.add")).click()
    form = page.locator("dialog.provider-dialog")
    expect(form).to_be_visible()
    check(page, "templates", brand_words(chinese))

    # "Paste a URL": the fake upstream detected, its evidence and probes opened.
    paste = form.locator("provider-paste")
    paste.get_by_label(zh("providers.paste.url.label")).fill(f"{chinese.upstream.url}/v1")
    paste.get_by_role("button", name=zh("providers.paste.detect")).click()
    expect(paste.locator(".paste-result")).to_be_visible()
    paste.locator(".paste-evidence summary").click()
    expect(paste.locator(".paste-attempts")).to_be_visible()
    check(page, "paste", brand_words(chinese))
    form.locator(".template-tile.is-blank").click()
    form.get_by_role("button", name=zh("providers.form.save.add")).click()
    expect(form.locator("[aria-invalid=true]").first).to_be_visible()
    check(page, "form-errors")

    # A connection test's result: the base URL of the fake upstream, the key it refuses.
    for section in form.locator("details.section").all():
        if section.get_attribute("open") is None:
            section.locator("summary").click()
    form.locator('input[name="displayName"]').fill("测试服务商")
    form.locator('input[name="baseURL"]').fill(f"{chinese.upstream.url}/bad/v1")
    form.locator('input[name="model"]').fill(MODEL)
    form.locator('input[name="apiKey"]').fill("sk-walkthrough-0000")
    form.get_by_role("button", name=zh("providers.form.test")).click()
    expect(form.locator("test-result")).to_contain_text("AUTH_FAILED")
    check(page, "test-result")
    page.keyboard.press("Escape")

    # Editing a saved provider.
    card.get_by_role("button", name=zh("providers.card.action.edit").format(name="Groq")).click()
    expect(form).to_be_visible()
    check(page, "edit-form")
    page.keyboard.press("Escape")

    # Import and export.
    for button in ("providers.view.import", "providers.view.export"):
        view.get_by_role("button", name=zh(button), exact=True).click()
        dialog = page.locator("dialog[open]")
        expect(dialog).to_be_visible()
        check(page, button.rsplit(".", 1)[1])
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)

    # A chat that ended in an error card, with the sidebar open.
    chat = go(page, f"#/chat/{data['failed']}", "chat-view[data-active][data-ready]")
    expect(chat.locator("chat-error").first).to_be_visible()
    expect(chat.locator("chat-error").first).to_contain_text("AUTH_FAILED")
    check(page, "chat-error")
    chat = go(page, f"#/chat/{data['answered']}", "chat-view[data-active][data-ready]")
    expect(chat.locator("chat-message.msg-assistant").first).to_contain_text("你好")
    check(page, "chat")

    # Searching the conversations.
    page.keyboard.press("Control+k")
    search = page.locator("dialog.search-dialog")
    expect(search).to_be_visible()
    search.locator("input").first.fill("天气")
    expect(search.locator("[role=option], li").first).to_be_visible()
    check(page, "search")
    page.keyboard.press("Escape")

    # Routes and the route form.
    routes = go(page, "#/routes", "routes-view")
    expect(routes.locator("route-card")).to_have_count(1)
    check(page, "routes")
    routes.get_by_role("button", name=zh("routes.view.add")).first.click()
    expect(page.locator("dialog[open]")).to_be_visible()
    check(page, "route-form")
    page.keyboard.press("Escape")

    # The tools screen: an HTTP tool server nobody answers (its error in Chinese), and the form.
    added = chinese.rpc(
        "addMcpServer",
        {"name": "remote", "displayName": "远程工具", "transport": "http", "url": CLOSED_MCP_URL},
    )
    assert added["success"], added
    tools = go(page, "#/tools", "mcp-view[data-ready]")
    server = tools.locator("mcp-server-card")
    expect(server).to_have_attribute("data-status", "failed", timeout=20_000)
    # The reason is quoted as the HTTP library said it ("All connection attempts failed").
    unreachable = ("remote", "All", "connection", "attempts", "failed")
    check(page, "tools", unreachable)
    tools.get_by_role("button", name=zh("mcp.view.add")).click()
    expect(page.locator("dialog.mcp-dialog")).to_be_visible()
    # Program names in the command's help ("for example npx, uvx, node or a full path").
    check(page, "tools-form", (*unreachable, "npx", "uvx", "node"))
    page.keyboard.press("Escape")
    assert chinese.rpc("removeMcpServer", added["id"])["success"]

    # Usage, settings, about, and the shortcuts sheet.
    go(page, "#/usage", "usage-view[data-ready]")
    expect(page.locator("usage-chart")).to_be_visible()
    check(page, "usage")
    go(page, "#/settings", "settings-view")
    expect(page.locator("settings-view .view-title")).to_have_text(zh("settings.heading"))
    check(page, "settings")
    go(page, "#/about", "about-view")
    check(page, "about")
    page.locator("body").press("?")
    expect(page.locator("dialog[open]")).to_be_visible()
    check(page, "shortcuts")
    page.keyboard.press("Escape")
