"""The add/edit form in a real browser: templates, validation, connection tests, keyboard use."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import MODEL, RunningApp, reload_list, screenshot
from tests.fakes.upstream import Reply
from tests.helpers import CANARY_KEY

pytestmark = pytest.mark.browser


def open_add_form(page: Any, template: str = "") -> Any:
    """Open the add dialog and pick a template by typing (empty: start blank)."""
    page.get_by_role("button", name="Add provider").click()
    dialog = page.locator("dialog.provider-dialog")
    expect(dialog).to_be_visible()
    search = dialog.get_by_role("searchbox")
    expect(search).to_be_focused()
    search.fill(template)
    search.press("Enter")
    expect(dialog.get_by_label("Display name")).to_be_visible()
    return dialog


def field_message(dialog: Any, key: str) -> Any:
    """The message shown under the field the server calls `key`."""
    return dialog.locator(f'.field[data-field="{key}"] .field-msg')


def test_add_from_a_template_tests_the_connection_and_lists_the_provider(
    page: Any, app: RunningApp
) -> None:
    dialog = open_add_form(page, "groq")
    note = dialog.locator(".template-note")
    expect(note).to_contain_text("Groq")
    docs = note.get_by_role("link", name="Provider docs")
    expect(docs).to_have_attribute("target", "_blank")
    expect(docs).to_have_attribute("rel", "noopener noreferrer")
    expect(dialog.get_by_label("Base URL")).to_have_value("https://api.groq.com/openai/v1")
    expect(dialog.locator(".url-value")).to_have_text(
        "https://api.groq.com/openai/v1/chat/completions"
    )
    expect(dialog.get_by_label("API key")).to_be_focused()

    dialog.get_by_label("API key").fill(CANARY_KEY)
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1/")
    expect(dialog.locator(".url-value")).to_have_text(f"{app.upstream.url}/v1/chat/completions")
    screenshot(page, "add-form-1280")
    dialog.get_by_role("button", name="Add provider").click()

    expect(dialog).to_be_hidden()
    card = page.locator("provider-card", has_text="Groq")
    expect(card.locator(".card-url")).to_have_text(f"{app.upstream.url}/v1/chat/completions")
    expect(page.get_by_role("status")).to_contain_text("Added Groq")
    expect(card.locator("health-badge")).to_have_text("Healthy")
    chats = app.upstream.requests_to("/v1/chat/completions")
    assert chats and chats[0].headers["authorization"] == f"Bearer {CANARY_KEY}"
    [saved] = app.providers()
    assert saved["name"] == "groq" and saved["hasApiKey"] is True
    assert CANARY_KEY not in page.content()


def test_server_validation_messages_appear_next_to_their_fields(page: Any, app: RunningApp) -> None:
    dialog = open_add_form(page)
    dialog.locator("summary", has_text="Generation parameters").click()
    dialog.get_by_label(re.compile("^Temperature")).fill("3")
    dialog.get_by_label("Display name").fill("Broken")
    dialog.get_by_label("Base URL").fill("ftp://example.com/v1")
    dialog.get_by_role("button", name="Add provider").click()

    expect(field_message(dialog, "baseURL")).to_contain_text("absolute http:// or https:// URL")
    expect(dialog.get_by_label("Base URL")).to_have_attribute("aria-invalid", "true")
    temperature = dialog.locator(
        "parameters-editor .field", has=page.locator('[data-param="temperature"]')
    )
    expect(temperature.locator(".field-msg")).to_have_text("Must be from 0 to 2.")
    expect(field_message(dialog, "model")).to_contain_text("model name")
    summary = dialog.locator(".form-error")
    expect(summary).to_contain_text("3 fields need attention")
    for label in ("Base URL", "Model", "Temperature"):
        expect(summary).to_contain_text(label)
    expect(dialog.get_by_label("Base URL")).to_be_focused()
    screenshot(page, "add-form-errors-1280")
    assert app.providers() == []


def test_a_taken_name_is_reported_on_the_name_field(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    reload_list(page)
    dialog = open_add_form(page)
    dialog.get_by_label("Display name").fill("Another")
    dialog.get_by_label("Name", exact=True).fill("GROQ")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1")
    dialog.get_by_label("Model", exact=True).fill(MODEL)
    dialog.get_by_role("button", name="Add provider").click()
    expect(field_message(dialog, "name")).to_have_text(
        "This name is already used by another provider."
    )


def test_edit_keeps_the_key_and_saves_the_changes(page: Any, app: RunningApp) -> None:
    provider = app.add_provider()
    reload_list(page)
    page.get_by_role("button", name="Edit Groq").click()
    dialog = page.locator("dialog.provider-dialog")
    expect(dialog.get_by_role("heading", name="Edit Groq")).to_be_visible()
    expect(dialog.locator('.field[data-field="apiKey"] .field-help')).to_have_text(
        re.compile(r"^Key saved \(sk-…[0-9a-f]{4}\) — leave empty to keep it\.$")
    )
    expect(dialog.get_by_label("API key")).to_have_value("")
    expect(dialog.locator("datalist option")).to_have_count(3)

    dialog.locator("summary", has_text="Generation parameters").click()
    dialog.get_by_label(re.compile("^Temperature")).fill("0.5")
    dialog.get_by_label("Display name").fill("Groq Fast")
    dialog.get_by_label("Model", exact=True).fill("other-model")
    dialog.get_by_role("button", name="Save changes").click()

    expect(dialog).to_be_hidden()
    expect(page.locator("provider-card .card-title")).to_have_text(["Groq Fast"])
    saved = app.rpc("getCustomProvider", provider["id"])["provider"]
    assert saved["displayName"] == "Groq Fast"
    assert saved["model"] == "other-model"
    assert saved["parameters"] == {"temperature": 0.5}
    assert saved["hasApiKey"] is True
    assert CANARY_KEY not in page.content()


def test_test_connection_reports_the_time_to_first_token(page: Any, app: RunningApp) -> None:
    dialog = open_add_form(page)
    dialog.get_by_label("Display name").fill("Local")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1")
    dialog.get_by_label("Model", exact=True).fill(MODEL)
    dialog.get_by_role("button", name="Test connection").click()
    expect(dialog.locator(".test-panel")).to_contain_text(
        re.compile(r"Connected — first token in \d+ ms")
    )
    assert app.providers() == [], "a test saves nothing"


def test_a_rejected_key_is_classified_and_can_be_saved_anyway(page: Any, app: RunningApp) -> None:
    dialog = open_add_form(page)
    dialog.get_by_label("Display name").fill("Wrong key")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/bad/v1")
    dialog.get_by_label("Model", exact=True).fill(MODEL)
    dialog.get_by_label("API key").fill("sk-wrong-0000000000000000")
    dialog.get_by_role("button", name="Test connection").click()
    panel = dialog.locator(".test-panel")
    expect(panel).to_contain_text("Key rejected")
    expect(panel.locator(".error-code")).to_have_text("AUTH_FAILED")
    expect(panel).to_contain_text("rejected the API key")

    dialog.get_by_role("button", name="Add provider").click()
    expect(panel).to_contain_text("Not saved: Key rejected")
    assert app.providers() == []
    panel.get_by_role("button", name="Save anyway").click()
    expect(dialog).to_be_hidden()
    card = page.locator("provider-card", has_text="Wrong key")
    expect(card.locator("health-badge")).to_have_text("Unhealthy")
    expect(card.locator(".card-error")).to_contain_text("AUTH_FAILED")


def test_a_provider_can_be_added_with_the_keyboard_only(page: Any, app: RunningApp) -> None:
    add = page.get_by_role("button", name="Add a provider")
    for _ in range(12):
        if add.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(add).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.provider-dialog")
    expect(dialog.get_by_role("searchbox")).to_be_focused()
    page.keyboard.press("Enter")  # the first tile: start blank
    expect(dialog.get_by_label("Display name")).to_be_focused()
    page.keyboard.type("Keyboard Co")
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("Name", exact=True)).to_have_value("keyboard-co")
    page.keyboard.press("Tab")  # type
    page.keyboard.press("Tab")
    page.keyboard.type(f"{app.upstream.url}/v1")
    page.keyboard.press("Tab")
    page.keyboard.type(MODEL)
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Fetch models")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("API key")).to_be_focused()
    page.keyboard.type("sk-keyboard-0123456789abcdef")
    page.keyboard.press("Enter")

    expect(dialog).to_be_hidden()
    expect(page.locator("provider-card .card-title")).to_have_text(["Keyboard Co"])
    assert [p["name"] for p in app.providers()] == ["keyboard-co"]


def test_escape_closes_the_form_and_returns_focus(page: Any) -> None:
    add = page.get_by_role("button", name="Add provider")
    add.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.provider-dialog")
    expect(dialog).to_be_visible()
    for step in range(40):  # Tab never leaves an open dialog
        page.keyboard.press("Tab")
        where = page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)")
        assert dialog.evaluate("d => d.contains(document.activeElement)"), (step, where)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(add).to_be_focused()


URL_CASES = [
    ("openai-compatible", "/v1/", None),
    ("openai-compatible", "/openai/v1", None),
    ("anthropic-compatible", "", None),
    ("anthropic-compatible", "/v1", None),
    ("anthropic-compatible", "/v1//", None),
    ("custom", "/openai/deployments/gpt", {"chat": "/chat/completions?api-version=2024-10-21"}),
    ("openai-compatible", "/v2", {"chat": "/generate"}),
]


def test_the_live_request_url_matches_the_one_the_app_saves(page: Any, app: RunningApp) -> None:
    for index, (kind, path, endpoints) in enumerate(URL_CASES):
        config = {
            "type": kind,
            "baseURL": f"{app.upstream.url}{path}",
            "endpoints": endpoints or {},
        }
        saved = app.add_provider(name=f"url-{index}", **config)
        shown = page.evaluate(
            "async (c) => (await import('/js/lib/provider-rules.js')).resolveRequestURL(c)", config
        )
        assert shown == saved["requestURL"], (kind, path, endpoints)


def test_a_credential_header_is_write_only_in_the_form(page: Any, app: RunningApp) -> None:
    secret = "Bearer cf-canary-5d1e8a7b3c9f2e4d6a0b"
    header = "cf-aig-authorization"
    provider = app.add_provider(headers={"X-Title": "MiaoDa", header: secret})
    reload_list(page)
    page.get_by_role("button", name="Edit Groq").click()
    dialog = page.locator("dialog.provider-dialog")
    dialog.locator("summary", has_text="Custom headers").click()
    value = dialog.get_by_label("Header 2 value")
    expect(dialog.get_by_label("Header 2 name")).to_have_value(header)
    expect(value).to_have_value("")
    expect(value).to_have_attribute("type", "password")
    expect(value).to_have_attribute("placeholder", re.compile("Saved \\(…6a0b\\)"))
    expect(dialog.get_by_label("Header 1 value")).to_have_value("MiaoDa")
    assert secret not in page.content()

    # Saving other edits keeps the stored value: the form sends no value for it.
    dialog.get_by_label("Display name").fill("Groq Gateway")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    saved = app.rpc("getCustomProvider", provider["id"])["provider"]
    assert saved["displayName"] == "Groq Gateway"
    assert saved["secretHeaders"] == {header: {"hasValue": True, "hint": "…6a0b"}}

    # A typed value replaces it.
    page.get_by_role("button", name="Edit Groq Gateway").click()
    dialog.locator("summary", has_text="Custom headers").click()
    dialog.get_by_label("Header 2 value").fill("Bearer replaced-value-1234")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    saved = app.rpc("getCustomProvider", provider["id"])["provider"]
    assert saved["headers"] == {"X-Title": "MiaoDa", header: None}
    assert saved["secretHeaders"][header]["hint"] == "…1234"


def test_fetch_models_before_saving_sends_the_typed_key(page: Any, app: RunningApp) -> None:
    app.upstream.script(
        "/v1/models",
        Reply.json({"object": "list", "data": [{"id": "alpha-1"}, {"id": "beta-2"}]}),
    )
    dialog = open_add_form(page)
    dialog.get_by_label("Display name").fill("Unsaved Co")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1")
    dialog.get_by_label("API key").fill(CANARY_KEY)
    dialog.get_by_role("button", name="Fetch models").click()

    help_text = dialog.locator('.field[data-field="model"] .field-help')
    expect(help_text).to_have_text("2 models offered by the provider — pick one or type any id.")
    expect(dialog.locator("datalist option")).to_have_count(2)
    assert dialog.locator("datalist option").evaluate_all("os => os.map(o => o.value)") == [
        "alpha-1",
        "beta-2",
    ]
    expect(dialog.get_by_label("Model", exact=True)).to_be_focused()
    [listed] = app.upstream.requests_to("/v1/models")
    assert listed.headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert app.providers() == [], "fetching models saves nothing"
    screenshot(page, "add-form-fetched-models")

    dialog.get_by_label("Model", exact=True).fill("beta-2")
    dialog.get_by_role("button", name="Add provider").click()
    expect(dialog).to_be_hidden()
    [saved] = app.providers()
    assert saved["model"] == "beta-2"
    assert CANARY_KEY not in page.content()


def test_fetch_models_reports_a_rejected_key_like_a_test(page: Any, app: RunningApp) -> None:
    dialog = open_add_form(page)
    dialog.get_by_label("Display name").fill("Wrong key")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/bad/v1")
    dialog.get_by_label("API key").fill("sk-wrong-0000000000000000")
    dialog.get_by_role("button", name="Fetch models").click()

    panel = dialog.locator(".test-panel")
    expect(panel).to_contain_text("Key rejected")
    expect(panel.locator(".error-code")).to_have_text("AUTH_FAILED")
    expect(dialog.locator('.field[data-field="model"] .field-help')).to_contain_text(
        "Couldn't load the model list"
    )
    expect(dialog.locator("datalist option")).to_have_count(0)
    assert "sk-wrong-0000000000000000" not in dialog.inner_text()


def test_fetch_models_when_editing_uses_the_edits_and_the_stored_key(
    page: Any, app: RunningApp
) -> None:
    app.add_provider(baseURL=f"{app.upstream.url}/old/v1")
    app.upstream.script("/v1/models", Reply.json({"object": "list", "data": [{"id": "new-1"}]}))
    reload_list(page)
    page.get_by_role("button", name="Edit Groq").click()
    dialog = page.locator("dialog.provider-dialog")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1")
    dialog.get_by_role("button", name="Fetch models").click()

    expect(dialog.locator("datalist option")).to_have_count(1)
    expect(dialog.locator("datalist option")).to_have_attribute("value", "new-1")
    [listed] = app.upstream.requests_to("/v1/models")
    assert listed.headers["authorization"] == f"Bearer {CANARY_KEY}"
    expect(dialog.get_by_label("API key")).to_have_value("")
