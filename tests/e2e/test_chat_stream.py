"""The chat view streaming replies from a fake upstream: progressive text, markdown, reasoning,
tool calls, Stop, the history each turn sends, and model output that tries to run script."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    CHAT_PATH,
    PageWatch,
    RunningApp,
    chat_reply,
    last_reply,
    open_chat,
    reload_chat,
    screenshot,
    send_message,
)

pytestmark = pytest.mark.browser


def first_paint(page: Any, snapshot: str) -> Any:
    """The first non-null `snapshot(reply)` of the newest reply, checked every animation frame."""
    script = f"""() => {{
      const reply = [...document.querySelectorAll('chat-message.msg-assistant')].pop();
      return reply ? ({snapshot})(reply) : null;
    }}"""
    return page.wait_for_function(script, polling="raf").json_value()


@pytest.fixture
def chat(page: Any, app: RunningApp) -> Any:
    """The chat view with one provider (Groq, at the fake upstream) chosen."""
    app.add_provider(name="groq", displayName="Groq")
    open_chat(page)
    return page


def test_a_reply_shows_its_text_while_it_is_still_streaming(chat: Any, app: RunningApp) -> None:
    pieces = ["Streaming ", "shows ", "each piece ", "as it ", "arrives."]
    app.upstream.script(CHAT_PATH, chat_reply(pieces, delay=0.2))
    send_message(chat, "Tell me something")

    # Checked on every animation frame, so the first paint of the reply is what we see.
    seen = first_paint(
        chat,
        """reply => {
          const text = reply.querySelector('.msg-content').textContent.trim();
          return text ? {text, status: reply.dataset.status} : null;
        }""",
    )
    final = "Streaming shows each piece as it arrives."
    assert seen["status"] == "streaming"
    assert seen["text"].startswith("Streaming") and final.startswith(seen["text"])
    assert seen["text"] != final
    expect(chat.get_by_role("button", name="Stop")).to_be_visible()
    screenshot(chat, "chat-streaming-1280")

    reply = last_reply(chat)
    expect(reply).to_have_attribute("data-status", "done", timeout=8_000)
    expect(reply.locator(".msg-content")).to_have_text(final)
    expect(chat.get_by_role("button", name="Send")).to_be_visible()


def test_a_finished_reply_shows_first_token_time_tokens_and_total(
    chat: Any, app: RunningApp
) -> None:
    app.upstream.script(CHAT_PATH, chat_reply(["Done."], usage=(21, 7)))
    send_message(chat, "Hi")

    stats = last_reply(chat).locator(".reply-stats")
    expect(stats.locator(".stat-ttft dd")).to_have_text(re.compile(r"^\d+ ms$|^\d\.\d s$"))
    expect(stats.locator(".stat-tokens dd")).to_have_text("21 in · 7 out")
    expect(stats.locator(".stat-elapsed dd")).to_have_text(re.compile(r"^\d+ ms$|^\d\.\d s$"))


def test_estimated_token_counts_are_marked_as_approximate(chat: Any, app: RunningApp) -> None:
    app.upstream.script(CHAT_PATH, chat_reply(["No usage from this provider."], usage=None))
    send_message(chat, "Hi")

    tokens = last_reply(chat).locator(".stat-tokens dd")
    expect(tokens).to_have_text(re.compile(r"^≈\d+ in · ≈\d+ out$"))


def test_markdown_renders_with_a_labelled_code_block(chat: Any, app: RunningApp) -> None:
    text = "Use **this**:\n\n```python\nprint('hi')\n```\n\nand `inline` code."
    app.upstream.script(CHAT_PATH, chat_reply([text[:20], text[20:]]))
    send_message(chat, "Code please")

    content = last_reply(chat).locator(".msg-content")
    expect(content.locator("strong")).to_have_text("this")
    code = content.locator("pre > code.language-python")
    expect(code).to_have_text("print('hi')\n")
    expect(content.locator(".code-block .code-lang")).to_have_text("python")
    expect(content.get_by_role("button", name="Copy python code")).to_be_visible()
    expect(content.locator("p > code")).to_have_text("inline")


def test_reasoning_streams_open_then_folds_away_when_the_answer_starts(
    chat: Any, app: RunningApp
) -> None:
    reply_script = chat_reply(
        ["The answer ", "is 42."],
        reasoning=("Let me think ", "about the ", "question."),
        delay=0.2,
    )
    app.upstream.script(CHAT_PATH, reply_script)
    send_message(chat, "What is the answer?")

    seen = first_paint(
        chat,
        """reply => {
          const block = reply.querySelector('chat-reasoning details');
          const text = block && block.querySelector('.reasoning-text').textContent;
          if (!text) return null;
          const label = block.querySelector('.reasoning-label').textContent;
          const answer = reply.querySelector('.msg-content').textContent;
          return {open: block.open, label, text, answer};
        }""",
    )
    assert seen["open"] is True
    assert seen["label"] == "Thinking…"
    assert seen["text"].startswith("Let me think")
    assert seen["answer"] == ""

    block = last_reply(chat).locator("chat-reasoning details")
    expect(last_reply(chat)).to_have_attribute("data-status", "done", timeout=8_000)
    expect(block).not_to_have_attribute("open", "")
    expect(block.locator(".reasoning-label")).to_have_text(re.compile(r"^Thought for \d"))
    block.locator("summary").click()
    expect(block.locator(".reasoning-text")).to_have_text("Let me think about the question.")
    expect(last_reply(chat).locator(".msg-content")).to_have_text("The answer is 42.")


def test_a_tool_call_shows_its_name_and_arguments_and_goes_back_in_the_history(
    chat: Any, app: RunningApp
) -> None:
    call = {"id": "call_7", "name": "get_weather", "arguments": '{"city":"Paris","unit":"c"}'}
    app.upstream.script(CHAT_PATH, chat_reply([], tool_calls=[call]), chat_reply(["Sunny."]))
    send_message(chat, "Weather in Paris?")

    tool = last_reply(chat).locator("chat-tool-call")
    expect(tool.locator(".tool-name")).to_have_text("get_weather")
    expect(tool.locator(".tool-args")).to_have_text('{\n  "city": "Paris",\n  "unit": "c"\n}')

    send_message(chat, "Thanks")
    expect(last_reply(chat).locator(".msg-content")).to_have_text("Sunny.")
    messages = app.upstream.requests_to(CHAT_PATH)[1].json["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_7"
    assert messages[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert messages[2]["role"] == "tool" and messages[2]["tool_call_id"] == "call_7"
    assert messages[3] == {"role": "user", "content": "Thanks"}


def test_stop_closes_the_upstream_and_keeps_the_partial_answer(chat: Any, app: RunningApp) -> None:
    pieces = [f"part{i} " for i in range(30)]
    app.upstream.script(CHAT_PATH, chat_reply(pieces, delay=0.25))
    send_message(chat, "Write a lot")

    reply = last_reply(chat)
    expect(reply.locator(".msg-content")).to_contain_text("part2")
    chat.get_by_role("button", name="Stop").click()

    gone = app.upstream.wait_for_disconnect(timeout=5)
    assert gone is not None and gone.path == CHAT_PATH
    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".msg-flag")).to_have_text("Stopped")
    kept = reply.locator(".msg-content").inner_text()
    assert kept.startswith("part0 part1 part2")
    assert "part29" not in kept
    time.sleep(0.6)  # more than two chunk intervals: nothing else may arrive
    assert reply.locator(".msg-content").inner_text() == kept
    expect(chat.get_by_role("button", name="Send")).to_be_visible()
    expect(chat.get_by_role("textbox", name="Message")).to_be_focused()


def test_escape_stops_a_streaming_reply(chat: Any, app: RunningApp) -> None:
    app.upstream.script(CHAT_PATH, chat_reply([f"w{i} " for i in range(30)], delay=0.25))
    send_message(chat, "Go on")

    expect(last_reply(chat).locator(".msg-content")).to_contain_text("w1")
    chat.keyboard.press("Escape")
    assert app.upstream.wait_for_disconnect(timeout=5) is not None
    expect(last_reply(chat).locator(".msg-flag")).to_have_text("Stopped")


def test_each_turn_sends_the_whole_conversation(chat: Any, app: RunningApp) -> None:
    app.upstream.script(CHAT_PATH, chat_reply(["First answer."]), chat_reply(["Second answer."]))
    send_message(chat, "First question")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    send_message(chat, "Second question")
    expect(last_reply(chat).locator(".msg-content")).to_have_text("Second answer.")

    second = app.upstream.requests_to(CHAT_PATH)[1].json
    assert second["messages"] == [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "Second question"},
    ]
    expect(chat.locator("chat-message")).to_have_count(4)


def test_new_conversation_starts_from_an_empty_history_and_keeps_the_old_one(
    chat: Any, app: RunningApp
) -> None:
    send_message(chat, "Remember me")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    chat.locator(".chat-header").get_by_role("link", name="New conversation").click()
    expect(chat.locator("chat-message")).to_have_count(0)
    expect(chat.locator(".chat-welcome")).to_contain_text("Chat with Groq")
    expect(chat.get_by_role("textbox", name="Message")).to_be_focused()

    send_message(chat, "Fresh start")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    latest = app.upstream.requests_to(CHAT_PATH)[-1].json
    assert latest["messages"] == [{"role": "user", "content": "Fresh start"}]
    # Nothing was destroyed: both conversations are stored.
    listed = app.rpc("listConversations")["conversations"]
    assert sorted(c["messageCount"] for c in listed) == [2, 2]


def test_the_conversation_survives_a_reload_of_the_tab(chat: Any, app: RunningApp) -> None:
    send_message(chat, "Keep this")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    reload_chat(chat)
    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text("Keep this")
    expect(last_reply(chat).locator(".msg-content")).to_have_text("Hello!")


def test_model_output_that_tries_to_run_script_stays_inert(
    chat: Any, app: RunningApp, watch: PageWatch
) -> None:
    attack = (
        "Look <img src=x onerror=alert(1)> here. "
        "[click me](javascript:alert(2)) "
        '<a href="javascript:alert(3)">raw link</a> '
        "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCg0KTwvc2NyaXB0Pg==) "
        "![pixel](https://tracker.example/p.png)\n\n"
        "<script>alert(5)</script>\n\n<svg onload=alert(6)></svg>"
    )
    app.upstream.script(CHAT_PATH, chat_reply([attack[:30], attack[30:]]))
    send_message(chat, "Say something nasty")

    content = last_reply(chat).locator(".msg-content")
    expect(content).to_contain_text("Look <img src=x onerror=alert(1)> here.")
    expect(content).to_contain_text("<script>alert(5)</script>")
    assert content.locator("img, script, svg, iframe, [onerror], [onload]").count() == 0
    link = content.get_by_text("click me")
    assert link.get_attribute("href") is None
    hrefs = content.locator("a[href]").evaluate_all("links => links.map(a => a.href)")
    assert all(h.startswith("https://") for h in hrefs), hrefs
    image_link = content.get_by_role("link", name="Image: pixel")
    expect(image_link).to_have_attribute("rel", "noopener noreferrer")
    expect(image_link).to_have_attribute("target", "_blank")
    chat.wait_for_timeout(300)  # an onerror would have fired by now
    assert watch.dialogs == []


def test_enter_sends_and_shift_enter_starts_a_new_line(chat: Any, app: RunningApp) -> None:
    box = chat.get_by_role("textbox", name="Message")
    box.fill("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    assert app.upstream.requests_to(CHAT_PATH) == []
    box.press("Enter")

    expect(chat.locator("chat-message.msg-user .msg-bubble")).to_have_text("line one\nline two")
    expect(box).to_have_value("")
    expect(last_reply(chat)).to_have_attribute("data-status", "done")
    sent = app.upstream.requests_to(CHAT_PATH)[0].json["messages"]
    assert sent == [{"role": "user", "content": "line one\nline two"}]


def test_copy_puts_the_reply_source_on_the_clipboard(
    chat: Any, app: RunningApp, context: Any
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    source = "A *short* reply with `code`."
    app.upstream.script(CHAT_PATH, chat_reply([source]))
    send_message(chat, "Hi")

    button = last_reply(chat).get_by_role("button", name="Copy reply")
    button.click()
    expect(button).to_contain_text("Copied")
    assert chat.evaluate("navigator.clipboard.readText()") == source
