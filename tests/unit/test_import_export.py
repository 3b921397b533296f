"""Export and import of providers and routes through the real bridge (docs/API.md, "Export
file" and "Import")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backend.chat.routes import RouteManager, StoredCircuits
from backend.manager import CustomProviderManager
from backend.providers.circuit import CircuitBreakers
from backend.secrets import EncryptedFileSecretStore
from backend.storage import RouteStore, Storage
from tests.helpers import CANARY_KEY, FakeTools, ScriptedCheck, provider_config

PASS = "correct horse battery"


def stored_keys(secrets: Any, provider: dict[str, Any]) -> list[str | None]:
    """What the secret store holds for each of a provider's keys (docs/DATA.md), in order."""
    return [secrets.get(f"{provider['id']}:key:{key['id']}") for key in provider["keys"]]


def add(bridge: Any, **overrides: Any) -> dict[str, Any]:
    result = bridge.addCustomProvider(provider_config(**overrides), {"validate": False})
    assert result["success"], result
    return result


def route_manager(storage: Storage) -> RouteManager:
    """The route manager the app builds over the same data file."""
    store = RouteStore(storage)
    return RouteManager(store, CircuitBreakers(StoredCircuits(store)))


def fresh_bridge(folder: Path) -> tuple[Any, Storage, EncryptedFileSecretStore]:
    from backend.bridge import AppInfo, Bridge
    from backend.health.monitor import HealthMonitor

    folder.mkdir(parents=True)
    storage = Storage(folder / "miaoda.db")
    secrets = EncryptedFileSecretStore(folder)
    manager = CustomProviderManager(storage, secrets, check=ScriptedCheck())
    info = AppInfo(str(folder), "file", "", "", lambda: None, "t")
    monitor = HealthMonitor(manager, storage, ScriptedCheck())
    bridge = Bridge(manager, monitor, FakeTools(), info, routes=route_manager(storage))
    return bridge, storage, secrets


@pytest.fixture
def routed(manager: Any, monitor: Any, storage: Storage, data_dir: Path) -> Any:
    """The real bridge with its route methods, over the same data file as `bridge`."""
    from backend.bridge import AppInfo, Bridge

    info = AppInfo(str(data_dir), "test", "", "", lambda: None, "t")
    return Bridge(manager, monitor, FakeTools(), info, routes=route_manager(storage))


def add_route(bridge: Any, name: str, members: list[str], **fields: Any) -> dict[str, Any]:
    config = {"name": name, "displayName": name.title(), "members": members, **fields}
    result = bridge.addRoute(config)
    assert result["success"], result
    route: dict[str, Any] = result["route"]
    return route


def routes_by_name(bridge: Any) -> dict[str, dict[str, Any]]:
    """Each route as {displayName, strategy, members: [provider names]}, by route name."""
    names = {p["id"]: p["name"] for p in bridge.getAllCustomProviders()["providers"]}
    return {
        r["name"]: {
            "displayName": r["displayName"],
            "strategy": r["strategy"],
            "members": [names[m] for m in r["members"]],
        }
        for r in bridge.getAllRoutes()["routes"]
    }


def export_document(
    providers: list[dict[str, Any]], routes: list[Any] | None = None, version: int = 2
) -> str:
    """An export file's text without keys (docs/API.md, "Export file")."""
    document: dict[str, Any] = {
        "format": "miaoda-chat/custom-providers",
        "version": version,
        "exportedAt": "2026-11-26T00:00:00Z",
        "providers": providers,
        "secrets": None,
    }
    if routes is not None:
        document["routes"] = routes
    return json.dumps(document)


def file_provider(name: str) -> dict[str, Any]:
    return provider_config(name=name, displayName=name.title(), apiKey=None)


def file_route(name: str, members: list[str], **fields: Any) -> dict[str, Any]:
    route = {"name": name, "displayName": name.title(), "strategy": "failover", "members": members}
    return route | fields


NO_ROUTES = {"added": [], "updated": [], "skipped": [], "errors": [], "renamed": []}


def test_export_without_keys_holds_no_key_and_has_the_contract_shape(bridge: Any) -> None:
    add(bridge, headers={"X-A": "1"}, parameters={"topP": 0.5})
    result = bridge.exportCustomProviders({})
    assert result["filename"].endswith(".json") and result["count"] == 1
    doc = json.loads(result["content"])
    assert set(doc) == {
        "format",
        "version",
        "exportedAt",
        "providers",
        "routes",
        "mcpServers",
        "secrets",
    }
    assert doc["routes"] == [] and doc["mcpServers"] == []
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
        "checkKind",
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


