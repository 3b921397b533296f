"""Searching conversations (Ctrl+K) in a real browser: Chinese and English queries, highlighted
snippets, opening a hit scrolled into view, title hits, FTS syntax typed as text, and untrusted
titles and messages shown as text. Conversations are seeded through `POST /api/chat`."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    XSS,
    RunningApp,
    answer_plainly,
    chat_once,
    open_chat,
    screenshot_matrix,
    start_conversation,
)

pytestmark = pytest.mark.browser

MESSAGE_HITS = '.search-hit:not([data-message-id=""])'
TITLE_HITS = '.search-hit[data-message-id=""]'
FILLER = "A long paragraph about nothing in particular, repeated to fill the screen. " * 6


def open_search(page: Any) -> Any:
    """Press Ctrl+K and return the open search dialog."""
    page.keyboard.press("Control+k")
    dialog = page.locator("dialog.search-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("combobox", name="Search conversations")).to_be_focused()
    return dialog


def search(page: Any, query: str) -> Any:
    """Open the dialog, type `query`, and wait for its answer; the dialog."""
    dialog = open_search(page)
    dialog.get_by_role("combobox").fill(query)
    expect(dialog).to_have_attribute("data-state", re.compile("results|none|failed"))
    expect(dialog).not_to_have_attribute("aria-busy", "true")
    return dialog


def long_conversation(app: RunningApp, provider_id: str, first: str, turns: int = 10) -> str:
    """A conversation whose first message is `first`, followed by `turns` long exchanges."""
    conversation_id = start_conversation(app, provider_id, first)
    for n in range(turns):
        body = {
            "conversationId": conversation_id,
            "providerId": provider_id,
            "message": {"role": "user", "content": f"Turn {n}. {FILLER}"},
        }
        chat_once(app, body)
    return conversation_id


def test_a_two_character_chinese_query_finds_and_opens_the_message(
    page: Any, app: RunningApp
) -> None:
    answer_plainly(app)
    provider = app.add_provider()
    target = long_conversation(app, provider["id"], "我们明天去杭州旅游，记得带伞。")
    start_conversation(app, provider["id"], "Remember to water the plants on Tuesday")
    page.locator("providers-view").wait_for()
    dialog = search(page, "杭州")  # from the providers view: Ctrl+K goes to the chat
    expect(page).to_have_url(re.compile(r"#/chat"))

    hits = dialog.locator(MESSAGE_HITS)
    expect(hits).to_have_count(1)  # and the title's hit: the first message names it
    expect(dialog.locator(TITLE_HITS)).to_have_count(1)
    expect(hits.first.locator(".search-hit-title")).to_have_text("我们明天去杭州旅游，记得带伞。")
    expect(hits.first.locator(".search-snippet mark")).to_have_text(["杭州"])
    screenshot_matrix(page, "search-results-chinese")

    message_id = hits.first.get_attribute("data-message-id")
    assert message_id
    box = dialog.get_by_role("combobox")
    while hits.first.get_attribute("aria-selected") != "true":
        box.press("ArrowDown")
    box.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(f"{app.base}/#/chat/{target}?m={message_id}")
    hit = page.locator(f'chat-message[data-message-id="{message_id}"]')
    expect(hit).to_contain_text("杭州")
    expect(hit).to_be_in_viewport()
    expect(page.locator("chat-message").last).not_to_be_in_viewport()
    expect(page.locator(".conv-item.is-current .conv-title")).to_have_text(
        "我们明天去杭州旅游，记得带伞。"
    )
    screenshot_matrix(page, "search-hit-opened", settle=lambda p: expect(hit).to_be_in_viewport())


def test_an_english_query_ignores_case_and_marks_the_match(page: Any, app: RunningApp) -> None:
    answer_plainly(app)
    provider = app.add_provider()
    start_conversation(app, provider["id"], "Remember to water the plants on Tuesday")
    start_conversation(app, provider["id"], "我们明天去杭州旅游")
    open_chat(page)
    dialog = search(page, "PLANTS")
    hits = dialog.locator(MESSAGE_HITS)
    expect(hits).to_have_count(1)
    expect(hits.first.locator(".search-snippet mark")).to_have_text(["plants"])
    expect(hits.first.locator(".search-snippet")).to_contain_text("water the plants on Tuesday")
    expect(dialog.locator(".search-status")).to_have_text("2 results")  # and the title
    screenshot_matrix(page, "search-results-english")


def test_arrow_keys_move_and_escape_closes(page: Any, app: RunningApp) -> None:
    answer_plainly(app)
    provider = app.add_provider()
    for word in ("first", "second", "third"):
        start_conversation(app, provider["id"], f"Gardening notes, {word} part")
    open_chat(page)
    dialog = search(page, "gardening")
    box = dialog.get_by_role("combobox")
    hits = dialog.locator(".search-hit")
    expect(hits).to_have_count(6)  # each title, and each first message
    box.press("ArrowDown")
    box.press("ArrowDown")
    expect(hits.nth(2)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", hits.nth(2).get_attribute("id") or "")
    box.press("ArrowUp")
    expect(hits.nth(1)).to_have_attribute("aria-selected", "true")
    expect(hits.nth(0)).to_have_attribute("aria-selected", "false")
    box.press("Escape")
    expect(dialog).to_be_hidden()


def test_a_title_hit_opens_the_conversation(page: Any, app: RunningApp) -> None:
    answer_plainly(app)
    provider = app.add_provider()
    conversation_id = start_conversation(app, provider["id"], "Numbers for the meeting")
    assert app.rpc("updateConversation", conversation_id, {"title": "Quarterly budget review"})[
        "success"
    ]
    open_chat(page)
    dialog = search(page, "budget")
    title_hit = dialog.locator(TITLE_HITS)
    expect(title_hit).to_have_count(1)
    expect(title_hit.locator(".search-hit-kind")).to_have_text("Title")
    title_hit.click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(f"{app.base}/#/chat/{conversation_id}")
    expect(page.locator("chat-message.msg-user")).to_contain_text("Numbers for the meeting")


@pytest.mark.parametrize("query", ['"', "*", "NEAR(", "-", 'plants" OR "x', "AND"])
def test_fts_syntax_is_searched_as_text(page: Any, app: RunningApp, query: str) -> None:
    answer_plainly(app)
    provider = app.add_provider()
    start_conversation(app, provider["id"], "Remember to water the plants")
    open_chat(page)
    dialog = search(page, query)
    expect(dialog).to_have_attribute("data-state", re.compile("results|none"))
    if dialog.get_attribute("data-state") == "none":
        expect(dialog.locator(".search-status")).to_have_text("No matches")


def test_no_matches_is_said(page: Any, app: RunningApp) -> None:
    answer_plainly(app)
    provider = app.add_provider()
    start_conversation(app, provider["id"], "Remember to water the plants")
    open_chat(page)
    dialog = search(page, "zebra")
    expect(dialog.locator(".search-status")).to_have_text("No matches")
    expect(dialog.locator(".search-hit")).to_have_count(0)


def test_an_xss_title_and_message_stay_text_in_the_results(page: Any, app: RunningApp) -> None:
    answer_plainly(app)
    provider = app.add_provider()
    start_conversation(app, provider["id"], f"{XSS} onerror in the message")
    open_chat(page)
    dialog = search(page, "onerror")
    hit = dialog.locator(".search-hit").first
    expect(hit.locator(".search-hit-title")).to_contain_text(XSS)
    expect(hit.locator(".search-snippet")).to_contain_text("<img src=x")
    expect(dialog.locator("img")).to_have_count(0)
    expect(page.locator("conversation-sidebar .conv-title")).to_contain_text([XSS])
    screenshot_matrix(page, "search-results-xss")
