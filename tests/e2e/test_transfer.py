"""Export and import in a real browser: downloads, passphrases, the dry-run preview of the
file's providers and routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import MODEL, RunningApp, reload_list, screenshot
from tests.helpers import CANARY_KEY

pytestmark = pytest.mark.browser
PASSPHRASE = "correct horse battery"


def export_file(
    tmp_path: Path, providers: list[dict[str, Any]], routes: list[dict[str, Any]] | None = None
) -> Path:
    """An export file (docs/API.md, "Export file") without keys; version 2 when it has routes."""
    path = tmp_path / "providers.json"
    document: dict[str, Any] = {
        "format": "miaoda-chat/custom-providers",
        "version": 1 if routes is None else 2,
        "exportedAt": "2026-11-26T10:00:00Z",
        "providers": providers,
        "secrets": None,
    }
    if routes is not None:
        document["routes"] = routes
    path.write_text(json.dumps(document))
    return path


def file_provider(name: str, display: str, base: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "displayName": display,
        "baseURL": base,
        "model": MODEL,
        "type": "openai-compatible",
        **extra,
    }


def test_export_downloads_the_providers_without_keys(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    reload_list(page)
    page.get_by_role("button", name="Export", exact=True).click()
    dialog = page.get_by_role("dialog", name="Export providers")
    expect(dialog).to_contain_text("1 provider")
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Export", exact=True).click()
    text = Path(download.value.path()).read_text()
    document = json.loads(text)
    assert download.value.suggested_filename == "miaoda-providers.json"
    assert document["format"] == "miaoda-chat/custom-providers"
    assert [p["name"] for p in document["providers"]] == ["groq"]
    assert document["secrets"] is None
    assert CANARY_KEY not in text
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text("Exported 1 provider")


def test_export_with_keys_asks_for_a_passphrase_twice(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    reload_list(page)
    page.get_by_role("button", name="Export", exact=True).click()
    dialog = page.get_by_role("dialog", name="Export providers")
    dialog.get_by_label("Include API keys").check()
    dialog.get_by_label("Passphrase", exact=True).fill("short")
    dialog.get_by_role("button", name="Export", exact=True).click()
    expect(dialog).to_contain_text("Use at least 8 characters.")
    dialog.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    dialog.get_by_label("Repeat the passphrase").fill(PASSPHRASE + "x")
    dialog.get_by_role("button", name="Export", exact=True).click()
    expect(dialog).to_contain_text("The passphrases don't match.")

    dialog.get_by_label("Repeat the passphrase").fill(PASSPHRASE)
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Export", exact=True).click()
    text = Path(download.value.path()).read_text()
    assert json.loads(text)["secrets"]["cipher"] == "AES-256-GCM"
    assert CANARY_KEY not in text
    check = app.rpc(
        "importCustomProviders", {"content": text, "passphrase": PASSPHRASE, "dryRun": True}
    )
    assert check["success"] and check["skipped"] == ["groq"]


def file_route(name: str, display: str, members: list[str]) -> dict[str, Any]:
    return {"name": name, "displayName": display, "strategy": "failover", "members": members}


def test_import_shows_a_dry_run_preview_then_applies_it(
    page: Any, app: RunningApp, tmp_path: Path
) -> None:
    app.add_provider(name="groq", displayName="Groq")
    reload_list(page)
    base = f"{app.upstream.url}/v1"
    path = export_file(
        tmp_path,
        [
            file_provider("groq", "Groq from the file", base),
            file_provider("mistral", "Mistral", base),
            file_provider("broken", "Broken", "not a url"),
        ],
        [
            file_route("duo", "Mistral, then Groq", ["mistral", "groq"]),
            file_route("lost", "Lost", ["broken"]),
        ],
    )
    page.get_by_role("button", name="Import", exact=True).click()
    dialog = page.get_by_role("dialog", name="Import providers")
    dialog.locator("input[type=file]").set_input_files(str(path))

    summary = dialog.locator(".preview-summary")
    expect(summary).to_contain_text("1 to add")
    expect(summary).to_contain_text("1 to skip")
    expect(summary).to_contain_text("1 error")
    expect(dialog.locator('[data-group="added"] li')).to_have_text(["mistral"])
    expect(dialog.locator('[data-group="skipped"] li')).to_have_text(["groq"])
    expect(dialog.locator('[data-group="errors"] li')).to_contain_text(["broken — baseURL"])
    expect(summary).to_contain_text("1 route to add")
    expect(summary).to_contain_text("1 route error")
    expect(dialog.locator('[data-group="routes-added"] li')).to_have_text(["duo"])
    expect(dialog.locator('[data-group="routes-errors"] li')).to_contain_text(
        ["lost — routes[1].members.0"]
    )
    expect(dialog.get_by_role("button", name="Import 1 provider and 1 route")).to_be_enabled()
    screenshot(page, "import-preview-1280")
    assert [p["name"] for p in app.providers()] == ["groq"], "a preview changes nothing"
    assert app.rpc("getAllRoutes")["routes"] == [], "a preview changes nothing"

    dialog.get_by_text("Replace", exact=True).click()
    expect(summary).to_contain_text("1 to replace")
    dialog.get_by_role("button", name="Import 2 providers and 1 route").click()

    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text("1 added, 1 replaced")
    expect(page.locator("provider-card .card-title")).to_have_text(
        ["Groq from the file", "Mistral"]
    )
    ids = {p["name"]: p["id"] for p in app.providers()}
    [route] = app.rpc("getAllRoutes")["routes"]
    assert (route["name"], route["members"]) == ("duo", [ids["mistral"], ids["groq"]])


def test_import_of_routes_alone_offers_to_import_them(
    page: Any, app: RunningApp, tmp_path: Path
) -> None:
    app.add_provider(name="groq", displayName="Groq")
    reload_list(page)
    path = export_file(tmp_path, [], [file_route("solo", "Solo", ["groq"])])
    page.get_by_role("button", name="Import", exact=True).click()
    dialog = page.get_by_role("dialog", name="Import providers")
    dialog.locator("input[type=file]").set_input_files(str(path))

    expect(dialog.locator(".preview-summary")).to_have_text("1 route to add")
    dialog.get_by_role("button", name="Import 1 route").click()

    expect(dialog).to_be_hidden()
    [route] = app.rpc("getAllRoutes")["routes"]
    assert route["members"] == [app.providers()[0]["id"]]


def test_import_with_a_wrong_passphrase_says_so_and_imports_nothing(
    page: Any, app: RunningApp, tmp_path: Path
) -> None:
    provider = app.add_provider(name="groq", displayName="Groq")
    exported = app.rpc("exportCustomProviders", {"includeKeys": True, "passphrase": PASSPHRASE})
    app.rpc("removeCustomProvider", provider["id"])
    path = tmp_path / "with-keys.json"
    path.write_text(exported["content"])
    reload_list(page)

    page.get_by_role("button", name="Import", exact=True).click()
    dialog = page.get_by_role("dialog", name="Import providers")
    dialog.locator("input[type=file]").set_input_files(str(path))
    phrase = dialog.get_by_label("Passphrase")
    expect(phrase).to_be_focused()
    phrase.fill("not the passphrase")
    phrase.press("Enter")
    expect(dialog.locator(".phrase-box .field-msg")).to_contain_text("Wrong passphrase")
    expect(phrase).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_role("button", name="Import")).to_be_disabled()
    assert app.providers() == []

    phrase.fill(PASSPHRASE)
    dialog.get_by_role("button", name="Unlock").click()
    expect(dialog.locator(".preview-summary")).to_contain_text("1 to add")
    dialog.get_by_role("button", name="Import 1 provider").click()
    expect(page.locator("provider-card .card-title")).to_have_text(["Groq"])
    [imported] = app.providers()
    assert imported["hasApiKey"] is True


def test_import_previews_the_files_tool_servers_and_says_stdio_ones_wait_for_a_confirmation(
    page: Any, app: RunningApp, tmp_path: Path
) -> None:
    path = tmp_path / "tools.json"
    server = {
        "name": "local-files",
        "displayName": "Local files",
        "transport": "stdio",
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-filesystem", str(tmp_path)],
        "url": None,
        "env": {"API_TOKEN": None},
        "headers": {},
        "enabled": True,
        "timeoutSeconds": 60,
    }
    document = {
        "format": "miaoda-chat/custom-providers",
        "version": 2,
        "providers": [],
        "mcpServers": [server],
        "secrets": None,
    }
    path.write_text(json.dumps(document))
    page.get_by_role("button", name="Import", exact=True).click()
    dialog = page.get_by_role("dialog", name="Import providers")
    dialog.locator("input[type=file]").set_input_files(str(path))

    expect(dialog.locator(".preview-summary")).to_have_text("1 tool server to add")
    expect(dialog.locator('[data-group="mcpServers-added"] li')).to_have_text(["local-files"])
    expect(dialog.locator('[data-note="mcp-confirm"]')).to_contain_text("press Restart")
    screenshot(page, "import-preview-mcp-1280")
    dialog.get_by_role("button", name="Import 1 tool server").click()

    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text("1 tool server imported")
    [imported] = app.rpc("getAllMcpServers")["servers"]
    assert (imported["status"], imported["error"]["code"]) == ("failed", "NOT_CONFIRMED")