# --- routes (CONTRACT §7 version 2) ------------------------------------------------------


def test_export_writes_every_route_with_its_members_by_name_in_order(routed: Any) -> None:
    one = add(routed, name="one")["id"]
    two = add(routed, name="two")["id"]
    add_route(routed, "main", [two, one])
    add_route(routed, "spread", [one], strategy="round-robin")

    doc = json.loads(routed.exportCustomProviders({})["content"])

    assert doc["routes"] == [
        {"name": "main", "displayName": "Main", "strategy": "failover", "members": ["two", "one"]},
        {"name": "spread", "displayName": "Spread", "strategy": "round-robin", "members": ["one"]},
    ]


def test_a_route_whose_providers_were_all_removed_is_exported_without_members(
    routed: Any,
) -> None:
    gone = add(routed, name="gone")["id"]
    add_route(routed, "empty", [gone])
    assert routed.removeCustomProvider(gone)["success"]

    doc = json.loads(routed.exportCustomProviders({})["content"])

    assert doc["routes"] == [
        {"name": "empty", "displayName": "Empty", "strategy": "failover", "members": []}
    ]


def test_round_trip_to_a_fresh_data_folder_gives_the_same_routes_on_the_new_providers(
    routed: Any, tmp_path: Path
) -> None:
    one = add(routed, name="one")["id"]
    two = add(routed, name="two")["id"]
    gone = add(routed, name="gone")["id"]
    add_route(routed, "main", [two, one])
    add_route(routed, "quick", [one, two], strategy="fastest")
    add_route(routed, "empty", [gone])
    routed.removeCustomProvider(gone)
    content = routed.exportCustomProviders({"includeKeys": True, "passphrase": PASS})["content"]

    other, _, _ = fresh_bridge(tmp_path / "fresh")
    report = other.importCustomProviders({"content": content, "passphrase": PASS})

    assert report["routes"] == {**NO_ROUTES, "added": ["empty", "main", "quick"]}
    assert routes_by_name(other) == routes_by_name(routed)
    new_ids = {p["name"]: p["id"] for p in other.getAllCustomProviders()["providers"]}
    main = next(r for r in other.getAllRoutes()["routes"] if r["name"] == "main")
    assert main["members"] == [new_ids["two"], new_ids["one"]]
    assert not {one, two} & set(main["members"]), "members are the new data folder's ids"


def test_a_dry_run_lists_the_routes_and_changes_nothing(routed: Any, tmp_path: Path) -> None:
    content = export_document(
        [file_provider("one")],
        [file_route("main", ["one"]), file_route("lost", ["nowhere"])],
    )
    other, storage, _ = fresh_bridge(tmp_path / "fresh")

    report = other.importCustomProviders({"content": content, "dryRun": True})

    assert report["dryRun"] is True
    assert report["routes"]["added"] == ["main"]
    assert [e["name"] for e in report["routes"]["errors"]] == ["lost"]
    assert other.getAllRoutes()["routes"] == [] and storage.count_providers() == 0


def test_a_dry_run_reports_exactly_what_the_import_then_does(routed: Any) -> None:
    one = add(routed, name="one")["id"]
    add_route(routed, "main", [one])
    content = export_document(
        [file_provider("one"), file_provider("two")],
        [file_route("main", ["two"]), file_route("fresh", ["one", "two"])],
    )
    for policy in ("skip", "replace", "rename"):
        options = {"content": content, "onConflict": policy}
        preview = routed.importCustomProviders({**options, "dryRun": True})
        done = routed.importCustomProviders(options)
        assert {**preview, "dryRun": False} == done, policy


def test_on_conflict_skip_leaves_a_route_of_the_same_name_alone(routed: Any) -> None:
    one = add(routed, name="one")["id"]
    add(routed, name="two")
    add_route(routed, "main", [one])
    content = export_document([], [file_route("MAIN", ["two"], displayName="From the file")])

    report = routed.importCustomProviders({"content": content})

    assert report["routes"] == {**NO_ROUTES, "skipped": ["MAIN"]}
    assert routes_by_name(routed)["main"] == {
        "displayName": "Main",
        "strategy": "failover",
        "members": ["one"],
    }


