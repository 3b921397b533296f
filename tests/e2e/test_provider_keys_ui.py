"""Key pools, the health check kind, circuits and honest health in the provider form and list,
in a real browser against the real app and the fake upstream (CONTRACT §10, docs/UI.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    CHAT_PATH,
    MODEL,
    RunningApp,
    post_chat,
    reload_list,
    screenshot,
    screenshot_matrix,
)
from tests.fakes.upstream import Reply
from tests.helpers import CANARY_KEY

pytestmark = pytest.mark.browser

SECOND_KEY = "sk-second-0123456789abcdef4e1d"
THIRD_KEY = "sk-third-fedcba98765432100a9c"
RATE_LIMITED = Reply.json(
    {"error": {"message": "Rate limit reached for requests.", "type": "rate_limit"}},
    status=429,
    headers={"Retry-After": "30"},
)
REFUSED = Reply.json({"error": {"message": "Incorrect API key provided."}}, status=401)
SERVER_ERROR = Reply.json({"error": {"message": "The upstream fell over."}}, status=500)


def card(page: Any, display_name: str) -> Any:
    return page.locator("provider-card").filter(
        has=page.locator(".card-title", has_text=display_name)
    )


def key_row(dialog: Any, hint: str) -> Any:
    """The saved key's row in the edit form, by its hint."""
    return dialog.locator(".key-row").filter(has=dialog.page.locator(".key-hint", has_text=hint))


def edit_form(page: Any, display_name: str) -> Any:
    page.get_by_role("button", name=f"Edit {display_name}").click()
    dialog = page.locator("dialog.provider-dialog")
    expect(dialog.get_by_role("heading", name=f"Edit {display_name}")).to_be_visible()
    return dialog


def pool_provider(app: RunningApp, **overrides: Any) -> dict[str, Any]:
    """A saved provider with two keys: the canary key first."""
    return app.add_provider(apiKey=None, apiKeys=[CANARY_KEY, SECOND_KEY], **overrides)


def keys_of(app: RunningApp, provider_id: str) -> list[dict[str, Any]]:
    result = app.rpc("getCustomProvider", provider_id)
    assert result["success"], result
    keys: list[dict[str, Any]] = result["provider"]["keys"]
    return keys


def chat_directly(app: RunningApp, provider_id: str) -> dict[str, Any]:
    """One stateless `POST /api/chat` to the provider; its envelope (a failure too)."""
    body = {"providerId": provider_id, "messages": [{"role": "user", "content": "Hello?"}]}
    return post_chat(app, body)


def seconds_shown(locator: Any, pattern: str) -> int:
    """The number of seconds in `locator`'s text, which must match `pattern` (one group)."""
    match = re.search(pattern, locator.inner_text())
    assert match, locator.inner_text()
    return int(match.group(1))


# --- the form -------------------------------------------------------------------------------


def test_a_provider_is_added_with_two_keys_and_both_are_saved(page: Any, app: RunningApp) -> None:
    page.get_by_role("button", name="Add provider").click()
    dialog = page.locator("dialog.provider-dialog")
    dialog.get_by_role("searchbox").press("Enter")  # start blank
    dialog.get_by_label("Display name").fill("Pooled")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1")
    dialog.get_by_label("Model", exact=True).fill(MODEL)
    dialog.get_by_label("API key", exact=True).fill(CANARY_KEY)
    dialog.get_by_role("button", name="Add another key").click()
    second = dialog.get_by_label("Key 2", exact=True)
    expect(second).to_be_focused()
    expect(second).to_have_attribute("type", "password")
    second.fill(SECOND_KEY)
    dialog.get_by_role("button", name="Add another key").click()
    dialog.get_by_role("button", name="Remove key 3").click()  # changed my mind
    expect(dialog.get_by_label("Key 3", exact=True)).to_have_count(0)
    more = dialog.get_by_role("button", name="Add another key")
    screenshot_matrix(page, "keys-add-form", settle=lambda _: more.scroll_into_view_if_needed())

    dialog.get_by_role("button", name="Add provider").click()
    expect(dialog).to_be_hidden()
    [saved] = app.providers()
    assert [k["hint"] for k in saved["keys"]] == [f"sk-…{CANARY_KEY[-4:]}", "sk-…4e1d"]
    assert [k["state"] for k in saved["keys"]] == ["active", "active"]
    # The save's test uses the first key given.
    [tested] = app.upstream.requests_to(CHAT_PATH)
    assert tested.headers["authorization"] == f"Bearer {CANARY_KEY}"
    expect(card(page, "Pooled").locator(".card-keys")).to_have_text("2 keys")
    assert SECOND_KEY not in page.content()


