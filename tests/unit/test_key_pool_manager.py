"""Key pools in the manager, through the real bridge and the real secret stores: `apiKeys` on
add, update and test, and the export file's version 2 (keys and header values encrypted)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from backend import transfer
from backend.manager import CustomProviderManager
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage
from tests.helpers import CANARY_KEY, FakeTools, ScriptedCheck, files_containing, provider_config

PASS = "correct horse battery"
A, B, C = CANARY_KEY + "-a", CANARY_KEY + "-b", CANARY_KEY + "-c"


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lightest parameters the importer accepts: the key derivation is not under test here.
    monkeypatch.setattr(transfer, "SCRYPT_N", 2**14)
    monkeypatch.setattr(transfer, "SCRYPT_R", 1)


def add(bridge: Any, **overrides: Any) -> dict[str, Any]:
    result = bridge.addCustomProvider(provider_config(**overrides), {"validate": False})
    assert result["success"], result
    return dict(result["provider"])


def stored_keys(secrets: Any, provider: dict[str, Any]) -> list[str | None]:
    """What the secret store holds for each of a provider's keys, in order."""
    return [secrets.get(f"{provider['id']}:key:{key['id']}") for key in provider["keys"]]


def fresh_bridge(folder: Path) -> tuple[Any, EncryptedFileSecretStore]:
    from backend.bridge import AppInfo, Bridge
    from backend.health.monitor import HealthMonitor

    folder.mkdir(parents=True)
    storage = Storage(folder / "miaoda.db")
    secrets = EncryptedFileSecretStore(folder)
    manager = CustomProviderManager(storage, secrets, check=ScriptedCheck())
    info = AppInfo(str(folder), "file", "", "", lambda: None, "t")
    monitor = HealthMonitor(manager, storage, ScriptedCheck())
    return Bridge(manager, monitor, FakeTools(), info), secrets


def test_a_pool_is_saved_in_order_each_key_in_the_secret_store_and_none_in_the_folder(
    bridge: Any, secret_store: Any, data_dir: Path
) -> None:
    provider = add(bridge, apiKey=None, apiKeys=[A, B, C])
    assert [k["state"] for k in provider["keys"]] == ["active"] * 3
    assert len({k["id"] for k in provider["keys"]}) == 3
    assert provider["hasApiKey"] and provider["apiKeyHint"] == provider["keys"][0]["hint"]
    assert stored_keys(secret_store, provider) == [A, B, C]
    assert CANARY_KEY not in json.dumps(bridge.getAllCustomProviders())
    assert files_containing(data_dir, CANARY_KEY) == []


def test_an_update_without_keys_keeps_them_and_api_keys_replace_them_all(
    bridge: Any, secret_store: Any
) -> None:
    provider = add(bridge, apiKey=None, apiKeys=[A, B])
    kept = bridge.updateCustomProvider(provider["id"], {"model": "m2"}, {"validate": False})
    assert kept["provider"]["keys"] == provider["keys"]
    replaced = bridge.updateCustomProvider(provider["id"], {"apiKeys": [C]}, {"validate": False})
    assert stored_keys(secret_store, replaced["provider"]) == [C]
    assert stored_keys(secret_store, provider) == [None, None]
    emptied = bridge.updateCustomProvider(provider["id"], {"apiKeys": []}, {"validate": False})
    assert emptied["provider"]["keys"] == [] and emptied["provider"]["hasApiKey"] is False


def test_api_key_and_api_keys_together_are_refused(bridge: Any) -> None:
    result = bridge.addCustomProvider(provider_config(apiKeys=[A]), {"validate": False})
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert list(result["error"]["fields"]) == ["apiKeys"]
    assert CANARY_KEY not in json.dumps(result)


def test_a_check_on_save_uses_the_first_key_given(bridge: Any, check: ScriptedCheck) -> None:
    bridge.addCustomProvider(provider_config(apiKey=None, apiKeys=[A, B]))
    assert check.calls[-1][1] == A


def test_testing_a_saved_pool_uses_a_usable_key(bridge: Any, check: ScriptedCheck) -> None:
    provider = add(bridge, apiKey=None, apiKeys=[A, B])
    assert bridge.testProviderConnection(provider["id"])["success"]
    assert check.calls[-1][1] in (A, B)