def test_on_conflict_replace_overwrites_the_route_keeping_its_id(routed: Any) -> None:
    one = add(routed, name="one")["id"]
    add(routed, name="two")
    before = add_route(routed, "main", [one])
    content = export_document(
        [], [file_route("main", ["two", "one"], displayName="New", strategy="fastest")]
    )

    report = routed.importCustomProviders({"content": content, "onConflict": "replace"})

    assert report["routes"] == {**NO_ROUTES, "updated": ["main"]}
    [after] = routed.getAllRoutes()["routes"]
    assert (after["id"], after["createdAt"]) == (before["id"], before["createdAt"])
    assert routes_by_name(routed)["main"] == {
        "displayName": "New",
        "strategy": "fastest",
        "members": ["two", "one"],
    }


def test_on_conflict_rename_adds_the_route_under_the_first_free_name(routed: Any) -> None:
    one = add(routed, name="one")["id"]
    add_route(routed, "main", [one])
    add_route(routed, "main-2", [one])
    content = export_document([], [file_route("main", ["one"], displayName="Copy")])

    report = routed.importCustomProviders({"content": content, "onConflict": "rename"})

    assert report["routes"] == {
        **NO_ROUTES,
        "added": ["main-3"],
        "renamed": [{"from": "main", "to": "main-3"}],
    }
    assert routes_by_name(routed)["main-3"]["displayName"] == "Copy"


@pytest.mark.parametrize("policy", ["skip", "replace"])
def test_a_route_named_like_a_saved_provider_is_an_error_unless_renamed(
    routed: Any, policy: str
) -> None:
    add(routed, name="one")
    content = export_document([], [file_route("One", ["one"])])

    report = routed.importCustomProviders({"content": content, "onConflict": policy})

    [error] = report["routes"]["errors"]
    assert error["name"] == "One" and error["error"]["code"] == "DUPLICATE_NAME"
    assert list(error["error"]["fields"]) == ["routes[0].name"]
    assert routed.getAllRoutes()["routes"] == []


def test_a_route_named_like_a_saved_provider_is_renamed_with_rename(routed: Any) -> None:
    add(routed, name="one")
    content = export_document([], [file_route("one", ["one"])])

    report = routed.importCustomProviders({"content": content, "onConflict": "rename"})

    assert report["routes"]["renamed"] == [{"from": "one", "to": "one-2"}]
    assert routes_by_name(routed)["one-2"]["members"] == ["one"]


def test_members_follow_a_provider_renamed_on_import(routed: Any) -> None:
    add(routed, name="one")
    content = export_document([file_provider("one")], [file_route("main", ["one"])])

    report = routed.importCustomProviders({"content": content, "onConflict": "rename"})

    assert report["renamed"] == [{"from": "one", "to": "one-2"}]
    assert routes_by_name(routed)["main"]["members"] == ["one-2"]


def test_a_provider_renamed_on_import_does_not_take_the_name_of_a_route_in_the_file(
    routed: Any,
) -> None:
    add(routed, name="one")
    content = export_document([file_provider("one")], [file_route("one-2", ["one"])])

    report = routed.importCustomProviders({"content": content, "onConflict": "rename"})

    assert report["renamed"] == [{"from": "one", "to": "one-3"}]
    assert report["routes"]["added"] == ["one-2"]
    assert routes_by_name(routed)["one-2"]["members"] == ["one-3"]


def test_members_of_a_skipped_provider_are_the_saved_one(routed: Any) -> None:
    saved = add(routed, name="one")["id"]
    content = export_document([file_provider("one")], [file_route("main", ["one"])])

    report = routed.importCustomProviders({"content": content})

    assert report["skipped"] == ["one"] and report["routes"]["added"] == ["main"]
    assert routed.getAllRoutes()["routes"][0]["members"] == [saved]


def test_members_may_name_saved_providers_that_are_not_in_the_file(routed: Any) -> None:
    saved = add(routed, name="saved")["id"]
    content = export_document([file_provider("new")], [file_route("main", ["new", "SAVED"])])

    routed.importCustomProviders({"content": content})

    [route] = routed.getAllRoutes()["routes"]
    assert route["members"][1] == saved
    assert routes_by_name(routed)["main"]["members"] == ["new", "saved"]


def test_a_route_with_an_unknown_member_is_refused_and_the_rest_still_land(
    routed: Any,
) -> None:
    content = export_document(
        [file_provider("one")],
        [file_route("good", ["one"]), file_route("bad", ["one", "nowhere", "gone"])],
    )

    report = routed.importCustomProviders({"content": content})

    assert report["added"] == ["one"] and report["routes"]["added"] == ["good"]
    [error] = report["routes"]["errors"]
    assert error["name"] == "bad" and error["error"]["code"] == "INVALID_CONFIG"
    assert sorted(error["error"]["fields"]) == ["routes[1].members.1", "routes[1].members.2"]
    assert list(routes_by_name(routed)) == ["good"], "no route is saved with members missing"


