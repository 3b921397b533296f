"""Export and import through the real bridge (docs/API.md, "Export file" and "Import")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backend.manager import CustomProviderManager
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage
from tests.helpers import CANARY_KEY, FakeTools, ScriptedCheck, provider_config

PASS = "correct horse battery"


def stored_keys(secrets: Any, provider: dict[str, Any]) -> list[str | None]:
    """What the secret store holds for each of a provider's keys (docs/DATA.md), in order."""
    return [secrets.get(f"{provider['id']}:key:{key['id']}") for key in provider["keys"]]


def add(bridge: Any, **overrides: Any) -> dict[str, Any]:
    result = bridge.addCustomProvider(provider_config(**overrides), {"validate": False})
    assert result["success"], result
    return result


def fresh_bridge(folder: Path) -> tuple[Any, Storage, EncryptedFileSecretStore]:
    from backend.bridge import AppInfo, Bridge
    from backend.health.monitor import HealthMonitor

    folder.mkdir(parents=True)
    storage = Storage(folder / "miaoda.db")
    secrets = EncryptedFileSecretStore(folder)
    manager = CustomProviderManager(storage, secrets, check=ScriptedCheck())
    info = AppInfo(str(folder), "file", "", "", lambda: None, "t")
    return (
        Bridge(manager, HealthMonitor(manager, storage, ScriptedCheck()), FakeTools(), info),
        storage,
        secrets,
    )


def test_export_without_keys_holds_no_key_and_has_the_contract_shape(bridge: Any) -> None:
    add(bridge, headers={"X-A": "1"}, parameters={"topP": 0.5})
    result = bridge.exportCustomProviders({})
    assert result["filename"].endswith(".json") and result["count"] == 1
    doc = json.loads(result["content"])
    assert set(doc) == {"format", "version", "exportedAt", "providers", "secrets"}
    assert doc["format"] == "miaoda-chat/custom-providers" and doc["version"] == 2
    assert doc["secrets"] is None
    assert set(doc["providers"][0]) == {
        "name",
        "displayName",
        "baseURL",
        "model",
        "type",
        "headers",
        "parameters",
        "auth",
        "endpoints",
    }
    assert CANARY_KEY not in result["content"]


def test_keys_are_exported_only_with_a_passphrase(bridge: Any) -> None:
    add(bridge)
    result = bridge.exportCustomProviders({"includeKeys": True})
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert "passphrase" in result["error"]["fields"]
    encrypted = bridge.exportCustomProviders({"includeKeys": True, "passphrase": PASS})
    assert CANARY_KEY not in encrypted["content"]
    assert json.loads(encrypted["content"])["secrets"]["kdf"] == "scrypt"


def test_round_trip_to_a_fresh_data_folder_gives_identical_providers_and_keys(
    bridge: Any, tmp_path: Path
) -> None:
    add(bridge, name="one", parameters={"temperature": 1.5}, headers={"X-Org": "o"})
    add(bridge, name="two", type="anthropic-compatible", baseURL="https://api.anthropic.com")
    add(bridge, name="three", apiKey=None)
    content = bridge.exportCustomProviders({"includeKeys": True, "passphrase": PASS})["content"]

    other, _, secrets = fresh_bridge(tmp_path / "fresh")
    report = other.importCustomProviders({"content": content, "passphrase": PASS})
    assert sorted(report["added"]) == ["one", "three", "two"] and report["errors"] == []

    def comparable(b: Any) -> list[dict[str, Any]]:
        drop = {"id", "createdAt", "updatedAt"}
        return [
            {k: v for k, v in p.items() if k not in drop}
            | {"keys": [(k["hint"], k["state"]) for k in p["keys"]]}  # key ids are new
            for p in b.getAllCustomProviders()["providers"]
        ]

    assert comparable(other) == comparable(bridge)
    providers = other.getAllCustomProviders()["providers"]
    keys = {p["name"]: stored_keys(secrets, p) for p in providers}
    assert keys == {"one": [CANARY_KEY], "two": [CANARY_KEY], "three": []}


def test_wrong_passphrase_gives_decrypt_failed_and_changes_nothing(
    bridge: Any, tmp_path: Path
) -> None:
    add(bridge)
    content = bridge.exportCustomProviders({"includeKeys": True, "passphrase": PASS})["content"]
    other, storage, _ = fresh_bridge(tmp_path / "fresh")
    result = other.importCustomProviders({"content": content, "passphrase": "wrong passphrase"})
    assert result["error"]["code"] == "DECRYPT_FAILED"
    assert storage.count_providers() == 0


def test_on_conflict_skip_replace_and_rename(bridge: Any) -> None:
    add(bridge, name="dup", model="old")
    doc = json.loads(bridge.exportCustomProviders({})["content"])
    doc["providers"][0]["model"] = "new"
    content = json.dumps(doc)

    skipped = bridge.importCustomProviders({"content": content})
    assert skipped["skipped"] == ["dup"]
    renamed = bridge.importCustomProviders({"content": content, "onConflict": "rename"})
    assert renamed["added"] == ["dup-2"]
    replaced = bridge.importCustomProviders({"content": content, "onConflict": "replace"})
    assert replaced["updated"] == ["dup"]
    models = {p["name"]: p["model"] for p in bridge.getAllCustomProviders()["providers"]}
    assert models == {"dup": "new", "dup-2": "new"}


def test_replace_keeps_the_key_when_the_base_url_is_unchanged(
    bridge: Any, secret_store: Any
) -> None:
    added = add(bridge)
    content = bridge.exportCustomProviders({})["content"]
    bridge.importCustomProviders({"content": content, "onConflict": "replace"})
    assert stored_keys(secret_store, added["provider"]) == [CANARY_KEY]


