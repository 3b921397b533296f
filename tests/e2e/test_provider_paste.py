"""The add form's "Paste a URL" box in a real browser, against the real detection and the fake
upstream: paste, see what was found and why, use it, save; another candidate; a refused key; a
host that is down; and the form typed by hand as before."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    MODEL,
    RunningApp,
    read_page_text,
    screenshot,
    screenshot_matrix,
)
from tests.fakes.upstream import Reply
from tests.helpers import CANARY_KEY

pytestmark = pytest.mark.browser

MODELS = [MODEL, "llama-3.3-70b-versatile", "other-model"]


def open_paste(page: Any) -> tuple[Any, Any]:
    """Open the add dialog; (the dialog, its paste box)."""
    page.get_by_role("button", name="Add provider").click()
    dialog = page.locator("dialog.provider-dialog")
    expect(dialog).to_be_visible()
    return dialog, dialog.locator("provider-paste")


def paste_into(page: Any, field: Any, text: str) -> None:
    """Put `text` on the clipboard and paste it into `field` with Ctrl+V, as a user would."""
    page.evaluate("(text) => navigator.clipboard.writeText(text)", text)
    field.focus()
    page.keyboard.press("Control+V")


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_pasted_chat_url_is_detected_used_and_saved_with_its_key(
    page: Any, context: Any, app: RunningApp
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    base = f"{app.upstream.url}/v1"
    dialog, paste = open_paste(page)
    paste.get_by_label("Key (optional)").fill(CANARY_KEY)
    paste_into(page, paste.get_by_label("URL or host"), f"{base}/chat/completions")

    result = paste.locator(".paste-result")
    expect(result.locator(".paste-found")).to_have_text("Found: OpenAI-compatible")
    expect(result.locator(".paste-base")).to_have_text(base)
    expect(result.locator(".paste-request")).to_have_text(f"POST{base}/chat/completions")
    expect(result.locator(".paste-model-count")).to_have_text("3 models")
    expect(result.locator(".paste-model")).to_have_text(MODELS)
    assert [r.method for r in app.upstream.requests] and all(
        r.method == "GET" for r in app.upstream.requests
    ), "detection sent something other than model-list GETs"

    evidence = result.locator(".paste-evidence")
    expect(evidence.locator(".paste-reasons")).to_be_hidden()
    evidence.locator("summary").click()
    expect(evidence.locator(".paste-reasons li").first).to_be_visible()
    tried = evidence.locator(".paste-attempts tbody tr", has_text=f"{base}/models")
    expect(tried.first).to_contain_text("200")
    expect(tried.first).to_contain_text("model list")
    screenshot_matrix(page, "paste-detected")

    result.get_by_role("button", name="Use this").click()
    expect(dialog.get_by_label("Display name")).to_be_focused()
    expect(dialog.get_by_label("Base URL")).to_have_value(base)
    expect(dialog.locator('select[name="type"]')).to_have_value("openai-compatible")
    expect(dialog.get_by_label("Model", exact=True)).to_have_value(MODEL)
    expect(dialog.locator("datalist option")).to_have_count(3)
    expect(dialog.locator(".url-value")).to_have_text(f"{base}/chat/completions")
    dialog.get_by_label("Display name").fill("Pasted")
    dialog.get_by_role("button", name="Add provider").click()

    expect(dialog).to_be_hidden()
    expect(page.locator("provider-card .card-title")).to_have_text(["Pasted"])
    [saved] = app.providers()
    assert saved["baseURL"] == base
    assert saved["type"] == "openai-compatible"
    assert saved["model"] == MODEL
    assert saved["hasApiKey"] is True
    chats = app.upstream.requests_to("/v1/chat/completions")
    assert chats and chats[-1].headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert read_page_text(page).leaks() == []
    assert CANARY_KEY not in page.content()


@pytest.fixture
def root_models(app: RunningApp) -> Iterator[None]:
    """The fake upstream also lists a model without /v1 (two base URLs answer), for one test:
    the module's other tests share the server."""
    app.upstream.script("/models", Reply.json({"object": "list", "data": [{"id": "root-model"}]}))
    yield
    app.upstream.script("/models", Reply.json({"error": {"message": "no such path"}}, status=404))


@pytest.mark.usefixtures("root_models")
def test_another_candidate_can_be_picked_and_used(page: Any, app: RunningApp) -> None:
    dialog, paste = open_paste(page)
    paste.get_by_label("URL or host").fill(f"{app.upstream.url}/v1")
    paste.get_by_label("URL or host").press("Enter")

    result = paste.locator(".paste-result")
    expect(result.locator(".paste-base")).to_have_text(f"{app.upstream.url}/v1")
    options = result.get_by_role("group", name="Other candidates").get_by_role("radio")
    expect(options).to_have_count(2)
    expect(options.first).to_be_checked()
    result.locator(".paste-option", has_text="1 model").click()
    expect(result.locator(".paste-base")).to_have_text(app.upstream.url)
    expect(result.locator(".paste-model")).to_have_text(["root-model"])
    expect(result.get_by_role("radio").nth(1)).to_be_focused()
    screenshot(page, "paste-other-candidate")

    result.get_by_role("button", name="Use this").click()
    expect(dialog.get_by_label("Base URL")).to_have_value(app.upstream.url)
    expect(dialog.get_by_label("Model", exact=True)).to_have_value("root-model")
    expect(dialog.get_by_label("API key", exact=True)).to_have_value("")