def test_a_member_whose_provider_in_the_file_is_invalid_is_refused(routed: Any) -> None:
    broken = {**file_provider("broken"), "baseURL": "ftp://x"}
    content = export_document([broken], [file_route("main", ["broken"])])

    report = routed.importCustomProviders({"content": content})

    assert [e["name"] for e in report["errors"]] == ["broken"]
    [error] = report["routes"]["errors"]
    assert list(error["error"]["fields"]) == ["routes[0].members.0"]
    assert routed.getAllRoutes()["routes"] == []


def test_a_route_without_members_is_imported_as_such(routed: Any) -> None:
    content = export_document([], [file_route("empty", [])])

    report = routed.importCustomProviders({"content": content})

    assert report["routes"]["added"] == ["empty"]
    assert routes_by_name(routed) == {
        "empty": {"displayName": "Empty", "strategy": "failover", "members": []}
    }


@pytest.mark.parametrize(
    ("route", "fields"),
    [
        (file_route("main", ["one"], strategy="random"), ["routes[0].strategy"]),
        (file_route("bad name!", ["one"]), ["routes[0].name"]),
        (file_route("main", ["one"], displayName=""), ["routes[0].displayName"]),
        (file_route("main", ["one", "ONE"]), ["routes[0].members"]),
        (file_route("main", ["one"]) | {"id": "x"}, ["routes[0].id"]),
        ({"name": "main", "displayName": "Main"}, ["routes[0].members"]),
        (file_route("main", [f"p{n}" for n in range(33)]), ["routes[0].members"]),
    ],
)
def test_an_invalid_route_names_its_place_and_field(
    routed: Any, route: dict[str, Any], fields: list[str]
) -> None:
    content = export_document([file_provider("one")], [route])

    report = routed.importCustomProviders({"content": content})

    [error] = report["routes"]["errors"]
    assert error["error"]["code"] == "INVALID_CONFIG"
    assert sorted(error["error"]["fields"]) == fields
    assert report["added"] == ["one"] and routed.getAllRoutes()["routes"] == []


def test_a_route_entry_that_is_not_an_object_is_named_by_its_position(routed: Any) -> None:
    content = export_document([], [file_route("main", []), "junk"])

    report = routed.importCustomProviders({"content": content})

    [error] = report["routes"]["errors"]
    assert error["name"] == "#2" and list(error["error"]["fields"]) == ["routes[1]"]


def test_a_name_used_twice_in_the_file_keeps_its_first_use(routed: Any) -> None:
    content = export_document(
        [file_provider("one")],
        [file_route("main", ["one"]), file_route("MAIN", []), file_route("ONE", ["one"])],
    )

    report = routed.importCustomProviders({"content": content})

    assert report["added"] == ["one"] and report["routes"]["added"] == ["main"]
    errors = {e["name"]: e["error"] for e in report["routes"]["errors"]}
    assert {name: e["code"] for name, e in errors.items()} == {
        "MAIN": "DUPLICATE_NAME",
        "ONE": "DUPLICATE_NAME",
    }
    assert list(errors["ONE"]["fields"]) == ["routes[2].name"]


@pytest.mark.parametrize("routes", [None, {}, "main"])
def test_a_route_list_that_is_not_a_list_fails_the_import_and_changes_nothing(
    routed: Any, storage: Storage, routes: Any
) -> None:
    doc = json.loads(export_document([file_provider("one")]))
    doc["routes"] = routes

    result = routed.importCustomProviders({"content": json.dumps(doc)})

    assert result["error"]["code"] == "IMPORT_INVALID"
    assert list(result["error"]["fields"]) == ["routes"]
    assert storage.count_providers() == 0


def test_more_than_1000_routes_fail_the_import_and_change_nothing(
    routed: Any, storage: Storage
) -> None:
    routes = [file_route(f"r{n}", ["one"]) for n in range(1001)]
    content = export_document([file_provider("one")], routes)

    result = routed.importCustomProviders({"content": content})

    assert (
        result["error"]["code"] == "IMPORT_INVALID" and "1,001 routes" in result["error"]["message"]
    )
    assert storage.count_providers() == 0 and routed.getAllRoutes()["routes"] == []


def test_a_version_1_file_without_routes_still_imports(routed: Any) -> None:
    content = export_document([file_provider("one")], version=1)

    report = routed.importCustomProviders({"content": content})

    assert report["added"] == ["one"] and report["routes"] == NO_ROUTES