def test_a_rate_limited_key_counts_down_and_then_is_active_again(
    page: Any, app: RunningApp
) -> None:
    provider = pool_provider(app)
    app.upstream.script(CHAT_PATH, RATE_LIMITED)
    assert app.rpc("testProviderConnection", provider["id"])["error"]["code"] == "RATE_LIMITED"
    assert [k["state"] for k in keys_of(app, provider["id"])] == ["cooling", "active"]
    page.clock.install()  # time flows, and the test may jump it forward
    reload_list(page)
    expect(card(page, "Groq").locator(".card-keys")).to_have_text("2 keys · 1 cooling")

    dialog = edit_form(page, "Groq")
    cooling = key_row(dialog, CANARY_KEY[-4:])
    state = cooling.locator(".key-state")
    expect(state).to_have_text(re.compile(r"^Cooling — \d+ s$"))
    before = seconds_shown(state, r"Cooling — (\d+) s")
    assert 0 < before <= 30
    expect(cooling.locator(".key-error")).to_contain_text("RATE_LIMITED")
    expect(cooling.get_by_role("button", name=re.compile("^Re-enable key"))).to_be_visible()
    expect(key_row(dialog, "4e1d").locator(".key-state")).to_have_text("Active")
    # With several keys saved, the list is how they change: no one-key field to replace them.
    expect(dialog.get_by_label("API key", exact=True)).to_be_hidden()

    page.clock.fast_forward(10_000)
    expect(state).not_to_have_text(f"Cooling — {before} s")
    assert seconds_shown(state, r"Cooling — (\d+) s") <= before - 9
    page.clock.fast_forward(25_000)
    expect(cooling.locator(".key-state")).to_have_text("Active")
    expect(cooling.get_by_role("button", name=re.compile("^Re-enable key"))).to_have_count(0)


def test_an_invalid_key_is_re_enabled_from_the_form(page: Any, app: RunningApp) -> None:
    provider = pool_provider(app)
    app.upstream.script(CHAT_PATH, REFUSED)
    assert app.rpc("testProviderConnection", provider["id"])["error"]["code"] == "AUTH_FAILED"
    assert keys_of(app, provider["id"])[0]["state"] == "invalid"
    reload_list(page)
    expect(card(page, "Groq").locator(".card-keys")).to_have_text("2 keys · 1 invalid")

    dialog = edit_form(page, "Groq")
    invalid = key_row(dialog, CANARY_KEY[-4:])
    expect(invalid.locator(".key-state")).to_have_text("Invalid")
    expect(invalid.locator(".key-error")).to_contain_text("AUTH_FAILED")
    expect(invalid.locator(".key-error")).to_contain_text("rejected the API key")
    invalid.get_by_role("button", name=f"Re-enable key sk-…{CANARY_KEY[-4:]}").click()

    expect(invalid.locator(".key-state")).to_have_text("Active")
    expect(invalid.locator(".key-error")).to_have_count(0)
    expect(invalid.get_by_role("button", name=re.compile("^Remove key"))).to_be_focused()
    assert [k["state"] for k in keys_of(app, provider["id"])] == ["active", "active"]
    # Already saved: closing the form without saving keeps it, and the card says so at once.
    page.keyboard.press("Escape")
    expect(card(page, "Groq").locator(".card-keys")).to_have_text("2 keys")


def test_keys_are_added_and_removed_from_the_edit_form(page: Any, app: RunningApp) -> None:
    provider = pool_provider(app)
    reload_list(page)
    dialog = edit_form(page, "Groq")
    expect(dialog.locator(".key-row")).to_have_count(2)

    new_key = dialog.get_by_label("New key", exact=True)
    new_key.fill(THIRD_KEY)
    new_key.press("Enter")  # adds the key; it does not save the form
    expect(dialog.locator(".key-row")).to_have_count(3)
    expect(new_key).to_have_value("")
    expect(dialog).to_be_visible()
    expect(key_row(dialog, "0a9c").locator(".key-when")).to_have_text("Not used yet")

    key_row(dialog, "4e1d").get_by_role("button", name="Remove key sk-…4e1d").click()
    confirm = page.get_by_role("dialog", name=re.compile("Remove the key"))
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Remove key").click()
    expect(dialog.locator(".key-row")).to_have_count(2)
    expect(key_row(dialog, "4e1d")).to_have_count(0)

    assert [k["hint"] for k in keys_of(app, provider["id"])] == [
        f"sk-…{CANARY_KEY[-4:]}",
        "sk-…0a9c",
    ]
    assert THIRD_KEY not in page.content()
    dialog.get_by_role("button", name="Cancel").click()
    expect(card(page, "Groq").locator(".card-keys")).to_have_text("2 keys")


