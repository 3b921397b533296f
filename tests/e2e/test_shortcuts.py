"""The app's keyboard shortcuts in a browser tab (`miaoda serve`): each key does its thing from
the shell, Esc leaves an open dialog to close first, and `?` lists what works here — Alt+N
instead of Ctrl+N, which a browser keeps for a new window — but types a "?" in a field."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    CHAT_PATH,
    RunningApp,
    answer_plainly,
    chat_reply,
    last_reply,
    open_chat,
    send_message,
    start_conversation,
)

pytestmark = pytest.mark.browser


def sheet(page: Any) -> Any:
    return page.locator("dialog.shortcuts-sheet")


def keys_of(page: Any, shortcut: str) -> Any:
    """The keys the open sheet lists for `shortcut` (its data-shortcut id)."""
    return sheet(page).locator(f"[data-shortcut={shortcut}] kbd")


def test_ctrl_comma_opens_the_settings_from_any_view(page: Any) -> None:
    page.keyboard.press("Control+Comma")
    expect(page.locator("settings-view .view-title")).to_be_visible()
    expect(page).to_have_title("Settings — MiaoDa Chat")
    assert page.url.endswith("#/settings")


def test_alt_n_starts_a_new_conversation_from_another_view(page: Any, app: RunningApp) -> None:
    answer_plainly(app)
    provider = app.add_provider()
    conversation = start_conversation(app, provider["id"], "An older question")
    open_chat(page)
    page.evaluate(f"location.hash = '#/chat/{conversation}'")
    expect(page.locator("chat-message.msg-user")).to_contain_text("An older question")
    page.get_by_role("link", name="Providers", exact=True).click()

    page.keyboard.press("Alt+n")
    expect(page.locator("chat-view")).to_be_visible()
    assert page.url.endswith("#/chat/new")
    expect(page.locator("chat-message")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()


def test_ctrl_k_opens_the_conversation_search_from_another_view(page: Any) -> None:
    page.keyboard.press("Control+k")
    expect(page.locator("dialog.search-dialog[open]")).to_be_visible()
    expect(page.locator("chat-view")).to_be_visible()


def test_ctrl_shift_c_copies_the_last_reply(page: Any, app: RunningApp, context: Any) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    answer_plainly(app, "The **last** reply.")
    provider = app.add_provider()
    conversation = start_conversation(app, provider["id"], "Say something")
    open_chat(page)
    page.evaluate(f"location.hash = '#/chat/{conversation}'")
    expect(last_reply(page)).to_contain_text("The last reply.")

    page.keyboard.press("Control+Shift+C")
    expect(page.locator("toast-region .toast-success")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "The **last** reply."


def test_escape_closes_an_open_dialog_before_it_stops_a_reply(page: Any, app: RunningApp) -> None:
    app.add_provider()
    open_chat(page)
    app.upstream.script(CHAT_PATH, chat_reply([f"w{i} " for i in range(40)], delay=0.25))
    send_message(page, "Go on")
    reply = last_reply(page)
    expect(reply.locator(".msg-content")).to_contain_text("w1")

    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(sheet(page)).to_be_visible()
    page.keyboard.press("Escape")
    expect(sheet(page)).to_have_count(0)
    expect(reply).to_have_attribute("data-status", "streaming")

    page.locator("chat-view .view-title").focus()  # not the composer: the shell's Esc
    page.keyboard.press("Escape")
    assert app.upstream.wait_for_disconnect(timeout=5) is not None
    expect(reply).to_have_attribute("data-status", "stopped")


def test_question_mark_lists_the_shortcuts_that_work_in_a_browser(page: Any) -> None:
    page.keyboard.press("?")
    expect(sheet(page)).to_be_visible()
    expect(sheet(page).locator(".dialog-title")).to_have_text("Keyboard shortcuts")
    listed = {
        "newConversation": "Alt+N",
        "search": "Ctrl+K",
        "settings": "Ctrl+,",
        "copyLastReply": "Ctrl+Shift+C",
        "stop": "Esc",
        "shortcuts": "?",
        "send": "Enter",
        "newLine": "Shift+Enter",
    }
    for shortcut, keys in listed.items():
        expect(keys_of(page, shortcut)).to_have_text(keys)
    expect(sheet(page).locator(".shortcut-note")).to_have_text(
        "In a browser, Ctrl+N opens a new browser window, so a new conversation is Alt+N here."
    )
    page.keyboard.press("Escape")
    expect(sheet(page)).to_have_count(0)


def test_the_sheet_lists_the_send_key_the_settings_chose(page: Any, app: RunningApp) -> None:
    try:
        assert app.rpc("updateSettings", {"sendKey": "ctrl-enter"})["success"]
        page.reload()
        page.locator("providers-view .view-subtitle").filter(has_not_text="Loading").wait_for()
        page.get_by_role("button", name="Keyboard shortcuts").click()
        expect(keys_of(page, "send")).to_have_text("Ctrl+Enter")
        expect(keys_of(page, "newLine")).to_have_text("Enter")
    finally:
        assert app.rpc("updateSettings", {"sendKey": "enter"})["success"]


def test_a_question_mark_typed_in_a_field_is_text(page: Any, app: RunningApp) -> None:
    app.add_provider()
    open_chat(page)
    composer = page.get_by_role("textbox", name="Message")
    composer.click()
    page.keyboard.type("Why?")
    expect(composer).to_have_value("Why?")
    expect(sheet(page)).to_have_count(0)
