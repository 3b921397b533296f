"""The provider manager through the real bridge: CRUD, keys, validation and concurrency."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from backend.errors import AuthFailed
from tests.helpers import CANARY_KEY, files_containing, provider_config


def key_entries(provider: dict[str, Any]) -> list[str]:
    """The secret store entries of a provider's keys (docs/DATA.md, "Secret store")."""
    return [f"{provider['id']}:key:{key['id']}" for key in provider["keys"]]


def stored_keys(secret_store: Any, provider: dict[str, Any]) -> list[str | None]:
    """What the secret store holds for each of a provider's keys, in order."""
    return [secret_store.get(entry) for entry in key_entries(provider)]


def add(bridge: Any, **overrides: Any) -> dict[str, Any]:
    result = bridge.addCustomProvider(provider_config(**overrides), {"validate": False})
    assert result["success"], result
    return result


def test_added_provider_reads_back_with_every_contract_field(bridge: Any) -> None:
    result = add(bridge, headers={"X-Team": "a"}, parameters={"temperature": 0.2, "maxTokens": 512})
    provider = bridge.getCustomProvider(result["id"])["provider"]
    assert set(provider) == {
        "id",
        "name",
        "displayName",
        "baseURL",
        "model",
        "type",
        "headers",
        "parameters",
        "auth",
        "endpoints",
        "checkKind",
        "requestURL",
        "hasApiKey",
        "apiKeyHint",
        "secretHeaders",
        "keys",
        "createdAt",
        "updatedAt",
    }
    assert provider["hasApiKey"] is True
    assert provider["apiKeyHint"] == "sk-…4b2c"
    assert provider["createdAt"].endswith("Z")
    assert provider["parameters"] == {"temperature": 0.2, "maxTokens": 512}


def test_ids_are_opaque_and_not_derived_from_the_name(bridge: Any) -> None:
    first = add(bridge)
    bridge.removeCustomProvider(first["id"])
    second = add(bridge)
    assert "groq" not in first["id"]
    assert first["id"] != second["id"]


def test_the_key_never_appears_in_any_answer(bridge: Any) -> None:
    added = add(bridge)
    answers = [
        added,
        bridge.getCustomProvider(added["id"]),
        bridge.getAllCustomProviders(),
        bridge.updateCustomProvider(added["id"], {"displayName": "Groq 2"}, {"validate": False}),
        bridge.exportCustomProviders({}),
        bridge.getAppInfo(),
    ]
    assert CANARY_KEY not in json.dumps(answers)


def test_the_key_is_in_the_secret_store_and_nowhere_in_the_data_folder_but_there(
    bridge: Any, secret_store: Any, data_dir: Path
) -> None:
    added = add(bridge)
    assert stored_keys(secret_store, added["provider"]) == [CANARY_KEY]
    assert files_containing(data_dir, CANARY_KEY) == []


def test_names_are_unique_ignoring_case(bridge: Any) -> None:
    add(bridge, name="Groq")
    result = bridge.addCustomProvider(provider_config(name="GROQ"), {"validate": False})
    assert result["error"]["code"] == "DUPLICATE_NAME"
    assert "name" in result["error"]["fields"]


def test_renaming_onto_another_providers_name_is_refused(bridge: Any) -> None:
    add(bridge, name="one")
    two = add(bridge, name="two")
    result = bridge.updateCustomProvider(two["id"], {"name": "ONE"}, {"validate": False})
    assert result["error"]["code"] == "DUPLICATE_NAME"
    assert bridge.getCustomProvider(two["id"])["provider"]["name"] == "two"


def test_update_without_api_key_keeps_the_stored_key(bridge: Any, secret_store: Any) -> None:
    added = add(bridge)
    result = bridge.updateCustomProvider(added["id"], {"model": "other"}, {"validate": False})
    assert result["provider"]["hasApiKey"] is True
    assert result["provider"]["keys"] == added["provider"]["keys"]
    assert stored_keys(secret_store, result["provider"]) == [CANARY_KEY]


def test_update_with_empty_api_key_removes_the_key(bridge: Any, secret_store: Any) -> None:
    added = add(bridge)
    result = bridge.updateCustomProvider(added["id"], {"apiKey": ""}, {"validate": False})
    assert result["provider"]["hasApiKey"] is False
    assert result["provider"]["apiKeyHint"] is None
    assert result["provider"]["keys"] == []
    assert stored_keys(secret_store, added["provider"]) == [None]


def test_update_with_a_new_key_replaces_it(bridge: Any, secret_store: Any) -> None:
    added = add(bridge)
    result = bridge.updateCustomProvider(
        added["id"], {"apiKey": "new-key-0000001234"}, {"validate": False}
    )
    assert result["provider"]["apiKeyHint"] == "…1234"
    assert stored_keys(secret_store, result["provider"]) == ["new-key-0000001234"]
    assert stored_keys(secret_store, added["provider"]) == [None]


def test_a_provider_may_have_no_key(bridge: Any, secret_store: Any) -> None:
    added = add(bridge, apiKey=None, name="ollama", baseURL="http://localhost:11434/v1")
    assert added["provider"]["hasApiKey"] is False
    assert added["provider"]["keys"] == []