def test_replace_that_changes_the_base_url_drops_the_stored_key(
    bridge: Any, secret_store: Any
) -> None:
    added = add(bridge)
    doc = json.loads(bridge.exportCustomProviders({})["content"])
    doc["providers"][0]["baseURL"] = "https://attacker.example/v1"
    report = bridge.importCustomProviders({"content": json.dumps(doc), "onConflict": "replace"})
    assert report["updated"] == ["groq"]
    assert stored_keys(secret_store, added["provider"]) == [None]
    assert bridge.getCustomProvider(added["id"])["provider"]["hasApiKey"] is False


def test_dry_run_reports_without_changing_anything(bridge: Any, storage: Any) -> None:
    add(bridge, name="kept")
    doc = json.loads(bridge.exportCustomProviders({})["content"])
    doc["providers"].append({**doc["providers"][0], "name": "newone"})
    before = bridge.getAllCustomProviders()
    report = bridge.importCustomProviders(
        {"content": json.dumps(doc), "dryRun": True, "onConflict": "replace"}
    )
    assert report["dryRun"] is True
    assert report["added"] == ["newone"] and report["updated"] == ["kept"]
    assert bridge.getAllCustomProviders() == before


def test_invalid_providers_are_reported_one_by_one_and_valid_ones_still_land(bridge: Any) -> None:
    good = {k: v for k, v in provider_config(name="good").items() if k != "apiKey"}
    doc = {
        "format": "miaoda-chat/custom-providers",
        "version": 1,
        "exportedAt": "2026-11-26T00:00:00Z",
        "providers": [
            good,
            {**good, "name": "bad", "baseURL": "ftp://x"},
            {**good, "name": "GOOD"},
            "junk",
        ],
        "secrets": None,
    }
    report = bridge.importCustomProviders({"content": json.dumps(doc)})
    assert report["added"] == ["good"]
    errors = {e["name"]: e["error"]["code"] for e in report["errors"]}
    assert errors == {"bad": "INVALID_CONFIG", "GOOD": "DUPLICATE_NAME", "#4": "INVALID_CONFIG"}


def test_a_file_that_is_not_an_export_is_refused(bridge: Any, storage: Any) -> None:
    for content in (
        "not json",
        "{}",
        json.dumps({"format": "other", "version": 1, "providers": []}),
    ):
        assert (
            bridge.importCustomProviders({"content": content})["error"]["code"] == "IMPORT_INVALID"
        )
    assert storage.count_providers() == 0


def test_export_and_import_through_a_path(bridge: Any, tmp_path: Path) -> None:
    add(bridge)
    target = tmp_path / "out" / "providers.json"
    result = bridge.exportCustomProviders({"path": str(target)})
    assert result == {"success": True, "path": str(target), "count": 1}
    other, _, _ = fresh_bridge(tmp_path / "fresh")
    assert other.importCustomProviders({"path": str(target)})["added"] == ["groq"]


def test_import_from_a_missing_path_is_a_clear_error(bridge: Any, tmp_path: Path) -> None:
    result = bridge.importCustomProviders({"path": str(tmp_path / "missing.json")})
    assert result["error"]["code"] == "IMPORT_INVALID"


@pytest.mark.parametrize("answer", [None, ""])
def test_cancelled_dialogs_give_cancelled(bridge: Any, answer: str | None) -> None:
    class Dialogs:
        def save_path(self, suggested_name: str) -> str | None:
            return answer

        def open_path(self) -> str | None:
            return answer

    bridge._dialogs = Dialogs()
    assert bridge.exportCustomProviders({})["error"]["code"] == "CANCELLED"
    assert bridge.importCustomProviders({})["error"]["code"] == "CANCELLED"


def test_a_dialog_path_is_used_when_no_path_is_given(bridge: Any, tmp_path: Path) -> None:
    target = tmp_path / "chosen.json"

    class Dialogs:
        def save_path(self, suggested_name: str) -> str | None:
            return str(target)

        def open_path(self) -> str | None:
            return str(target)

    add(bridge)
    bridge._dialogs = Dialogs()
    assert bridge.exportCustomProviders({})["path"] == str(target)
    assert bridge.importCustomProviders({})["skipped"] == ["groq"]


def test_an_edited_base_url_in_an_encrypted_export_cannot_redirect_a_key(
    bridge: Any, tmp_path: Path
) -> None:
    add(bridge)
    doc = json.loads(
        bridge.exportCustomProviders({"includeKeys": True, "passphrase": PASS})["content"]
    )
    doc["providers"][0]["baseURL"] = "https://attacker.example/v1"
    other, storage, _ = fresh_bridge(tmp_path / "fresh")
    result = other.importCustomProviders({"content": json.dumps(doc), "passphrase": PASS})
    assert result["error"]["code"] == "DECRYPT_FAILED"
    assert storage.count_providers() == 0


def test_other_hand_edits_of_an_encrypted_export_still_import(bridge: Any, tmp_path: Path) -> None:
    add(bridge)
    doc = json.loads(
        bridge.exportCustomProviders({"includeKeys": True, "passphrase": PASS})["content"]
    )
    doc["providers"][0]["model"] = "edited-model"
    other, _, secrets = fresh_bridge(tmp_path / "fresh")
    report = other.importCustomProviders({"content": json.dumps(doc), "passphrase": PASS})
    assert report["added"] == ["groq"]
    provider = other.getAllCustomProviders()["providers"][0]
    assert provider["model"] == "edited-model"
    assert stored_keys(secrets, provider) == [CANARY_KEY]