def test_the_form_shows_each_key_state_with_its_countdown(page: Any, app: RunningApp) -> None:
    provider = app.add_provider(apiKey=None, apiKeys=[CANARY_KEY, SECOND_KEY, THIRD_KEY])
    app.upstream.script(CHAT_PATH, RATE_LIMITED)
    app.rpc("testProviderConnection", provider["id"])  # the first key cools
    app.upstream.script(CHAT_PATH, REFUSED)
    app.rpc("testProviderConnection", provider["id"])  # the next usable one is refused
    assert [k["state"] for k in keys_of(app, provider["id"])] == ["cooling", "invalid", "active"]
    reload_list(page)
    dialog = edit_form(page, "Groq")
    expect(dialog.locator(".key-state")).to_have_text(
        [re.compile(r"^Cooling — \d+ s$"), "Invalid", "Active"]
    )
    screenshot_matrix(
        page,
        "keys-edit-form",
        settle=lambda p: key_row(dialog, "0a9c").scroll_into_view_if_needed(),
    )


def test_a_single_key_keeps_the_one_key_field_and_shows_its_state(
    page: Any, app: RunningApp
) -> None:
    provider = app.add_provider()
    app.upstream.script(CHAT_PATH, REFUSED)
    app.rpc("testProviderConnection", provider["id"])
    reload_list(page)
    dialog = edit_form(page, "Groq")
    key = dialog.get_by_label("API key", exact=True)
    expect(key).to_be_visible()
    expect(key).to_have_value("")
    expect(dialog.locator('.field[data-field="apiKey"] .field-help')).to_have_text(
        f"Key saved (sk-…{CANARY_KEY[-4:]}) — leave empty to keep it."
    )
    expect(dialog.locator(".keys-saved .field-label")).to_have_text("Saved key")
    expect(key_row(dialog, CANARY_KEY[-4:]).locator(".key-state")).to_have_text("Invalid")
    screenshot(page, "keys-edit-one-key-1280")

    # Adding a second key turns the form to the pool's list.
    dialog.get_by_label("New key", exact=True).fill(SECOND_KEY)
    dialog.get_by_role("button", name="Add key", exact=True).click()
    expect(dialog.locator(".key-row")).to_have_count(2)
    expect(key).to_be_hidden()


