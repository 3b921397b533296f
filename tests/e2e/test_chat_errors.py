"""Failed replies in the chat view: the classified error inline, what to do about it, and the
actions that help (Retry, Edit provider, New conversation)."""

from __future__ import annotations

import re
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
    screenshot,
    send_message,
)
from tests.fakes.upstream import Reply

pytestmark = pytest.mark.browser


def upstream_error(status: int, message: str, code: str = "", **headers: str) -> Reply:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code or None}}
    return Reply.json(body, status=status, headers=headers)


def test_a_rate_limit_counts_down_and_retry_sends_the_turn_again(
    page: Any, app: RunningApp
) -> None:
    app.add_provider(name="groq", displayName="Groq")
    # Over the backend's own retry limit (60 s), so the 429 reaches the page at once.
    limited = upstream_error(429, "Rate limit reached for requests.", **{"retry-after": "90"})
    app.upstream.script(CHAT_PATH, limited, chat_reply(["Back again."]))
    open_chat(page)
    send_message(page, "Are you there?")

    error = last_reply(page).locator(".chat-error")
    expect(error.locator(".error-code")).to_have_text("RATE_LIMITED")
    title = error.locator(".chat-error-title")
    expect(title).to_have_text(re.compile(r"^Rate limited — retry in 1 min (30|29|28) s$"))
    first = title.inner_text()
    expect(title).not_to_have_text(first, timeout=3_000)  # it counts down
    expect(error).to_contain_text("Rate limit reached for requests.")
    screenshot(page, "chat-error-1280")

    error.get_by_role("button", name="Retry").click()
    expect(last_reply(page).locator(".msg-content")).to_have_text("Back again.")
    expect(page.locator(".chat-error")).to_have_count(0)
    expect(page.locator("chat-message")).to_have_count(2)
    again = app.upstream.requests_to(CHAT_PATH)[1].json["messages"]
    assert again == [{"role": "user", "content": "Are you there?"}]


def test_a_short_rate_limit_says_the_app_is_retrying_then_the_reply_arrives(
    page: Any, app: RunningApp
) -> None:
    """Within the backend's retry limit the app waits and retries by itself: the reply says why
    nothing arrives yet, counting down, and the notice goes once the answer starts."""
    app.add_provider(name="groq", displayName="Groq")
    limited = upstream_error(429, "Rate limit reached for requests.", **{"retry-after": "3"})
    app.upstream.script(CHAT_PATH, limited, chat_reply(["Made it."]))
    open_chat(page)
    send_message(page, "Hello?")

    notice = last_reply(page).locator(".msg-notice")
    expect(notice).to_have_text(
        re.compile(r"^Rate limited — trying again in [23] s \(retry 1 of 2\)$")
    )
    first = notice.inner_text()
    expect(notice).not_to_have_text(first, timeout=2_500)  # it counts down
    screenshot(page, "chat-retrying-1280")
    expect(last_reply(page).locator(".msg-content")).to_have_text("Made it.", timeout=10_000)
    expect(notice).to_be_hidden()
    expect(page.locator(".chat-error")).to_have_count(0)
    assert len(app.upstream.requests_to(CHAT_PATH)) == 2


def test_a_rejected_key_offers_to_edit_the_provider(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq", baseURL=f"{app.upstream.url}/bad/v1")
    open_chat(page)
    send_message(page, "Hello")

    error = last_reply(page).locator(".chat-error")
    expect(error.locator(".chat-error-title")).to_have_text("Key rejected — edit provider")
    expect(error.locator(".error-code")).to_have_text("AUTH_FAILED")
    error.get_by_role("link", name="Edit provider").click()

    dialog = page.locator("dialog.provider-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".dialog-title")).to_have_text("Edit Groq")
    expect(page).to_have_url(re.compile(r"#/providers$"))


def test_a_conversation_too_long_offers_a_new_one(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    too_long = upstream_error(
        400, "This model's maximum context length is 8192 tokens.", "context_length_exceeded"
    )
    app.upstream.script(CHAT_PATH, too_long)
    open_chat(page)
    send_message(page, "A very long story")

    error = last_reply(page).locator(".chat-error")
    expect(error.locator(".chat-error-title")).to_have_text(
        "Conversation too long — start a new conversation"
    )
    error.get_by_role("button", name="New conversation").click()
    expect(page.locator("chat-message")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()


def test_an_error_after_some_text_keeps_the_text(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    app.upstream.script(CHAT_PATH, chat_reply(["Half an ", "answer", " and more"], close_after=3))
    open_chat(page)
    send_message(page, "Go")

    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", "error")
    expect(reply.locator(".msg-content")).to_have_text("Half an answer")
    expect(reply.locator(".chat-error .error-code")).to_have_text(
        re.compile("CONNECTION_FAILED|UPSTREAM_ERROR|INVALID_RESPONSE")
    )
    expect(reply.get_by_role("button", name="Retry").first).to_be_visible()


def test_a_provider_removed_meanwhile_is_reported_before_any_stream(
    page: Any, app: RunningApp, watch: PageWatch
) -> None:
    provider = app.add_provider(name="groq", displayName="Groq")
    open_chat(page)
    assert app.rpc("removeCustomProvider", provider["id"])["success"]
    send_message(page, "Anyone?")

    error = last_reply(page).locator(".chat-error")
    expect(error.locator(".error-code")).to_have_text("NOT_FOUND")
    expect(error.locator(".chat-error-title")).to_have_text(
        "Provider removed — pick another provider"
    )
    # The view reloads its providers: none is left, so the composer says what to do.
    composer = page.get_by_role("textbox", name="Message")
    expect(composer).to_be_disabled()
    expect(composer).to_have_attribute("placeholder", "Add a provider to start chatting")
    assert app.upstream.requests_to(CHAT_PATH) == []
    # Chromium logs the refused request (HTTP 404) to the console; that one is expected.
    watch.errors[:] = [e for e in watch.errors if "status of 404" not in e]