def test_removing_a_provider_removes_its_key(bridge: Any, secret_store: Any) -> None:
    added = add(bridge)
    assert bridge.removeCustomProvider(added["id"]) == {"success": True, "id": added["id"]}
    assert stored_keys(secret_store, added["provider"]) == [None]
    assert bridge.getCustomProvider(added["id"])["error"]["code"] == "NOT_FOUND"


def test_missing_ids_give_not_found(bridge: Any) -> None:
    for result in (
        bridge.getCustomProvider("nope"),
        bridge.updateCustomProvider("nope", {"model": "x"}, {"validate": False}),
        bridge.removeCustomProvider("nope"),
        bridge.checkCustomProviderHealth("nope"),
    ):
        assert result["error"]["code"] == "NOT_FOUND"


def test_list_is_sorted_by_display_name(bridge: Any) -> None:
    add(bridge, name="b", displayName="beta")
    add(bridge, name="a", displayName="Alpha")
    add(bridge, name="c", displayName="gamma")
    names = [p["displayName"] for p in bridge.getAllCustomProviders()["providers"]]
    assert names == ["Alpha", "beta", "gamma"]


def test_validate_is_on_by_default_and_a_failed_test_saves_nothing(
    bridge: Any, check: Any, storage: Any, secret_store: Any
) -> None:
    check.error = AuthFailed(upstream_status=401)
    result = bridge.addCustomProvider(provider_config())
    assert result["error"]["code"] == "AUTH_FAILED"
    assert check.calls and check.calls[0][1] == CANARY_KEY
    assert storage.count_providers() == 0


def test_a_passed_test_saves_and_returns_the_check(bridge: Any) -> None:
    result = bridge.addCustomProvider(provider_config())
    assert result["success"]
    assert result["check"]["status"] == "healthy"
    assert result["check"]["providerId"] == result["id"]


def test_a_failed_test_on_update_changes_nothing(
    bridge: Any, check: Any, secret_store: Any
) -> None:
    added = add(bridge)
    check.error = AuthFailed(upstream_status=401)
    result = bridge.updateCustomProvider(added["id"], {"apiKey": "sk-wrong-key-000000"})
    assert result["error"]["code"] == "AUTH_FAILED"
    assert bridge.getCustomProvider(added["id"])["provider"]["keys"] == added["provider"]["keys"]
    assert stored_keys(secret_store, added["provider"]) == [CANARY_KEY]


def test_update_validation_uses_the_stored_key_when_none_is_given(bridge: Any, check: Any) -> None:
    added = add(bridge)
    bridge.updateCustomProvider(added["id"], {"model": "m2"})
    assert check.calls[-1][1] == CANARY_KEY


def test_test_connection_accepts_an_id_or_an_unsaved_config(bridge: Any, storage: Any) -> None:
    added = add(bridge)
    assert bridge.testProviderConnection(added["id"])["status"]["status"] == "healthy"
    unsaved = bridge.testProviderConnection(provider_config(name="fresh"))
    assert unsaved["success"] and storage.count_providers() == 1


def test_changing_type_moves_default_auth_to_the_new_types_default(bridge: Any) -> None:
    added = add(bridge)
    result = bridge.updateCustomProvider(
        added["id"], {"type": "anthropic-compatible"}, {"validate": False}
    )
    assert result["provider"]["auth"] == {"scheme": "header", "name": "x-api-key"}


def test_parallel_adds_of_one_name_save_exactly_one(bridge: Any, storage: Any) -> None:
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def worker() -> None:
        r = bridge.addCustomProvider(provider_config(name="race"), {"validate": False})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["success"] for r in results) == 1
    assert {r["error"]["code"] for r in results if not r["success"]} == {"DUPLICATE_NAME"}
    assert storage.count_providers() == 1


def test_wrong_number_of_arguments_is_an_envelope_not_an_exception(bridge: Any) -> None:
    result = bridge.getCustomProvider("a", "b", "c")
    assert result["success"] is False
    assert result["error"]["code"] == "INVALID_CONFIG"


def test_app_info_says_which_secret_storage_is_used(bridge: Any) -> None:
    info = bridge.getAppInfo()
    assert info["secretStorage"]["backend"]
    assert info["version"]


def test_a_provider_and_its_key_are_read_as_one_pair(manager: Any) -> None:
    """While updates switch base URL and key together, a reader never gets one without the
    other: the key it sends must be the one saved for that URL."""
    added, _ = manager.add(
        provider_config(baseURL="https://a.example.com/v1", apiKey="sk-for-a-000001"),
        validate=False,
    )
    pairs = {
        "https://a.example.com/v1": "sk-for-a-000001",
        "https://b.example.com/v1": "sk-for-b-000002",
    }
    stop = threading.Event()
    mismatches: list[tuple[str, str | None]] = []

    def read() -> None:
        while not stop.is_set():
            provider, key = manager.with_key(added.id)
            if pairs[provider.base_url] != key:
                mismatches.append((provider.base_url, key))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for i in range(60):
        url = list(pairs)[i % 2]
        manager.update(added.id, {"baseURL": url, "apiKey": pairs[url]}, validate=False)
    stop.set()
    for thread in readers:
        thread.join()
    assert mismatches == []