def test_a_duplicate_typed_key_is_shown_under_its_own_field(page: Any, app: RunningApp) -> None:
    page.get_by_role("button", name="Add provider").click()
    dialog = page.locator("dialog.provider-dialog")
    dialog.get_by_role("searchbox").press("Enter")
    dialog.get_by_label("Display name").fill("Twice")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1")
    dialog.get_by_label("Model", exact=True).fill(MODEL)
    dialog.get_by_label("API key", exact=True).fill(SECOND_KEY)
    dialog.get_by_role("button", name="Add another key").click()
    dialog.get_by_label("Key 2", exact=True).fill(SECOND_KEY)
    dialog.get_by_role("button", name="Add provider").click()

    second = dialog.locator(".typed-key")
    expect(second.locator(".field-msg")).not_to_be_empty()
    expect(dialog.get_by_label("Key 2", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_label("Key 2", exact=True)).to_be_focused()
    expect(dialog.locator('.field[data-field="apiKey"] > .field-msg')).to_be_empty()
    assert app.providers() == []


# --- the health check kind ------------------------------------------------------------------


def test_the_health_check_kind_is_saved_and_read_back(page: Any, app: RunningApp) -> None:
    page.get_by_role("button", name="Add provider").click()
    dialog = page.locator("dialog.provider-dialog")
    dialog.get_by_role("searchbox").press("Enter")
    check = dialog.get_by_label("Health check")
    expect(check).to_have_value("models")
    dialog.get_by_label("Display name").fill("Gateway")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1")
    dialog.get_by_label("Model", exact=True).fill(MODEL)
    check.select_option(label="One-token chat (for gateways)")
    dialog.get_by_role("button", name="Add provider").click()
    expect(dialog).to_be_hidden()
    [saved] = app.providers()
    assert saved["checkKind"] == "chat"

    gateway = card(page, "Gateway")
    expect(gateway.locator(".card-when")).to_have_text(
        re.compile(r"^Checked with a one-token chat (just now|\d+ minutes? ago)$")
    )
    dialog = edit_form(page, "Gateway")
    expect(dialog.get_by_label("Health check")).to_have_value("chat")
    dialog.get_by_label("Health check").select_option("models")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    assert app.providers()[0]["checkKind"] == "models"
    gateway.get_by_role("button", name="Check the health of Gateway").click()
    expect(gateway.locator(".card-when")).to_have_text("Checked model list just now")


def test_a_template_chooses_the_health_check_kind(page: Any) -> None:
    page.get_by_role("button", name="Add provider").click()
    dialog = page.locator("dialog.provider-dialog")
    dialog.get_by_role("searchbox").fill("openrouter")
    dialog.get_by_role("searchbox").press("Enter")
    expect(dialog.get_by_label("Health check")).to_have_value("chat")
    dialog.get_by_role("button", name="Change template").click()
    dialog.get_by_role("searchbox").fill("groq")
    dialog.get_by_role("searchbox").press("Enter")
    expect(dialog.get_by_label("Health check")).to_have_value("models")


# --- the list -------------------------------------------------------------------------------


def test_an_open_circuit_is_shown_next_to_health_and_counts_down(
    page: Any, app: RunningApp
) -> None:
    failing = app.add_provider(
        name="flaky", displayName="Flaky", baseURL=f"{app.upstream.url}/flaky/v1"
    )
    groq = app.add_provider(name="groq", displayName="Groq")
    pooled = pool_provider(app, name="pooled", displayName="Pooled")
    # A gateway: its model list answers, its chats fail.
    app.upstream.script("/flaky/v1/chat/completions", SERVER_ERROR)
    app.upstream.script("/flaky/v1/models", Reply.json({"object": "list", "data": [{"id": MODEL}]}))
    for provider in (failing, groq, pooled):
        assert app.rpc("checkCustomProviderHealth", provider["id"])["status"]["status"] == "healthy"
    app.upstream.script(CHAT_PATH, RATE_LIMITED)
    app.rpc("testProviderConnection", pooled["id"])  # Pooled's first key cools
    for _ in range(3):  # three chats sent to Flaky directly fail with a 500
        assert chat_directly(app, failing["id"])["error"]["code"] == "UPSTREAM_ERROR"
    status = next(
        s
        for s in app.rpc("getAllProviderHealthStatuses")["statuses"]
        if s["providerId"] == failing["id"]
    )
    assert status["circuit"]["state"] == "open"
    assert status["basis"] == "chats"
    page.clock.install()
    reload_list(page)

    flaky = card(page, "Flaky")
    expect(flaky.locator("health-badge")).to_have_text("Unhealthy")  # never Healthy
    expect(flaky.locator("circuit-badge")).to_have_text("Paused")
    notice = flaky.locator(".card-circuit")
    expect(notice).to_contain_text(re.compile(r"Paused — reopens in \d+ s"))
    expect(notice).to_contain_text("Routes skip this provider")
    expect(flaky.locator(".card-error")).to_contain_text("Last 3 chats failed:")
    expect(flaky.locator(".card-error")).to_contain_text("UPSTREAM_ERROR")
    expect(flaky.locator(".card-when")).to_have_text("Checked model list just now")
    expect(card(page, "Groq").locator("circuit-badge")).to_be_hidden()
    expect(card(page, "Groq").locator(".card-circuit")).to_be_hidden()
    expect(card(page, "Pooled").locator(".card-keys")).to_have_text("2 keys · 1 cooling")
    screenshot_matrix(page, "providers-circuit-open")

    before = seconds_shown(notice.locator(".circuit-headline"), r"reopens in (\d+) s")
    page.clock.fast_forward(5_000)
    expect(notice.locator(".circuit-headline")).not_to_have_text(f"Paused — reopens in {before} s")
    assert seconds_shown(notice.locator(".circuit-headline"), r"reopens in (\d+) s") <= before - 4
    page.clock.fast_forward(30_000)
    expect(flaky.locator("circuit-badge")).to_have_text("Probing")
    expect(notice.locator(".circuit-headline")).to_have_text("Probing")
    screenshot(page, "providers-circuit-probing-1280")

    flaky.get_by_role("button", name="Show details of Flaky").click()
    groq_card = card(page, "Groq")
    groq_card.get_by_role("button", name="Show details of Groq").click()
    expect(groq_card.locator(".fact", has_text="Circuit")).to_contain_text("Closed")
    expect(flaky.locator(".fact", has_text="Circuit")).to_contain_text("Probing")


def test_a_healthy_provider_says_what_was_checked_and_when(page: Any, app: RunningApp) -> None:
    provider = app.add_provider()
    app.rpc("checkCustomProviderHealth", provider["id"])
    reload_list(page)
    groq = card(page, "Groq")
    expect(groq.locator("health-badge")).to_have_text("Healthy")
    expect(groq.locator(".card-when")).to_have_text("Checked model list just now")
    expect(groq.locator("circuit-badge")).to_be_hidden()
    expect(groq.locator(".card-keys")).to_be_hidden()  # one active key is not worth a word