def test_a_refused_key_still_gives_the_type_and_says_so(page: Any, app: RunningApp) -> None:
    _, paste = open_paste(page)
    paste.get_by_label("Key (optional)").fill("sk-wrong-0000")
    paste.get_by_label("URL or host").fill(f"{app.upstream.url}/bad/v1")
    paste.get_by_role("button", name="Detect").click()

    result = paste.locator(".paste-result")
    expect(result.locator(".paste-found")).to_have_text("Found: OpenAI-compatible")
    expect(result.locator(".paste-base")).to_have_text(f"{app.upstream.url}/bad/v1")
    note = result.get_by_role("note")
    expect(note).to_contain_text("The key was refused")
    expect(note).to_contain_text("AUTH_FAILED")
    screenshot(page, "paste-key-refused")


def test_a_host_that_is_down_shows_the_error_and_the_probes(page: Any, app: RunningApp) -> None:
    dialog, paste = open_paste(page)
    url = f"http://127.0.0.1:{closed_port()}/v1"
    paste.get_by_label("URL or host").fill(url)
    paste.get_by_label("URL or host").press("Enter")

    failure = paste.locator(".paste-failure")
    expect(failure).to_contain_text("CONNECTION_FAILED")
    expect(failure.locator(".paste-attempts tbody tr").first).to_contain_text("connection refused")
    expect(
        failure.locator(".paste-attempts tbody tr", has_text=f"{url}/models").first
    ).to_be_visible()
    # Enter in the box detected; it did not submit the form.
    expect(dialog.locator(".step-picker")).to_be_visible()
    screenshot(page, "paste-host-down")
    assert app.providers() == []


def test_a_base_url_typed_by_hand_works_as_before(page: Any, app: RunningApp) -> None:
    dialog, paste = open_paste(page)
    paste.get_by_label("URL or host").fill(f"{app.upstream.url}/v1")
    paste.get_by_role("button", name="Detect").click()
    expect(paste.locator(".paste-result")).to_be_visible()

    # Starting from a template instead: the detection is not applied.
    dialog.locator(".template-tile.is-blank").click()
    expect(dialog.get_by_label("Base URL")).to_have_value("")
    dialog.get_by_label("Display name").fill("Typed")
    dialog.get_by_label("Base URL").fill(f"{app.upstream.url}/v1/")
    expect(dialog.locator(".url-value")).to_have_text(f"{app.upstream.url}/v1/chat/completions")
    dialog.get_by_label("Model", exact=True).fill("other-model")
    dialog.get_by_role("button", name="Add provider").click()

    expect(dialog).to_be_hidden()
    [saved] = app.providers()
    assert saved["baseURL"] == f"{app.upstream.url}/v1"
    assert saved["model"] == "other-model"


def test_the_paste_box_is_empty_again_when_the_dialog_reopens(page: Any, app: RunningApp) -> None:
    dialog, paste = open_paste(page)
    paste.get_by_label("Key (optional)").fill(CANARY_KEY)
    paste.get_by_label("URL or host").fill(f"{app.upstream.url}/v1")
    paste.get_by_role("button", name="Detect").click()
    expect(paste.locator(".paste-result")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert CANARY_KEY not in page.content()

    dialog, paste = open_paste(page)
    expect(paste.get_by_label("Key (optional)")).to_have_value("")
    expect(paste.get_by_label("URL or host")).to_have_value("")
    expect(paste.locator(".paste-status")).to_be_empty()
    assert read_page_text(page).leaks() == []


def test_the_edit_form_has_no_paste_box(page: Any, app: RunningApp) -> None:
    app.add_provider()
    page.reload()
    page.get_by_role("button", name="Edit Groq").click()
    dialog = page.locator("dialog.provider-dialog")
    expect(dialog.get_by_label("Display name")).to_be_visible()
    expect(dialog.locator("provider-paste")).to_be_hidden()


def test_an_address_that_is_not_a_url_is_said_under_the_field(page: Any, app: RunningApp) -> None:
    _, paste = open_paste(page)
    field = paste.get_by_label("URL or host")
    field.fill("ftp://example.com/v1")
    field.press("Enter")

    expect(field).to_have_attribute("aria-invalid", "true")
    expect(paste.locator(".field-msg")).not_to_be_empty()
    expect(paste.locator(".paste-status")).to_be_empty()
    assert app.upstream.requests == []