def test_export_version_2_round_trips_every_key_in_order_and_the_header_values(
    bridge: Any, tmp_path: Path
) -> None:
    add(bridge, apiKey=None, apiKeys=[A, B, C], headers={"X-Api-Token": "tok-" + CANARY_KEY})
    add(bridge, name="local", apiKey=None, baseURL="http://localhost:11434/v1")
    exported = bridge.exportCustomProviders({"includeKeys": True, "passphrase": PASS})
    assert exported["success"] and CANARY_KEY not in exported["content"]
    assert json.loads(exported["content"])["version"] == 2

    other, secrets = fresh_bridge(tmp_path / "fresh")
    report = other.importCustomProviders({"content": exported["content"], "passphrase": PASS})
    assert sorted(report["added"]) == ["groq", "local"] and report["errors"] == []
    imported = {p["name"]: p for p in other.getAllCustomProviders()["providers"]}
    assert stored_keys(secrets, imported["groq"]) == [A, B, C]
    assert imported["local"]["keys"] == []
    header_entry = f"{imported['groq']['id']}:header:x-api-token"
    assert secrets.get(header_entry) == "tok-" + CANARY_KEY
    assert files_containing(tmp_path / "fresh", CANARY_KEY) == []


def version_1_file(passphrase: str, keys: dict[str, str]) -> str:
    """An export as the app wrote it before key pools (docs/API.md, version 1)."""
    provider = provider_config(apiKey=None, headers={"X-Api-Token": None})
    provider.update(parameters={}, auth={"scheme": "bearer"}, endpoints={})
    salt, nonce = os.urandom(16), os.urandom(12)
    aes = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(passphrase.encode())
    pairs = json.dumps([[provider["name"], provider["baseURL"]]], separators=(",", ":"))
    aad = b"miaoda-chat/custom-providers v1\n" + pairs.encode()
    sealed = AESGCM(aes).encrypt(nonce, json.dumps(keys).encode(), aad)
    secrets = {
        "kdf": "scrypt",
        "salt": base64.b64encode(salt).decode(),
        "n": 2**14,
        "r": 8,
        "p": 1,
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    document = {
        "format": "miaoda-chat/custom-providers",
        "version": 1,
        "exportedAt": "2026-01-01T00:00:00Z",
        "providers": [provider],
        "secrets": secrets,
    }
    return json.dumps(document)


def test_a_version_1_export_still_imports_its_key_and_header_value(tmp_path: Path) -> None:
    content = version_1_file(PASS, {"groq": A, "groq\nX-Api-Token": "tok-1"})
    other, secrets = fresh_bridge(tmp_path / "fresh")
    report = other.importCustomProviders({"content": content, "passphrase": PASS})
    assert report["added"] == ["groq"] and report["errors"] == []
    provider = other.getAllCustomProviders()["providers"][0]
    assert stored_keys(secrets, provider) == [A]
    assert secrets.get(f"{provider['id']}:header:x-api-token") == "tok-1"


def test_a_file_whose_keys_break_the_rules_reports_that_provider(tmp_path: Path) -> None:
    exported = transfer.build_export(
        [{k: v for k, v in provider_config(apiKey=None).items()}],
        {"groq": transfer.ProviderSecrets((A, A))},
        PASS,
    )
    other, _ = fresh_bridge(tmp_path / "fresh")
    report = other.importCustomProviders({"content": exported, "passphrase": PASS})
    assert report["added"] == [] and report["errors"][0]["name"] == "groq"
    assert "apiKeys.1" in report["errors"][0]["error"]["fields"]


def test_the_one_key_of_an_older_data_file_becomes_the_first_key_of_its_pool(
    data_dir: Path,
) -> None:
    import sqlite3
    from contextlib import closing

    from backend.storage import MIGRATIONS

    path = data_dir / "old.db"
    with closing(sqlite3.connect(path)) as conn:  # a data file of the version before pools
        for migration in MIGRATIONS[:3]:
            migration(conn)
        conn.execute(
            "INSERT INTO providers (id, name, name_key, display_name, base_url, model, type, "
            "auth, headers, parameters, endpoints, has_api_key, api_key_hint, created_at, "
            "updated_at) VALUES ('p1', 'old', 'old', 'Old', 'https://api.example.com/v1', 'm', "
            "'openai-compatible', '{\"scheme\":\"bearer\"}', '{}', '{}', '{}', 1, 'sk-…-a', "
            "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"
        )
        conn.execute("PRAGMA user_version = 3")
        conn.commit()
    secrets = EncryptedFileSecretStore(data_dir)
    secrets.set("p1", A)  # where the one key of before was kept
    manager = CustomProviderManager(Storage(path), secrets)
    (key,) = manager.get("p1").keys
    assert (key.hint, key.state) == ("sk-…-a", "active")
    assert manager.with_key("p1")[1] == A
    manager.remove_key("p1", key.id)
    assert secrets.get("p1") is None and manager.get("p1").has_api_key is False
