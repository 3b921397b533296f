"""Routes and circuits in the data file (migration 5): upgrade, cascade, shared names, rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backend.errors import DuplicateName, InvalidConfig, NotFound, StorageError
from backend.models import AuthConfig, ProviderConfig
from backend.storage import MIGRATIONS, SCHEMA_VERSION, CircuitRow, Route, RouteStore, Storage

NOW = "2026-11-26T10:00:00.000Z"


def provider(pid: str, name: str) -> ProviderConfig:
    return ProviderConfig(
        id=pid,
        name=name,
        display_name=name.title(),
        base_url="https://api.example.com/v1",
        model="m",
        type="openai-compatible",
        auth=AuthConfig("bearer"),
        created_at=NOW,
        updated_at=NOW,
    )


def route(rid: str = "r1", name: str = "duo", members: tuple[str, ...] = ("p1", "p2")) -> Route:
    return Route(rid, name, name.title(), "failover", members, NOW, NOW)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    store = Storage(tmp_path / "miaoda.db")
    store.insert_provider(provider("p1", "alpha"))
    store.insert_provider(provider("p2", "beta"))
    return store


@pytest.fixture
def routes(storage: Storage) -> RouteStore:
    return RouteStore(storage)


def test_a_data_file_from_before_routes_is_upgraded_and_keeps_its_providers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for number, migration in enumerate(MIGRATIONS[:3], start=1):
        migration(conn)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute(
        "INSERT INTO providers (id, name, name_key, display_name, base_url, model, type, auth, "
        "headers, parameters, endpoints, has_api_key, created_at, updated_at) VALUES "
        "('p1', 'alpha', 'alpha', 'Alpha', 'https://a.example/v1', 'm', 'openai-compatible', "
        "'{\"scheme\":\"bearer\"}', '{}', '{}', '{}', 0, ?, ?)",
        (NOW, NOW),
    )
    conn.commit()
    conn.close()
    with Storage(path) as storage:
        routes = RouteStore(storage)
        routes.insert_route(route(members=("p1",)))
        assert [r.members for r in routes.list_routes()] == [("p1",)]
        assert [p.name for p in storage.list_providers()] == ["alpha"]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


def test_a_route_reads_back_with_its_members_in_order(routes: RouteStore) -> None:
    routes.insert_route(route(members=("p2", "p1")))
    assert routes.get_route("r1") == route(members=("p2", "p1"))
    assert routes.get_route_by_name("DUO") == route(members=("p2", "p1"))
    assert routes.get_route("nope") is None


def test_routes_are_listed_by_display_name_ignoring_case(routes: RouteStore) -> None:
    routes.insert_route(Route("r1", "zed", "zed", "failover", ("p1",), NOW, NOW))
    routes.insert_route(Route("r2", "abe", "Abe", "fastest", ("p2",), NOW, NOW))
    routes.insert_route(Route("r3", "mid", "Émile", "round-robin", ("p1",), NOW, NOW))
    assert [r.name for r in routes.list_routes()] == ["abe", "zed", "mid"]


def test_removing_a_provider_removes_it_from_every_route_and_keeps_the_routes(
    storage: Storage, routes: RouteStore
) -> None:
    routes.insert_route(route("r1", "one", ("p1", "p2")))
    routes.insert_route(route("r2", "two", ("p2",)))
    storage.delete_provider("p2")
    assert routes.get_route("r1").members == ("p1",)  # type: ignore[union-attr]
    assert routes.get_route("r2").members == ()  # type: ignore[union-attr]


def test_updating_a_route_replaces_its_members_and_fields(routes: RouteStore) -> None:
    routes.insert_route(route())
    changed = Route("r1", "trio", "Trio", "round-robin", ("p2",), NOW, "2026-11-27T00:00:00.000Z")
    routes.update_route(changed)
    assert routes.get_route("r1") == changed
    with pytest.raises(NotFound):
        routes.update_route(route("r9", "nine"))


def test_a_member_that_is_not_a_saved_provider_is_refused_by_position(
    routes: RouteStore,
) -> None:
    with pytest.raises(InvalidConfig) as caught:
        routes.insert_route(route(members=("p1", "gone", "p2", "also-gone")))
    assert set(caught.value.fields) == {"members.1", "members.3"}
    assert routes.list_routes() == []


def test_a_route_may_not_take_a_providers_name_or_another_routes(routes: RouteStore) -> None:
    with pytest.raises(DuplicateName) as caught:
        routes.insert_route(route(name="ALPHA"))
    assert caught.value.fields == {"name": ["A provider already uses this name."]}
    routes.insert_route(route())
    with pytest.raises(DuplicateName) as caught:
        routes.insert_route(route("r2", "Duo"))
    assert caught.value.fields == {"name": ["Another route already uses this name."]}


def test_the_data_file_itself_refuses_a_provider_named_like_a_route(
    storage: Storage, routes: RouteStore
) -> None:
    # The manager checks first; this is the last line of defence, like a unique index.
    routes.insert_route(route())
    with pytest.raises(StorageError):
        storage.insert_provider(provider("p3", "Duo"))
    with pytest.raises(StorageError):
        storage.update_provider(provider("p1", "duo"))
    storage.update_provider(provider("p1", "alpha-renamed"))


def test_circuit_rows_are_saved_replaced_and_go_with_their_provider(
    storage: Storage, routes: RouteStore
) -> None:
    opened = CircuitRow("p1", "open", NOW, "UPSTREAM_ERROR", "500", 0)
    routes.save_circuit_row(CircuitRow("p1", "closed", None, None, None, 2))
    routes.save_circuit_row(opened)
    routes.save_circuit_row(CircuitRow("gone", "open", NOW, "TIMEOUT", "slow", 0))
    assert routes.load_circuit_rows() == [opened]
    storage.delete_provider("p1")
    assert routes.load_circuit_rows() == []


def test_recent_time_to_first_token_is_the_median_of_the_latest_answered_requests(
    storage: Storage, routes: RouteStore
) -> None:
    def record(n: int, pid: str, ttft: int | None, error: str | None = None) -> None:
        storage.record_chat(
            request_id=f"{pid}-{n}",
            provider_id=pid,
            model="m",
            input_tokens=None,
            output_tokens=None,
            usage_source=None,
            ttft_ms=ttft,
            elapsed_ms=None,
            finish_reason="error" if error else "stop",
            error_code=error,
            created_at=f"2026-11-26T10:00:{n:02d}.000Z",
        )

    for n, ttft in enumerate([5000, 5000, 100, 300, 200, 250, 150]):
        record(n, "p1", ttft)  # the two oldest fall outside the latest five
    record(10, "p1", 10, "UPSTREAM_ERROR")  # a failure's timing does not count
    record(11, "p1", None)
    assert routes.recent_ttft_ms(["p1", "p2"]) == {"p1": 200.0}
