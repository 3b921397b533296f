"""The chat thread on stored conversations (CONTRACT §9): a new conversation is stored by its
first message and named in the URL, it is found again after a switch and a reload, edits and
regenerates become siblings to move between, a failed turn can be deleted, the system prompt and
the chosen model reach the provider, the export escapes what it holds, a reload during a stream
leaves the reply "Stopped", and the unsent draft survives a reload. The nav's "Chat" brings back
the conversation left; a send answers the branch shown; another tab's reply is followed to its
end, and a send while it streams is refused with a card that says so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    CHAT_PATH,
    XSS,
    RunningApp,
    chat_reply,
    last_reply,
    open_chat,
    reload_chat,
    reload_list,
    screenshot_matrix,
    send_message,
)

pytestmark = pytest.mark.browser

HASH = re.compile(r"#/chat/([^?/]+)$")


@pytest.fixture
def chat(page: Any, app: RunningApp) -> Any:
    """The chat view, on a new conversation, with one provider (Groq at the fake upstream)."""
    app.add_provider(name="groq", displayName="Groq")
    open_chat(page)
    return page


def conversation_id(page: Any) -> str:
    """The id the URL hash names (it is set once the first message is stored)."""
    expect(page).to_have_url(HASH)
    match = HASH.search(page.url)
    assert match
    return match.group(1)


def ask(page: Any, text: str) -> Any:
    """Send `text` and wait for the reply to finish; returns the reply."""
    send_message(page, text)
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", re.compile("done|error|stopped"))
    return reply


def stored(app: RunningApp) -> list[dict[str, Any]]:
    """The conversations the app has stored."""
    listed = app.rpc("listConversations")
    assert listed["success"], listed
    conversations: list[dict[str, Any]] = listed["conversations"]
    return conversations


def bubbles(page: Any) -> list[str]:
    """The user messages shown, in order."""
    texts: list[str] = page.locator("chat-message.msg-user .msg-bubble").all_inner_texts()
    return texts


def another_tab(context: Any, app: RunningApp, conversation: str) -> Any:
    """A second tab of the app (as a second window would be) showing `conversation`."""
    tab = context.new_page()
    tab.goto(app.url)
    tab.locator("providers-view .view-subtitle").filter(has_not_text="Loading").wait_for()
    tab.evaluate(f"location.hash = '#/chat/{conversation}'")
    shown = f'chat-view[data-active][data-ready][data-conversation-id="{conversation}"]'
    tab.locator(shown).wait_for()
    return tab


def test_the_first_message_stores_a_new_conversation_and_names_it_in_the_url(
    chat: Any, app: RunningApp
) -> None:
    assert stored(app) == []
    entries = chat.evaluate("history.length")
    ask(chat, "Hello there")

    cid = conversation_id(chat)
    conversations = stored(app)
    assert [c["id"] for c in conversations] == [cid]
    assert conversations[0]["messageCount"] == 2
    got = app.rpc("getConversation", cid)
    assert [m["content"] for m in got["messages"]] == ["Hello there", "Hello!"]
    ids = chat.locator("chat-message").evaluate_all("els => els.map(e => e.dataset.messageId)")
    assert ids == [m["id"] for m in got["messages"]]
    # The hash was replaced without a reload, and the focus stayed in the composer.
    assert chat.evaluate("history.length") == entries
    expect(chat.get_by_role("textbox", name="Message")).to_be_focused()
    # The next message goes to the same conversation, with the stored history.
    ask(chat, "Again")
    assert len(stored(app)) == 1
    sent = app.upstream.requests_to(CHAT_PATH)[-1].json["messages"]
    assert [m["content"] for m in sent] == ["Hello there", "Hello!", "Again"]


def test_switching_conversations_shows_each_and_new_conversation_keeps_the_old(
    chat: Any, app: RunningApp
) -> None:
    ask(chat, "First conversation")
    first = conversation_id(chat)
    chat.get_by_role("link", name="New conversation").first.click()
    expect(chat.locator("chat-message")).to_have_count(0)
    expect(chat.locator(".chat-welcome")).to_contain_text("Chat with Groq")
    ask(chat, "Second conversation")
    second = conversation_id(chat)
    assert first != second
    assert {c["id"] for c in stored(app)} == {first, second}

    chat.evaluate(f"location.hash = '#/chat/{first}'")
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text(["First conversation"])
    chat.evaluate(f"location.hash = '#/chat/{second}'")
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text(["Second conversation"])
    # The second one's history does not hold the first.
    ask(chat, "Still here?")
    sent = app.upstream.requests_to(CHAT_PATH)[-1].json["messages"]
    assert [m["content"] for m in sent] == ["Second conversation", "Hello!", "Still here?"]


def test_a_reload_finds_the_conversation(chat: Any, app: RunningApp) -> None:
    app.upstream.script(CHAT_PATH, chat_reply(["Kept ", "for ", "later."], usage=(9, 3)))
    ask(chat, "Keep this")
    cid = conversation_id(chat)
    reload_chat(chat)
    expect(chat).to_have_url(re.compile(f"#/chat/{cid}$"))
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text(["Keep this"])
    reply = last_reply(chat)
    expect(reply.locator(".msg-content")).to_have_text("Kept for later.")
    expect(reply.locator(".msg-author")).to_have_text("Groq")
    expect(reply.locator(".msg-model")).to_have_text("fake-model")
    expect(reply.locator(".stat-tokens dd")).to_have_text("9 in · 3 out")


def test_an_unknown_conversation_says_it_no_longer_exists(chat: Any) -> None:
    chat.evaluate("location.hash = '#/chat/no-such-conversation'")
    missing = chat.locator(".chat-missing")
    expect(missing).to_contain_text("This conversation no longer exists")
    expect(chat.get_by_role("textbox", name="Message")).to_be_disabled()
    screenshot_matrix(chat, "thread-missing")
    missing.get_by_role("link", name="New conversation").click()
    expect(chat.locator(".chat-welcome")).to_be_visible()
    expect(chat.get_by_role("textbox", name="Message")).to_be_enabled()


def test_editing_a_message_makes_a_branch_and_both_stay(chat: Any, app: RunningApp) -> None:
    app.upstream.script(
        CHAT_PATH, chat_reply(["Paris."]), chat_reply(["Rome."]), chat_reply(["Berlin."])
    )
    ask(chat, "Capital of France?")
    ask(chat, "And of Italy?")
    cid = conversation_id(chat)

    user = chat.locator("chat-message.msg-user").last
    user.hover()
    user.get_by_role("button", name="Edit").click()
    editor = user.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("And of Italy?")
    editor.fill("And of Germany?")
    screenshot_matrix(chat, "thread-editing")
    editor.press("Enter")

    expect(last_reply(chat).locator(".msg-content")).to_have_text("Berlin.")
    assert bubbles(chat) == ["Capital of France?", "And of Germany?"]
    nav = chat.locator("chat-message.msg-user").last.locator("chat-sibling-nav")
    expect(nav.locator(".sibling-count")).to_have_text("2/2")
    sent = app.upstream.requests_to(CHAT_PATH)[-1].json["messages"]
    assert [m["content"] for m in sent] == ["Capital of France?", "Paris.", "And of Germany?"]

    nav.get_by_role("button", name="Previous version").click()
    expect(last_reply(chat).locator(".msg-content")).to_have_text("Rome.")
    assert bubbles(chat) == ["Capital of France?", "And of Italy?"]
    expect(nav.locator(".sibling-count")).to_have_text("1/2")
    screenshot_matrix(chat, "thread-branch")
    # The choice is stored: a reload shows the same branch.
    reload_chat(chat)
    expect(last_reply(chat).locator(".msg-content")).to_have_text("Rome.")
    assert app.rpc("getConversation", cid)["messages"][-1]["content"] == "Rome."

    chat.locator("chat-message.msg-user").last.get_by_role("button", name="Next version").click()
    expect(last_reply(chat).locator(".msg-content")).to_have_text("Berlin.")


def test_regenerate_adds_a_sibling_reply_to_switch_between(chat: Any, app: RunningApp) -> None:
    app.upstream.script(CHAT_PATH, chat_reply(["One answer."]), chat_reply(["Another answer."]))
    reply = ask(chat, "Tell me a fact")
    reply.hover()
    reply.get_by_role("button", name="Regenerate").click()

    expect(last_reply(chat).locator(".msg-content")).to_have_text("Another answer.")
    nav = last_reply(chat).locator("chat-sibling-nav")
    expect(nav.locator(".sibling-count")).to_have_text("2/2")
    assert bubbles(chat) == ["Tell me a fact"]
    sent = app.upstream.requests_to(CHAT_PATH)[-1].json["messages"]
    assert [m["content"] for m in sent] == ["Tell me a fact"]

    nav.get_by_role("button", name="Previous version").click()
    expect(last_reply(chat).locator(".msg-content")).to_have_text("One answer.")
    expect(last_reply(chat).locator(".sibling-count")).to_have_text("1/2")
    expect(last_reply(chat).get_by_role("button", name="Next version")).to_be_focused()
    cid = conversation_id(chat)
    assert app.rpc("getConversation", cid)["conversation"]["messageCount"] == 3


def test_a_failed_turn_can_be_deleted(chat: Any, app: RunningApp) -> None:
    app.upstream.script(CHAT_PATH, chat_reply(["Fine."]), chat_reply(["Half"], close_after=2))
    ask(chat, "Works")
    reply = ask(chat, "Breaks")
    expect(reply).to_have_attribute("data-status", "error")
    cid = conversation_id(chat)
    assert app.rpc("getConversation", cid)["conversation"]["messageCount"] == 4
    screenshot_matrix(chat, "thread-failed-turn")

    reply.get_by_role("button", name="Delete").click()
    expect(chat.locator("chat-message")).to_have_count(2)
    assert bubbles(chat) == ["Works"]
    # Its text comes back into the composer, to send again or change.
    expect(chat.get_by_role("textbox", name="Message")).to_have_value("Breaks")
    got = app.rpc("getConversation", cid)
    assert got["conversation"]["messageCount"] == 2
    assert [m["content"] for m in got["messages"]] == ["Works", "Fine."]


def test_the_system_prompt_is_sent_first_and_remembered(chat: Any, app: RunningApp) -> None:
    prompt = chat.locator("chat-system-prompt")
    expect(prompt.locator(".system-summary-text")).to_contain_text("None")
    prompt.locator("summary").click()
    field = chat.get_by_role("textbox", name="System prompt")
    expect(field).to_be_focused()
    field.fill("Answer like a pirate.")
    field.press("Enter")
    # A new conversation is stored at once, so the prompt has somewhere to live.
    cid = conversation_id(chat)
    expect(prompt.locator(".system-summary-text")).to_have_text("Answer like a pirate.")
    assert (
        app.rpc("getConversation", cid)["conversation"]["systemPrompt"] == "Answer like a pirate."
    )
    screenshot_matrix(chat, "thread-system-prompt")

    ask(chat, "Hello")
    assert conversation_id(chat) == cid
    sent = app.upstream.requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "Answer like a pirate."}
    assert sent[1] == {"role": "user", "content": "Hello"}

    reload_chat(chat)
    expect(prompt.locator(".system-summary-text")).to_have_text("Answer like a pirate.")
    expect(prompt.locator("details")).not_to_have_attribute("open", "")
    # Changed on blur.
    prompt.locator("summary").click()
    field.fill("Answer briefly.")
    chat.get_by_role("textbox", name="Message").focus()
    expect(prompt.locator(".system-summary-text")).to_have_text("Answer briefly.")
    ask(chat, "Again")
    assert app.upstream.requests[-1].json["messages"][0]["content"] == "Answer briefly."


def test_another_model_of_the_provider_is_sent_and_remembered(chat: Any, app: RunningApp) -> None:
    model = chat.get_by_role("combobox", name="Model")
    expect(model).to_have_value("fake-model")
    model.click()
    model.press("ArrowDown")
    options = chat.locator("model-picker [role=option]")
    expect(options).to_have_count(3)  # the fake upstream lists three models
    expect(options.first).to_contain_text("default")
    screenshot_matrix(chat, "thread-model-picker")
    options.filter(has_text="llama-3.3-70b-versatile").click()
    expect(model).to_have_value("llama-3.3-70b-versatile")

    reply = ask(chat, "Which model are you?")
    assert app.upstream.requests_to(CHAT_PATH)[-1].json["model"] == "llama-3.3-70b-versatile"
    expect(reply.locator(".msg-model")).to_have_text("llama-3.3-70b-versatile")
    cid = conversation_id(chat)
    assert app.rpc("getConversation", cid)["conversation"]["model"] == "llama-3.3-70b-versatile"

    # Free text: a model the list does not name.
    model.fill("my-finetune")
    model.press("Enter")
    ask(chat, "And now?")
    assert app.upstream.requests_to(CHAT_PATH)[-1].json["model"] == "my-finetune"
    reload_chat(chat)
    expect(chat.get_by_role("combobox", name="Model")).to_have_value("my-finetune")


def test_an_xss_message_stays_text_and_is_escaped_in_the_markdown_export(
    chat: Any, app: RunningApp, tmp_path: Path
) -> None:
    ask(chat, XSS)
    bubble = chat.locator("chat-message.msg-user .msg-bubble")
    expect(bubble).to_have_text(XSS)
    assert bubble.locator("img").count() == 0

    chat.get_by_role("button", name="Export").click()
    expect(chat.get_by_role("menuitem", name=re.compile("Markdown"))).to_be_visible()
    screenshot_matrix(chat, "thread-export-markdown")
    with chat.expect_download() as info:
        chat.get_by_role("menuitem", name=re.compile("Markdown")).click()
    download = info.value
    assert download.suggested_filename.endswith(".md")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    text = target.read_text(encoding="utf-8")
    assert XSS not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "Hello!" in text


def test_a_reload_during_a_stream_shows_the_partial_reply_stopped(
    chat: Any, app: RunningApp
) -> None:
    app.upstream.script(CHAT_PATH, chat_reply([f"part{i} " for i in range(40)], delay=0.25))
    send_message(chat, "Write slowly")
    expect(last_reply(chat).locator(".msg-content")).to_contain_text("part2")
    cid = conversation_id(chat)

    chat.reload()
    chat.locator("chat-view[data-active][data-ready]").wait_for()
    reply = last_reply(chat)
    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".msg-flag")).to_have_text("Stopped")
    expect(reply.locator(".msg-content")).to_contain_text("part0 part1 part2")
    expect(chat.locator(".chat-error")).to_have_count(0)
    assert app.upstream.wait_for_disconnect(timeout=5) is not None
    stored_reply = app.rpc("getConversation", cid)["messages"][-1]
    assert stored_reply["finishReason"] == "cancelled"
    screenshot_matrix(chat, "thread-stopped")


def test_the_draft_survives_a_reload(chat: Any, app: RunningApp) -> None:
    box = chat.get_by_role("textbox", name="Message")
    box.fill("Half-written thought")
    reload_chat(chat)
    expect(chat.get_by_role("textbox", name="Message")).to_have_value("Half-written thought")
    box.press("Enter")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    cid = conversation_id(chat)
    # Sending cleared it; the stored conversation keeps its own draft.
    chat.get_by_role("textbox", name="Message").fill("Next one")
    reload_chat(chat)
    expect(chat).to_have_url(re.compile(f"#/chat/{cid}$"))
    expect(chat.get_by_role("textbox", name="Message")).to_have_value("Next one")
    chat.evaluate("location.hash = '#/chat/new'")
    expect(chat.get_by_role("textbox", name="Message")).to_have_value("")


def test_a_link_to_a_message_on_another_branch_opens_that_branch(
    chat: Any, app: RunningApp
) -> None:
    app.upstream.script(CHAT_PATH, chat_reply(["Old reply."]), chat_reply(["New reply."]))
    reply = ask(chat, "Question")
    old_id = reply.get_attribute("data-message-id")
    reply.get_by_role("button", name="Regenerate").click()
    expect(last_reply(chat).locator(".msg-content")).to_have_text("New reply.")
    cid = conversation_id(chat)

    chat.evaluate(f"location.hash = '#/chat/{cid}?m={old_id}'")
    shown = chat.locator(f'chat-message[data-message-id="{old_id}"]')
    expect(shown.locator(".msg-content")).to_have_text("Old reply.")
    expect(shown).to_have_class(re.compile("is-highlighted"))
    expect(shown.locator(".sibling-count")).to_have_text("1/2")
    screenshot_matrix(chat, "thread-message-link")
    assert app.rpc("getConversation", cid)["messages"][-1]["id"] == old_id


def test_a_send_right_after_opening_another_branch_answers_that_branch(
    chat: Any, app: RunningApp
) -> None:
    app.upstream.script(
        CHAT_PATH,
        chat_reply(["Old reply."]),
        chat_reply(["New reply."]),
        chat_reply(["More on the old one."]),
    )
    reply = ask(chat, "Question")
    old_id = reply.get_attribute("data-message-id")
    reply.get_by_role("button", name="Regenerate").click()
    expect(last_reply(chat).locator(".msg-content")).to_have_text("New reply.")
    cid = conversation_id(chat)
    # Storing the branch opened as the current one is slow this time.
    held: list[Any] = []
    chat.route("**/api/rpc/updateConversation", lambda route: held.append(route), times=1)
    chat.evaluate(f"location.hash = '#/chat/{cid}?m={old_id}'")
    expect(last_reply(chat).locator(".msg-content")).to_have_text("Old reply.")

    send_message(chat, "Tell me more")
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text(
        ["Question", "Tell me more"]
    )
    assert len(held) == 1
    held[0].continue_()
    expect(last_reply(chat).locator(".msg-content")).to_have_text("More on the old one.")
    sent = app.upstream.requests_to(CHAT_PATH)[-1].json["messages"]
    assert [m["content"] for m in sent] == ["Question", "Old reply.", "Tell me more"]
    # The reply is the current leaf: the branch choice, saved first, did not overwrite it.
    reload_chat(chat)
    expect(last_reply(chat).locator(".msg-content")).to_have_text("More on the old one.")


def test_the_nav_chat_item_brings_back_the_conversation_left(chat: Any, app: RunningApp) -> None:
    ask(chat, "Remember me")
    cid = conversation_id(chat)
    nav_chat = chat.get_by_role("link", name="Chat", exact=True)
    chat.get_by_role("link", name="Providers", exact=True).click()
    nav_chat.click()
    expect(chat).to_have_url(re.compile(f"#/chat/{cid}$"))
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text(["Remember me"])

    # The browser remembers it across a reload.
    chat.get_by_role("link", name="Providers", exact=True).click()
    reload_list(chat)
    nav_chat.click()
    expect(chat).to_have_url(re.compile(f"#/chat/{cid}$"))
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text(["Remember me"])

    # "New conversation" is the way to a new one, and then that is the one left.
    chat.get_by_role("link", name="New conversation").first.click()
    chat.get_by_role("textbox", name="Message").fill("A thought for later")
    chat.get_by_role("link", name="Providers", exact=True).click()
    nav_chat.click()
    expect(chat).to_have_url(re.compile(r"#/chat$"))
    expect(chat.get_by_role("textbox", name="Message")).to_have_value("A thought for later")


def test_the_nav_chat_item_opens_a_new_conversation_when_the_one_left_is_gone(
    chat: Any, app: RunningApp
) -> None:
    ask(chat, "Short-lived")
    cid = conversation_id(chat)
    chat.get_by_role("link", name="Providers", exact=True).click()
    assert app.rpc("deleteConversation", cid)["success"]  # in another window
    reload_list(chat)
    chat.get_by_role("link", name="Chat", exact=True).click()
    expect(chat.locator(".chat-welcome")).to_be_visible()
    expect(chat).to_have_url(re.compile(r"#/chat$"))
    expect(chat.locator(".chat-missing")).to_have_count(0)


def test_a_send_while_another_tab_streams_is_refused_until_that_reply_is_done(
    chat: Any, app: RunningApp, context: Any
) -> None:
    app.upstream.script(
        CHAT_PATH,
        chat_reply([f"part{i} " for i in range(24)], delay=0.25),
        chat_reply(["Your turn now."]),
    )
    send_message(chat, "A long answer, please")
    expect(last_reply(chat).locator(".msg-content")).to_contain_text("part0")
    cid = conversation_id(chat)
    other = another_tab(context, app, cid)
    expect(last_reply(other)).to_have_attribute("data-status", "pending")

    send_message(other, "Me too")
    error = last_reply(other).locator(".chat-error")
    expect(error.locator(".chat-error-title")).to_have_text(
        "Still answering in another window or tab — retry once that reply is done"
    )
    expect(error.locator(".error-code")).to_have_text("BAD_REQUEST")
    expect(error.get_by_role("link", name="Edit provider")).to_have_count(0)
    screenshot_matrix(other, "thread-busy")

    # The first reply is followed to its end in the other tab too; then Retry sends the message.
    first = other.locator("chat-message.msg-assistant").first
    expect(first).to_have_attribute("data-status", "done", timeout=15_000)
    error.get_by_role("button", name="Retry").click()
    expect(last_reply(other).locator(".msg-content")).to_have_text("Your turn now.")
    messages = app.rpc("getConversation", cid)["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert users == ["A long answer, please", "Me too"]


@pytest.mark.slow
def test_a_reply_written_in_another_tab_is_followed_until_it_ends(
    chat: Any, app: RunningApp, context: Any
) -> None:
    """However long it takes (here 25 s, well past the 16 s the page used to give up after):
    the other tab reads it again, less and less often, and stops reading while it shows
    another conversation."""
    app.upstream.script(CHAT_PATH, chat_reply([f"w{i} " for i in range(50)], delay=0.5))
    send_message(chat, "Take your time")
    expect(last_reply(chat).locator(".msg-content")).to_contain_text("w0")
    cid = conversation_id(chat)
    other = another_tab(context, app, cid)
    reply = last_reply(other)
    expect(reply).to_have_attribute("data-status", "pending")
    expect(reply.locator(".msg-progress")).to_have_text("Still being written…")

    reads: list[str] = []
    other.on("request", lambda r: reads.append(r.url) if "getConversation" in r.url else None)
    other.evaluate("location.hash = '#/chat/new'")
    expect(other.locator(".chat-welcome")).to_be_visible()
    other.wait_for_timeout(2_000)
    assert reads == []

    other.evaluate(f"location.hash = '#/chat/{cid}'")
    reply = last_reply(other)
    expect(reply).to_have_attribute("data-status", "done", timeout=40_000)
    expect(reply.locator(".msg-content")).to_contain_text("w49")
