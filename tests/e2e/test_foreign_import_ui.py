"""Importing a Cherry Studio backup through the import dialog in a real browser (issue 21): the
preview names the app and lists what is not brought over, asks no passphrase, and the
providers and their keys arrive once confirmed; in English and in Chinese, photographed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.english import page_english
from tests.e2e.helpers import RunningApp, emulate_scheme, reload_list, screenshot
from tests.foreign import cherry_files
from tests.unit.test_i18n import frontend_catalogue

pytestmark = pytest.mark.browser
BACKUP_NAME = "cherry-studio.202601010000.zip"
ADDED = len(cherry_files.EXPECTED)
ZH = frontend_catalogue("zh-CN")


def zh(key: str, **params: Any) -> str:
    """The Chinese text of a frontend key (a plural's `other` form), filled with `params`."""
    entry = ZH[key]
    text = entry if isinstance(entry, str) else entry["other"]
    return str(text.format(**params))


def backup_file(tmp_path: Path, data: bytes | None = None) -> Path:
    path = tmp_path / BACKUP_NAME
    path.write_bytes(cherry_files.backup() if data is None else data)
    return path


def open_dialog(page: Any, button: str, title: str) -> Any:
    page.locator("providers-view").get_by_role("button", name=button, exact=True).click()
    dialog = page.get_by_role("dialog", name=title)
    expect(dialog).to_be_visible()
    return dialog


@pytest.fixture
def chinese(app: RunningApp) -> Iterator[RunningApp]:
    """The app in Simplified Chinese, put back afterwards (one app serves the whole module)."""
    assert app.rpc("updateSettings", {"language": "zh-CN"})["success"]
    yield app
    assert app.rpc("updateSettings", {"language": "system"})["success"]


def test_a_cherry_studio_backup_is_previewed_then_imported(
    page: Any, app: RunningApp, tmp_path: Path
) -> None:
    dialog = open_dialog(page, "Import", "Import providers")
    dialog.locator("input[type=file]").set_input_files(str(backup_file(tmp_path)))

    source = dialog.locator(".preview-source")
    expect(source).to_contain_text("From a Cherry Studio backup")
    expect(source).to_contain_text("format 5")
    summary = dialog.locator(".preview-summary")
    expect(summary).to_contain_text(f"{ADDED} to add")
    expect(summary).to_contain_text("4 left out")
    unsupported = dialog.locator('[data-group="unsupported"] li')
    expect(unsupported).to_have_count(4)
    for index, name in enumerate(cherry_files.EXPECTED_UNSUPPORTED):
        expect(unsupported.nth(index)).to_contain_text(f"{name} — ")
    expect(dialog.locator(".phrase-box")).to_be_hidden()
    button = dialog.get_by_role("button", name=f"Import {ADDED} providers")
    expect(button).to_be_enabled()
    screenshot(page, "import-cherry-preview-en")
    assert app.providers() == [], "a preview changes nothing"

    button.click()

    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text(f"{ADDED} added")
    titles = page.locator("provider-card .card-title")
    expect(titles).to_have_count(ADDED)
    expect(titles.filter(has_text="My Relay 中转")).to_have_count(1)
    screenshot(page, "import-cherry-done-en")
    saved = {p["name"]: p for p in app.providers()}
    assert sorted(saved) == sorted(cherry_files.EXPECTED)
    assert saved["deepseek"]["baseURL"] == "https://api.deepseek.com/v1"
    assert len(saved["deepseek"]["keys"]) == 2 and saved["deepseek"]["hasApiKey"] is True
    assert saved["local-vllm"]["hasApiKey"] is False


def test_a_long_list_of_entries_left_out_is_folded(
    page: Any, app: RunningApp, tmp_path: Path
) -> None:
    llm = cherry_files.llm_slice()
    for number in range(3):
        gemini = {"id": f"gemini-{number}", "name": f"Gemini {number}", "type": "gemini"}
        llm["providers"].append({**gemini, "apiKey": "", "apiHost": "", "models": []})
        llm["providers"][-1].update(enabled=True, isSystem=False)
    document = cherry_files.document()
    document["localStorage"][cherry_files.PERSIST_KEY] = cherry_files.persisted(llm)
    path = tmp_path / "data.json"
    path.write_text(json.dumps(document))

    dialog = open_dialog(page, "Import", "Import providers")
    dialog.locator("input[type=file]").set_input_files(str(path))

    folded = dialog.locator('details[data-group="unsupported"]')
    expect(folded).to_be_visible()
    expect(folded.locator("summary")).to_contain_text("show all 7")
    expect(folded.locator("li").first).to_be_hidden()
    folded.locator("summary").click()
    expect(folded.locator("li")).to_have_count(7)
    expect(folded.locator("li").last).to_be_visible()
    screenshot(page, "import-cherry-folded-en")


def test_the_chinese_dialog_previews_a_backup_without_english(
    page: Any, chinese: RunningApp, tmp_path: Path
) -> None:
    reload_list(page)
    dialog = open_dialog(page, zh("providers.view.import"), zh("providers.import.title"))
    dialog.locator("input[type=file]").set_input_files(str(backup_file(tmp_path)))

    source = dialog.locator(".preview-source")
    expect(source).to_contain_text(zh("providers.import.source.cherry", app="Cherry Studio"))
    expect(dialog.locator(".preview-summary")).to_contain_text(
        zh("providers.import.pill.unsupported", count=4)
    )
    expect(dialog.locator('[data-group="unsupported"] li')).to_have_count(4)
    # What stays as the file has it: the app's name, its providers' names, the file's name.
    kept = ("Cherry", "Studio", "Empty", "Gemini", "Github", "Copilot", "Silicon", "PPIO")
    kept += ("Moonshot", "AI", "VertexAI", "gateway", "openrouter", "ollama", "zhipu", "deepseek")
    kept += ("gemini",)  # a provider type of Cherry Studio, quoted in a reason
    assert page_english(page, (*kept, BACKUP_NAME)) == []
    for scheme in ("light", "dark"):
        emulate_scheme(page, scheme)
        screenshot(page, f"zh-import-cherry-preview-{scheme}")
    emulate_scheme(page, "light")

    what = zh("providers.import.providers", count=ADDED)
    dialog.get_by_role("button", name=zh("providers.import.submitWhat", what=what)).click()

    expect(dialog).to_be_hidden()
    expect(page.locator("provider-card .card-title")).to_have_count(ADDED)
    assert sorted(p["name"] for p in chinese.providers()) == sorted(cherry_files.EXPECTED)
