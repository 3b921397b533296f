"""A provider's `checkKind`: what its health checks ask (docs/API.md, "The provider object").

Validation by field, the default, updates, storage (an old row without one), the export file,
the templates that say which kind they need, and the check each kind gets.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from backend.bridge import Bridge
from backend.health.monitor import HealthMonitor
from backend.manager import CustomProviderManager
from backend.models import CHECK_KINDS, HealthStatus, ProviderConfig
from backend.providers import ProviderFactory, get_templates
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage
from tests.helpers import provider_config


@pytest.fixture
def secret_store(file_secret_store: EncryptedFileSecretStore) -> EncryptedFileSecretStore:
    """The check kind does not depend on the secret backend: only the file store."""
    return file_secret_store


def add(bridge: Bridge, **fields: Any) -> dict[str, Any]:
    result = bridge.addCustomProvider(provider_config(**fields), {"validate": False})
    assert result["success"], result
    provider: dict[str, Any] = result["provider"]
    return provider


# --- reads, writes, validation --------------------------------------------------------------


def test_a_provider_saved_without_a_check_kind_lists_its_models(bridge: Bridge) -> None:
    provider = add(bridge)
    assert provider["checkKind"] == "models"
    assert bridge.getCustomProvider(provider["id"])["provider"]["checkKind"] == "models"


def test_a_gateway_can_be_checked_with_a_chat(bridge: Bridge) -> None:
    provider = add(bridge, checkKind="chat")
    assert bridge.getCustomProvider(provider["id"])["provider"]["checkKind"] == "chat"


@pytest.mark.parametrize("value", ["ping", "", "CHAT", 1, None, ["chat"]])
def test_any_other_check_kind_is_refused_by_field(bridge: Bridge, value: Any) -> None:
    # Set after provider_config, which would drop a field given as None.
    result = bridge.addCustomProvider(
        {**provider_config(), "checkKind": value}, {"validate": False}
    )
    assert result["success"] is False
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert list(result["error"]["fields"]) == ["checkKind"]
    assert bridge.getAllCustomProviders()["providers"] == []


def test_an_update_changes_the_kind_and_other_updates_keep_it(bridge: Bridge) -> None:
    pid = add(bridge)["id"]
    changed = bridge.updateCustomProvider(pid, {"checkKind": "chat"}, {"validate": False})
    assert changed["provider"]["checkKind"] == "chat"
    kept = bridge.updateCustomProvider(pid, {"model": "other-model"}, {"validate": False})
    assert kept["provider"]["checkKind"] == "chat"
    bad = bridge.updateCustomProvider(pid, {"checkKind": "head"}, {"validate": False})
    assert list(bad["error"]["fields"]) == ["checkKind"]


def test_the_kind_is_stored_and_a_row_saved_before_it_existed_lists_models(
    storage: Storage, secret_store: EncryptedFileSecretStore, data_dir: Path
) -> None:
    manager = CustomProviderManager(storage, secret_store)
    manager.add(provider_config(name="gateway", checkKind="chat"), validate=False)
    older, _ = manager.add(provider_config(name="older", checkKind="chat"), validate=False)
    with closing(sqlite3.connect(data_dir / "miaoda.db")) as conn:
        conn.execute("UPDATE providers SET check_kind = NULL WHERE id = ?", (older.id,))
        conn.commit()
    reopened = Storage(data_dir / "miaoda.db")
    try:
        kinds = {p.name: p.check_kind for p in reopened.list_providers()}
    finally:
        reopened.close()
    assert kinds == {"gateway": "chat", "older": "models"}


# --- the export file ------------------------------------------------------------------------


def test_the_export_file_carries_the_kind(bridge: Bridge) -> None:
    add(bridge, checkKind="chat")
    doc = json.loads(bridge.exportCustomProviders({})["content"])
    assert doc["providers"][0]["checkKind"] == "chat"


def test_an_imported_provider_keeps_its_kind_and_one_without_gets_the_default(
    bridge: Bridge,
) -> None:
    add(bridge, name="gateway", checkKind="chat")
    add(bridge, name="first-party")
    doc = json.loads(bridge.exportCustomProviders({})["content"])
    for entry in doc["providers"]:
        if entry["name"] == "first-party":
            del entry["checkKind"]  # as a file written before check kinds existed
    for provider in bridge.getAllCustomProviders()["providers"]:
        bridge.removeCustomProvider(provider["id"])
    report = bridge.importCustomProviders({"content": json.dumps(doc)})
    assert sorted(report["added"]) == ["first-party", "gateway"]
    kinds = {p["name"]: p["checkKind"] for p in bridge.getAllCustomProviders()["providers"]}
    assert kinds == {"gateway": "chat", "first-party": "models"}


# --- templates ------------------------------------------------------------------------------

GATEWAYS = {"openrouter", "huggingface", "litellm", "one-api"}
FIRST_PARTY = {"openai", "anthropic", "groq", "deepseek", "mistral", "gemini", "xai", "ollama"}


def test_every_template_says_how_it_is_checked() -> None:
    kinds = {t["id"]: t["checkKind"] for t in get_templates()}
    assert set(kinds.values()) <= set(CHECK_KINDS)
    assert {i for i in GATEWAYS if kinds[i] == "chat"} == GATEWAYS
    assert {i for i in FIRST_PARTY if kinds[i] == "models"} == FIRST_PARTY


def test_a_template_with_its_kind_is_a_valid_provider(bridge: Bridge) -> None:
    [litellm] = [t for t in get_templates() if t["id"] == "litellm"]
    fields = {k: litellm[k] for k in ("name", "displayName", "type", "baseURL", "model")}
    provider = add(bridge, **fields, checkKind=litellm["checkKind"], apiKey=None)
    assert provider["checkKind"] == "chat"


def test_a_preset_takes_its_templates_kind() -> None:
    factory = ProviderFactory()
    assert factory.preset("openrouter", provider_id="a").check_kind == "chat"
    assert factory.preset("groq", provider_id="b").check_kind == "models"


# --- what each kind is checked with ---------------------------------------------------------


class Probe:
    """The provider layer's two checks, recording which one each provider got."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def start_models_checks(self, deliver: Any, **options: Any) -> Any:
        probe = self

        class Batch:
            def submit(self, tag: int, config: ProviderConfig, key: str | None) -> None:
                probe.asked.append((config.name, "models"))
                deliver(tag, HealthStatus(config.id, config.name, "healthy", check_kind="models"))

            def cancel(self) -> None:
                pass

        return Batch()

    def fetch_chat_status(
        self, config: ProviderConfig, key: str | None, *, timeout: float
    ) -> HealthStatus:
        self.asked.append((config.name, "chat"))
        return HealthStatus(config.id, config.name, "healthy", check_kind="chat")


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def monitor(
    manager: CustomProviderManager, storage: Storage, probe: Probe
) -> Iterator[HealthMonitor]:
    """The monitor (and so `bridge`) checking through `probe`."""
    health = HealthMonitor(manager, storage, probe)
    yield health
    health.close()


def test_each_provider_is_checked_the_way_its_kind_says(bridge: Bridge, probe: Probe) -> None:
    add(bridge, name="gateway", checkKind="chat")
    add(bridge, name="first-party", checkKind="models")
    statuses = bridge.checkAllCustomProvidersHealth()["statuses"]
    assert {s["providerName"]: s["checkKind"] for s in statuses} == {
        "gateway": "chat",
        "first-party": "models",
    }
    assert sorted(probe.asked) == [("first-party", "models"), ("gateway", "chat")]


def test_check_now_follows_an_edited_kind(bridge: Bridge, probe: Probe) -> None:
    pid = add(bridge, name="gateway")["id"]
    assert bridge.checkCustomProviderHealth(pid)["status"]["checkKind"] == "models"
    bridge.updateCustomProvider(pid, {"checkKind": "chat"}, {"validate": False})
    assert bridge.checkCustomProviderHealth(pid)["status"]["checkKind"] == "chat"
    assert probe.asked == [("gateway", "models"), ("gateway", "chat")]
