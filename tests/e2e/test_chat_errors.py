"""Failed replies in the chat view: the classified error inline, what to do about it, and the
actions that help (Retry, Edit provider, New conversation). A turn the server stored before
refusing is shown stored, and a NOT_FOUND tells a deleted conversation from a removed provider."""

from __future__ import annotations

import json
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
    screenshot_matrix,
    send_message,
)
from tests.fakes.upstream import Reply

pytestmark = pytest.mark.browser


def upstream_error(status: int, message: str, code: str = "", **headers: str) -> Reply:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code or None}}
    return Reply.json(body, status=status, headers=headers)


def sse_events(body: str) -> dict[str, dict[str, Any]]:
    """The events of an event-stream body by name (the last one of each name)."""
    events: dict[str, dict[str, Any]] = {}
    for block in body.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
        if data:
            events[name] = json.loads("\n".join(data))
    return events


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


def test_a_turn_stored_before_a_refusal_is_shown_stored_and_retry_asks_again_for_it(
    page: Any, app: RunningApp, watch: PageWatch
) -> None:
    """A request can fail after the server stored the user message and a failed reply, before the
    stream opens. The refusal names what was stored: the URL names the new conversation, and
    Retry regenerates the reply to the stored message instead of sending the text twice."""
    app.add_provider(name="groq", displayName="Groq")
    app.upstream.script(
        CHAT_PATH, upstream_error(401, "Incorrect API key provided."), chat_reply(["Recovered."])
    )
    stored: dict[str, str] = {}

    def refuse_after_storing(route: Any) -> None:
        # The fake upstream cannot fail that early, so the real request runs (and stores the
        # turn, failed) and its answer becomes the envelope the app sends in that case.
        events = sse_events(route.fetch().text())
        ids = ("conversationId", "userMessageId", "messageId")
        stored.update({key: events["start"][key] for key in ids})
        error = {"code": events["error"]["code"], "message": events["error"]["message"], **stored}
        route.fulfill(status=502, json={"success": False, "error": error})

    page.route("**/api/chat/stream", refuse_after_storing, times=1)
    open_chat(page)
    send_message(page, "Hello?")

    error = last_reply(page).locator(".chat-error")
    expect(error.locator(".error-code")).to_have_text("AUTH_FAILED")
    expect(page).to_have_url(re.compile(f"#/chat/{stored['conversationId']}$"))
    error.get_by_role("button", name="Retry").click()

    expect(last_reply(page).locator(".msg-content")).to_have_text("Recovered.")
    expect(page.locator("chat-message.msg-user .msg-bubble")).to_have_text(["Hello?"])
    conversations = app.rpc("listConversations")["conversations"]
    assert [c["id"] for c in conversations] == [stored["conversationId"]]
    messages = app.rpc("getConversation", stored["conversationId"])["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Hello?"),
        ("assistant", "Recovered."),
    ]
    assert messages[0]["id"] == stored["userMessageId"]
    again = app.upstream.requests_to(CHAT_PATH)[-1].json["messages"]
    assert again == [{"role": "user", "content": "Hello?"}]
    watch.errors[:] = [e for e in watch.errors if "status of 502" not in e]


def test_a_conversation_deleted_elsewhere_says_so_and_offers_a_new_one(
    page: Any, app: RunningApp, watch: PageWatch
) -> None:
    app.add_provider(name="groq", displayName="Groq")
    open_chat(page)
    send_message(page, "Hello")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    conversation_id = page.locator("chat-view").get_attribute("data-conversation-id")
    assert app.rpc("deleteConversation", conversation_id)["success"]  # as another window would

    send_message(page, "Still there?")
    error = last_reply(page).locator(".chat-error")
    expect(error.locator(".chat-error-title")).to_have_text(
        "This conversation was deleted — start a new one"
    )
    expect(error.locator(".error-code")).to_have_text("NOT_FOUND")
    expect(error.get_by_role("button", name="Retry")).to_have_count(0)
    # The provider is still there: the picker keeps it and the composer still talks to it.
    expect(page.get_by_role("textbox", name="Message")).to_have_attribute(
        "placeholder", "Message Groq"
    )
    screenshot_matrix(page, "thread-conversation-deleted")
    error.get_by_role("button", name="New conversation").click()
    expect(page.locator(".chat-welcome")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/chat/new$"))
    watch.errors[:] = [e for e in watch.errors if "status of 404" not in e]


def test_an_unknown_model_points_to_the_model_picker_and_retry_uses_the_one_picked(
    page: Any, app: RunningApp
) -> None:
    app.add_provider(name="groq", displayName="Groq")
    missing = upstream_error(404, "The model `fake-model` does not exist.", "model_not_found")
    app.upstream.script(CHAT_PATH, missing, chat_reply(["Answered by another model."]))
    open_chat(page)
    send_message(page, "Hello")

    error = last_reply(page).locator(".chat-error")
    expect(error.locator(".error-code")).to_have_text("MODEL_NOT_FOUND")
    expect(error.locator(".chat-error-title")).to_have_text(
        "Unknown model — pick another in the model picker above"
    )
    expect(error.locator(".chat-error-advice")).to_contain_text("model picker in the chat header")
    expect(error.locator(".chat-error-advice")).to_contain_text("Fetch models")
    model = page.get_by_role("combobox", name="Model")
    model.fill("other-model")
    model.press("Enter")
    error.get_by_role("button", name="Retry").click()
    expect(last_reply(page).locator(".msg-content")).to_have_text("Answered by another model.")
    assert app.upstream.requests_to(CHAT_PATH)[-1].json["model"] == "other-model"
