"""The chat view around the conversation: choosing a provider, the empty state, following a
growing reply, the event-stream parser, and screenshots of a finished conversation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    CHAT_PATH,
    RunningApp,
    chat_reply,
    emulate_scheme,
    last_reply,
    open_chat,
    reload_chat,
    screenshot,
    send_message,
)

pytestmark = pytest.mark.browser

CONVERSATION = [
    (
        "How do I remove duplicates from a list in Python and keep the order?",
        ("The user wants order kept, ", "so a plain set() is out. ", "dict.fromkeys keeps order."),
        [
            "Use `dict.fromkeys`: dictionaries keep insertion order, so the first copy wins.\n\n",
            "```python\ndef unique(items):\n    return list(dict.fromkeys(items))\n\n",
            "print(unique([3, 1, 3, 2, 1]))  # [3, 1, 2]\n```\n\n",
            "It runs in **O(n)** and works for any hashable item. For unhashable items, ",
            "keep a list of seen values instead.",
        ],
        (31, 86),
    ),
    (
        "And for a list of dicts?",
        (),
        [
            "Key them by a field you trust to be unique:\n\n",
            "| approach | keeps order | cost |\n|---|:-:|---|\n",
            "| `dict.fromkeys` on ids | yes | O(n) |\n| nested loop | yes | O(n²) |\n",
        ],
        (148, 52),
    ),
]


def have_a_conversation(page: Any, app: RunningApp) -> None:
    """Two finished turns: reasoning, a code block, a table and stats."""
    app.upstream.script(
        CHAT_PATH,
        *[
            chat_reply(pieces, reasoning=thought, usage=usage, delay=0.08)
            for _, thought, pieces, usage in CONVERSATION
        ],
    )
    for question, *_ in CONVERSATION:
        send_message(page, question)
        expect(last_reply(page)).to_have_attribute("data-status", "done")


def test_healthy_providers_come_first_and_unhealthy_ones_are_marked(
    page: Any, app: RunningApp
) -> None:
    alpha = app.add_provider(
        name="alpha", displayName="Alpha", baseURL=f"{app.upstream.url}/bad/v1"
    )
    bravo = app.add_provider(name="bravo", displayName="Bravo")
    app.add_provider(name="charlie", displayName="Charlie")
    assert app.rpc("checkCustomProviderHealth", alpha["id"])["status"]["status"] == "unhealthy"
    assert app.rpc("checkCustomProviderHealth", bravo["id"])["status"]["status"] == "healthy"
    open_chat(page)

    picker = page.get_by_label("Provider", exact=True)
    options = picker.locator("option").all_inner_texts()
    assert options == [
        "Bravo · fake-model",
        "Charlie · fake-model",
        "Alpha · fake-model — unhealthy",
    ]
    expect(picker).to_have_value(bravo["id"])
    expect(page.locator("chat-provider-picker health-badge")).to_have_text("Healthy")

    picker.select_option(alpha["id"])
    expect(page.locator("chat-provider-picker health-badge")).to_have_text("Unhealthy")
    expect(page.get_by_role("textbox", name="Message")).to_be_enabled()
    reload_chat(page)
    expect(page.get_by_label("Provider", exact=True)).to_have_value(alpha["id"])


def test_without_providers_the_chat_leads_to_adding_one(page: Any) -> None:
    open_chat(page)
    empty = page.locator(".chat-empty")
    expect(empty).to_contain_text("Add a provider to start chatting")
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()

    empty.get_by_role("link", name="Add a provider").click()
    dialog = page.locator("dialog.provider-dialog")
    expect(dialog.locator(".dialog-title")).to_have_text("Add a provider")


def test_scrolling_up_stops_following_until_jump_to_latest(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    long_start = "".join(f"Paragraph {i} of a long answer.\n\n" for i in range(60))
    tail = [f"tail{i} " for i in range(10)]
    app.upstream.script(CHAT_PATH, chat_reply([long_start, *tail], delay=0.2))
    open_chat(page)
    send_message(page, "Write a lot")

    scroller = page.locator(".chat-scroll")
    content = last_reply(page).locator(".msg-content")
    expect(content).to_contain_text("tail0")
    gap = "el => el.scrollHeight - el.clientHeight - el.scrollTop"
    assert scroller.evaluate(gap) <= 2  # following the reply

    scroller.hover()
    page.mouse.wheel(0, -600)
    jump = page.get_by_role("button", name="Jump to latest")
    expect(jump).to_be_visible()
    top = scroller.evaluate("el => el.scrollTop")
    expect(content).to_contain_text("tail3")
    # The reader stays where they are: nothing pulls the view back down (a wheel's smooth
    # scroll may still be settling upwards).
    assert scroller.evaluate("el => el.scrollTop") <= top
    assert scroller.evaluate(gap) > 300

    jump.click()
    expect(jump).to_be_hidden()
    expect(content).to_contain_text("tail6")
    page.wait_for_timeout(100)
    assert scroller.evaluate(gap) <= 2  # following again


SSE_CASES = """async () => {
  const { SseParser } = await import("/js/lib/sse-reader.js");
  const run = (chunks) => {
    const parser = new SseParser();
    const pair = (e) => ("comment" in e ? ["#", e.comment] : [e.event, e.data]);
    return chunks.flatMap((c) => parser.push(c)).map(pair);
  };
  return {
    lf: run(["event: delta\\ndata: {\\"text\\":\\"a\\"}\\n\\n"]),
    crlfSplit: run(["event: delta\\r", "\\ndata: x\\r\\n", "\\r\\n"]),
    cr: run(["event: usage\\rdata: 1\\r\\r"]),
    multiline: run(["data: one\\ndata: two\\n\\n"]),
    comments: run([": ping\\n\\n", ":\\n", "data: after\\n\\n"]),
    splitAnywhere: run(["ev", "ent: do", "ne\\nda", "ta: {}", "\\n", "\\n"]),
    noSpace: run(["data:tight\\n\\n"]),
    unfinished: run(["data: never dispatched"]),
  };
}"""


def test_the_event_stream_parser_follows_the_sse_rules(page: Any) -> None:
    cases = page.evaluate(SSE_CASES)
    assert cases == {
        "lf": [["delta", '{"text":"a"}']],
        "crlfSplit": [["delta", "x"]],
        "cr": [["usage", "1"]],
        "multiline": [["message", "one\ntwo"]],
        # Comments are not events; they come out as such, for `: retrying {...}`.
        "comments": [["#", "ping"], ["#", ""], ["message", "after"]],
        "splitAnywhere": [["done", "{}"]],
        "noSpace": [["message", "tight"]],
        "unfinished": [],
    }


def test_a_character_split_between_chunks_arrives_whole(page: Any) -> None:
    text = page.evaluate(
        """async () => {
          const { readEventBatches } = await import("/js/lib/sse-reader.js");
          const bytes = new TextEncoder().encode("data: 猫 café\\n\\n");
          const body = new ReadableStream({
            start(c) { for (const b of bytes) c.enqueue(Uint8Array.of(b)); c.close(); },
          });
          const out = [];
          for await (const batch of readEventBatches(body)) out.push(...batch.map((e) => e.data));
          return out;
        }"""
    )
    assert text == ["猫 café"]


def test_screenshots_of_a_finished_conversation(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq", model="llama-3.3-70b-versatile")
    open_chat(page)
    have_a_conversation(page, app)
    first = page.locator("chat-message.msg-assistant").first
    expect(first.locator("chat-reasoning .reasoning-label")).to_contain_text("Thought for")
    expect(first.locator(".code-block pre > code")).to_contain_text("dict.fromkeys")
    expect(first.locator(".stat-tokens dd")).to_have_text("31 in · 86 out")
    page.get_by_role("textbox", name="Message").focus()
    screenshot(page, "chat-1280")
    emulate_scheme(page, "dark")
    screenshot(page, "chat-1280-dark")
    emulate_scheme(page, "light")
    page.set_viewport_size({"width": 800, "height": 600})
    expect(page.get_by_role("button", name="Jump to latest")).to_be_hidden()
    screenshot(page, "chat-800x600")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 800  # nothing scrolls sideways
