"""Routes carried by the export file between two real apps over `/api/rpc` (CONTRACT §7
version 2): the same routes arrive in a fresh data folder, members mapped to its providers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.app import MiaodaApp
from tests.helpers import CANARY_KEY, provider_config
from tests.integration import served
from tests.integration.served import serve

PASSPHRASE = "correct horse battery"


@pytest.fixture
def source(data_dir: Path) -> Iterator[MiaodaApp]:
    """The app that exports."""
    instance = serve(data_dir)
    yield instance
    instance.close()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[MiaodaApp]:
    """A second app over a fresh data folder, which imports."""
    instance = serve(tmp_path / "fresh")
    yield instance
    instance.close()


def rpc(app: MiaodaApp, method: str, *args: Any) -> dict[str, Any]:
    """`served.rpc`, which must succeed."""
    result = served.rpc(app, method, *args)
    assert result["success"] is True, result
    return result


def add_provider(app: MiaodaApp, name: str) -> str:
    config = provider_config(name=name, displayName=name.title(), apiKey=CANARY_KEY)
    return str(rpc(app, "addCustomProvider", config, {"validate": False})["id"])


def routes_by_name(app: MiaodaApp) -> dict[str, tuple[str, str, list[str]]]:
    """Each route as (displayName, strategy, its members' provider names), by route name."""
    names = {p["id"]: p["name"] for p in rpc(app, "getAllCustomProviders")["providers"]}
    return {
        r["name"]: (r["displayName"], r["strategy"], [names[m] for m in r["members"]])
        for r in rpc(app, "getAllRoutes")["routes"]
    }


def test_two_routes_arrive_in_a_fresh_data_folder_on_its_own_providers(
    source: MiaodaApp, target: MiaodaApp
) -> None:
    groq, deepseek, local = (add_provider(source, n) for n in ("groq", "deepseek", "local"))
    rpc(source, "addRoute", {"name": "main", "displayName": "Main", "members": [deepseek, groq]})
    spread = {"name": "spread", "displayName": "Spread", "strategy": "round-robin"}
    rpc(source, "addRoute", {**spread, "members": [local, groq, deepseek]})
    exported = rpc(source, "exportCustomProviders", {"includeKeys": True, "passphrase": PASSPHRASE})

    report = rpc(
        target, "importCustomProviders", {"content": exported["content"], "passphrase": PASSPHRASE}
    )

    assert sorted(report["added"]) == ["deepseek", "groq", "local"]
    assert report["routes"]["added"] == ["main", "spread"] and report["routes"]["errors"] == []
    assert (
        routes_by_name(target)
        == routes_by_name(source)
        == {
            "main": ("Main", "failover", ["deepseek", "groq"]),
            "spread": ("Spread", "round-robin", ["local", "groq", "deepseek"]),
        }
    )
    new_ids = {p["id"] for p in rpc(target, "getAllCustomProviders")["providers"]}
    for route in rpc(target, "getAllRoutes")["routes"]:
        assert set(route["members"]) <= new_ids
        assert set(route["circuits"]) == set(route["members"])


def test_importing_the_same_file_again_skips_its_routes(
    source: MiaodaApp, target: MiaodaApp
) -> None:
    groq = add_provider(source, "groq")
    rpc(source, "addRoute", {"name": "main", "displayName": "Main", "members": [groq]})
    content = rpc(source, "exportCustomProviders", {})["content"]
    rpc(target, "importCustomProviders", {"content": content})
    before = rpc(target, "getAllRoutes")["routes"]

    again = rpc(target, "importCustomProviders", {"content": content})

    assert again["skipped"] == ["groq"] and again["routes"]["skipped"] == ["main"]
    assert rpc(target, "getAllRoutes")["routes"] == before
