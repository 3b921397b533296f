"""Routes carried by the export file between two real apps over `/api/rpc` (CONTRACT §7
version 2): the same routes arrive in a fresh data folder, members mapped to its providers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from tests.helpers import CANARY_KEY, provider_config
from tests.integration.test_chat_http import headers

PASSPHRASE = "correct horse battery"


def serve(folder: Path) -> MiaodaApp:
    """The real app in `folder`, serving on a loopback port with the token "tok"."""
    instance = MiaodaApp(folder, secret_backend="file", token="tok")
    instance.start_server(0)
    return instance


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
    response = httpx.post(
        f"{app.server_url}/api/rpc/{method}", json=list(args), headers=headers(), timeout=30
    )
    result: dict[str, Any] = response.json()
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
