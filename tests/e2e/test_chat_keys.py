"""The chat view and the keyboard: the send key setting (Enter, or Ctrl+Enter) in the composer
and the inline editor, and the methods the app's shortcuts call on <chat-view>:
`newConversation()`, `copyLastReply()` and `stop()`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    CHAT_PATH,
    RunningApp,
    chat_reply,
    last_reply,
    open_chat,
    reload_chat,
    send_message,
)

pytestmark = pytest.mark.browser

# The settings service of the page (the same module instance the app uses).
UPDATE_SETTINGS = """async (partial) => {
  const { settingsService } = await import("/js/services/settings-service.js");
  return (await settingsService.update(partial)).success;
}"""


@pytest.fixture
def chat(page: Any, app: RunningApp) -> Iterator[Any]:
    """The chat view with one provider (Groq, at the fake upstream) chosen; the send key is put
    back to Enter and the language to English afterwards (the app, and its settings, serve the
    whole module)."""
    app.add_provider(name="groq", displayName="Groq")
    open_chat(page)
    yield page
    assert app.rpc("updateSettings", {"sendKey": "enter", "language": "en"})["success"]


def composer(page: Any) -> Any:
    return page.get_by_role("textbox", name="Message")


def call_view(page: Any, method: str) -> Any:
    """Call `method` of <chat-view> (as the shell's shortcuts do) and return what it returned."""
    return page.evaluate(f"() => document.querySelector('chat-view').{method}()")


# --- the send key -------------------------------------------------------------------------------


def test_with_ctrl_enter_as_the_send_key_enter_starts_a_new_line(
    chat: Any, app: RunningApp
) -> None:
    assert app.rpc("updateSettings", {"sendKey": "ctrl-enter"})["success"]
    reload_chat(chat)
    expect(chat.locator(".composer-hint")).to_have_text("Ctrl+Enter to send · Enter for a new line")
    expect(chat.get_by_role("button", name="Send")).to_have_attribute("title", "Send (Ctrl+Enter)")

    box = composer(chat)
    box.fill("line one")
    box.press("Enter")
    box.press_sequentially("line two")
    expect(box).to_have_value("line one\nline two")
    assert app.upstream.requests_to(CHAT_PATH) == []

    box.press("Control+Enter")
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text("line one\nline two")
    expect(box).to_have_value("")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")


def test_the_send_key_follows_the_setting_without_a_reload(chat: Any, app: RunningApp) -> None:
    hint = chat.locator(".composer-hint")
    expect(hint).to_have_text("Enter to send · Shift+Enter for a new line")

    assert chat.evaluate(UPDATE_SETTINGS, {"sendKey": "ctrl-enter"})
    expect(hint).to_have_text("Ctrl+Enter to send · Enter for a new line")
    box = composer(chat)
    box.fill("first")
    box.press("Enter")
    expect(box).to_have_value("first\n")

    assert chat.evaluate(UPDATE_SETTINGS, {"sendKey": "enter"})
    expect(hint).to_have_text("Enter to send · Shift+Enter for a new line")
    box.press("Enter")
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text("first")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    assert app.rpc("getSettings")["settings"]["sendKey"] == "enter"


def test_in_chinese_the_hint_names_the_same_keys(chat: Any, app: RunningApp) -> None:
    settings = {"sendKey": "ctrl-enter", "language": "zh-CN"}
    assert app.rpc("updateSettings", settings)["success"]
    reload_chat(chat)
    expect(chat.locator(".composer-hint")).to_have_text("Ctrl+Enter 发送 · Enter 换行")
    expect(chat.get_by_role("button", name="发送")).to_have_attribute("title", "发送（Ctrl+Enter）")


def test_the_inline_editor_sends_with_the_send_key_too(chat: Any, app: RunningApp) -> None:
    send_message(chat, "Original")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    assert chat.evaluate(UPDATE_SETTINGS, {"sendKey": "ctrl-enter"})

    chat.locator("chat-message.msg-user").get_by_role("button", name="Edit").click()
    editor = chat.get_by_role("textbox", name="Edit your message")
    editor.fill("Edited")
    editor.press("Enter")
    expect(editor).to_have_value("Edited\n")
    editor.press("Control+Enter")
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text("Edited")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    assert app.upstream.requests_to(CHAT_PATH)[-1].json["messages"] == [
        {"role": "user", "content": "Edited"}
    ]


# --- the shortcuts' methods -----------------------------------------------------------------------


def test_copy_last_reply_copies_the_newest_reply_and_says_so(
    chat: Any, app: RunningApp, context: Any
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    app.upstream.script(
        CHAT_PATH, chat_reply(["The first reply."]), chat_reply(["The *second* one."])
    )
    send_message(chat, "One")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    send_message(chat, "Two")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")

    assert call_view(chat, "copyLastReply") is True
    assert chat.evaluate("navigator.clipboard.readText()") == "The *second* one."
    expect(chat.locator("toast-region .toast")).to_contain_text("Copied")


def test_copy_last_reply_without_a_reply_copies_nothing(chat: Any, context: Any) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    chat.evaluate("navigator.clipboard.writeText('kept')")

    assert call_view(chat, "copyLastReply") is False
    assert chat.evaluate("navigator.clipboard.readText()") == "kept"
    expect(chat.locator("toast-region .toast")).to_contain_text("There is no reply to copy yet")


def test_stop_stops_the_streaming_reply_and_says_whether_there_was_one(
    chat: Any, app: RunningApp
) -> None:
    assert call_view(chat, "stop") is False  # nothing streams yet
    app.upstream.script(CHAT_PATH, chat_reply([f"w{i} " for i in range(30)], delay=0.25))
    send_message(chat, "Go on")
    reply = last_reply(chat)
    expect(reply.locator(".msg-content")).to_contain_text("w1")

    assert call_view(chat, "stop") is True
    assert app.upstream.wait_for_disconnect(timeout=5) is not None
    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".msg-flag")).to_have_text("Stopped")
    assert call_view(chat, "stop") is False


def test_new_conversation_from_another_view_opens_an_empty_one_ready_to_write(
    chat: Any, app: RunningApp
) -> None:
    send_message(chat, "Keep me")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    chat.evaluate("location.hash = '#/providers'")
    expect(chat.locator("chat-view")).to_be_hidden()

    call_view(chat, "newConversation")
    expect(chat.locator("chat-view")).to_have_attribute("data-thread", "new")
    assert chat.evaluate("location.hash") == "#/chat/new"
    expect(chat.locator("chat-message")).to_have_count(0)
    expect(composer(chat)).to_be_focused()
    assert [c["messageCount"] for c in app.rpc("listConversations")["conversations"]] == [2]
