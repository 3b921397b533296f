"""The route methods of CONTRACT §10 and the providers' circuits, over the bridge and over
`/api/rpc` of the real app: results, field errors, shared names, provider removal, restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.app import MiaodaApp
from tests.helpers import provider_config
from tests.integration.served import Call

REFUSED = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, connections are refused


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["success"] is True, result
    return result


def failed(result: dict[str, Any], code: str) -> dict[str, Any]:
    assert result["success"] is False, result
    assert result["error"]["code"] == code, result
    error: dict[str, Any] = result["error"]
    return error


def add_provider(call: Call, name: str, **fields: Any) -> str:
    config = provider_config(name=name, displayName=name.title(), apiKey=None, **fields)
    return str(ok(call("addCustomProvider", config, {"validate": False}))["id"])


@pytest.fixture
def ids(call: Call) -> list[str]:
    """Three saved providers: alpha, beta, gamma."""
    return [add_provider(call, name) for name in ("alpha", "beta", "gamma")]


def route_config(members: list[str], **fields: Any) -> dict[str, Any]:
    return {"name": "main", "displayName": "Main route", "members": members, **fields}


CLOSED = {"state": "closed", "since": None, "reason": None, "reopensAt": None}


# --- add and read -----------------------------------------------------------------------------


def test_an_added_route_comes_back_with_its_fields_and_each_members_circuit(
    call: Call, ids: list[str]
) -> None:
    added = ok(call("addRoute", route_config([ids[2], ids[0]], strategy="round-robin")))
    route = added["route"]
    assert added["id"] == route["id"]
    assert {k: route[k] for k in ("name", "displayName", "strategy", "members")} == {
        "name": "main",
        "displayName": "Main route",
        "strategy": "round-robin",
        "members": [ids[2], ids[0]],
    }
    assert route["createdAt"] == route["updatedAt"]
    assert route["circuits"] == {ids[2]: CLOSED, ids[0]: CLOSED}
    assert ok(call("getAllRoutes"))["routes"] == [route]


def test_a_route_without_a_strategy_fails_over(call: Call, ids: list[str]) -> None:
    assert ok(call("addRoute", route_config(ids[:1])))["route"]["strategy"] == "failover"


def test_routes_are_listed_by_display_name(call: Call, ids: list[str]) -> None:
    for name, display in (("r-b", "beta way"), ("r-a", "Alpha way"), ("r-c", "Cheap")):
        ok(call("addRoute", {"name": name, "displayName": display, "members": ids[:1]}))
    assert [r["name"] for r in ok(call("getAllRoutes"))["routes"]] == ["r-a", "r-b", "r-c"]


# --- field errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": ""}, "name"),
        ({"displayName": "  "}, "displayName"),
        ({"displayName": "two\nlines"}, "displayName"),
        ({"strategy": "random"}, "strategy"),
        ({"members": []}, "members"),
        ({"members": "alpha"}, "members"),
        ({"members": [7]}, "members.0"),
        ({"id": "mine"}, "id"),
        ({"circuits": {}}, "circuits"),
        ({"weights": [1, 2]}, "weights"),
    ],
)
def test_a_bad_field_is_refused_by_name(
    call: Call, ids: list[str], change: dict[str, Any], field: str
) -> None:
    error = failed(call("addRoute", {**route_config(ids[:2]), **change}), "INVALID_CONFIG")
    assert field in error["fields"], error
    assert ok(call("getAllRoutes"))["routes"] == []


def test_every_missing_field_is_named_at_once(call: Call) -> None:
    error = failed(call("addRoute", {}), "INVALID_CONFIG")
    assert set(error["fields"]) == {"name", "displayName", "members"}


def test_a_provider_listed_twice_is_refused(call: Call, ids: list[str]) -> None:
    error = failed(call("addRoute", route_config([ids[0], ids[1], ids[0]])), "INVALID_CONFIG")
    assert error["fields"] == {"members": ["Each provider can be in a route only once."]}


def test_more_than_32_members_are_refused(call: Call, ids: list[str]) -> None:
    error = failed(call("addRoute", route_config([f"p{n}" for n in range(33)])), "INVALID_CONFIG")
    assert "members" in error["fields"]


def test_a_member_that_is_not_a_saved_provider_is_named_by_its_position(
    call: Call, ids: list[str]
) -> None:
    error = failed(call("addRoute", route_config([ids[0], "no-such-id"])), "INVALID_CONFIG")
    assert list(error["fields"]) == ["members.1"]


def test_a_route_config_that_is_not_an_object_is_refused(call: Call) -> None:
    failed(call("addRoute", ["main"]), "INVALID_CONFIG")
    failed(call("addRoute"), "INVALID_CONFIG")


# --- one name space with providers ------------------------------------------------------------


def test_a_route_may_not_take_a_providers_name_ignoring_case(call: Call, ids: list[str]) -> None:
    error = failed(call("addRoute", route_config(ids[:1], name="ALPHA")), "DUPLICATE_NAME")
    assert error["fields"] == {"name": ["A provider already uses this name."]}


def test_two_routes_may_not_share_a_name(call: Call, ids: list[str]) -> None:
    ok(call("addRoute", route_config(ids[:1])))
    failed(call("addRoute", route_config(ids[1:2], name="Main")), "DUPLICATE_NAME")


def test_a_provider_may_not_take_a_routes_name_on_add_or_rename(call: Call, ids: list[str]) -> None:
    ok(call("addRoute", route_config(ids[:1])))
    error = failed(
        call("addCustomProvider", provider_config(name="MAIN"), {"validate": False}),
        "DUPLICATE_NAME",
    )
    assert error["fields"] == {"name": ["This name is already used by a route."]}
    failed(
        call("updateCustomProvider", ids[1], {"name": "main"}, {"validate": False}),
        "DUPLICATE_NAME",
    )
    assert ok(call("getCustomProvider", ids[1]))["provider"]["name"] == "beta"


def test_importing_a_provider_named_like_a_route_is_an_error_or_a_rename(
    call: Call, ids: list[str]
) -> None:
    ok(call("addRoute", route_config(ids[:1])))
    other = add_provider(call, "main-provider")
    content = ok(call("exportCustomProviders", {}))["content"]
    ok(call("removeCustomProvider", other))
    content = content.replace('"main-provider"', '"main"')

    report = ok(call("importCustomProviders", {"content": content}))
    assert [e["name"] for e in report["errors"]] == ["main"]
    assert report["errors"][0]["error"]["code"] == "DUPLICATE_NAME"

    report = ok(call("importCustomProviders", {"content": content, "onConflict": "rename"}))
    assert {"from": "main", "to": "main-2"} in report["renamed"]
    assert "main-2" in report["added"]
    assert report["errors"] == []


# --- update and remove ------------------------------------------------------------------------


def test_an_update_changes_only_the_fields_given(call: Call, ids: list[str]) -> None:
    route = ok(call("addRoute", route_config(ids[:2])))["route"]
    updated = ok(call("updateRoute", route["id"], {"members": [ids[1], ids[2], ids[0]]}))["route"]
    assert updated["members"] == [ids[1], ids[2], ids[0]]
    assert (updated["name"], updated["strategy"]) == ("main", "failover")
    assert updated["createdAt"] == route["createdAt"]
    assert updated["updatedAt"] >= route["updatedAt"]
    renamed = ok(call("updateRoute", route["id"], {"name": "fast", "strategy": "fastest"}))
    assert renamed["route"]["members"] == [ids[1], ids[2], ids[0]]
    assert ok(call("getAllRoutes"))["routes"] == [renamed["route"]]


def test_an_update_is_validated_like_an_add(call: Call, ids: list[str]) -> None:
    route_id = ok(call("addRoute", route_config(ids[:2])))["id"]
    add_provider(call, "taken")
    for change, code, field in (
        ({"members": []}, "INVALID_CONFIG", "members"),
        ({"members": [ids[0], ids[0]]}, "INVALID_CONFIG", "members"),
        ({"createdAt": "2020-01-01T00:00:00Z"}, "INVALID_CONFIG", "createdAt"),
        ({"name": "Taken"}, "DUPLICATE_NAME", "name"),
    ):
        error = failed(call("updateRoute", route_id, change), code)
        assert field in error["fields"], error
    assert ok(call("getAllRoutes"))["routes"][0]["members"] == ids[:2]


def test_updating_or_removing_an_unknown_route_is_not_found(call: Call) -> None:
    failed(call("updateRoute", "no-such-route", {"name": "x"}), "NOT_FOUND")
    failed(call("removeRoute", "no-such-route"), "NOT_FOUND")
    failed(call("removeRoute", 42), "INVALID_CONFIG")


def test_removing_a_route_keeps_its_providers(call: Call, ids: list[str]) -> None:
    route_id = ok(call("addRoute", route_config(ids)))["id"]
    assert ok(call("removeRoute", route_id)) == {"success": True, "id": route_id}
    assert ok(call("getAllRoutes"))["routes"] == []
    assert len(ok(call("getAllCustomProviders"))["providers"]) == 3


# --- removing a provider ----------------------------------------------------------------------


def test_removing_a_provider_removes_it_from_every_route(call: Call, ids: list[str]) -> None:
    ok(call("addRoute", route_config(ids, name="all")))
    ok(call("addRoute", route_config([ids[1], ids[2]], name="two")))
    ok(call("removeCustomProvider", ids[1]))
    routes = {r["name"]: r for r in ok(call("getAllRoutes"))["routes"]}
    assert routes["all"]["members"] == [ids[0], ids[2]]
    assert routes["two"]["members"] == [ids[2]]
    assert set(routes["all"]["circuits"]) == {ids[0], ids[2]}


def test_a_route_whose_last_member_was_removed_stays_until_given_members(
    call: Call, ids: list[str]
) -> None:
    route_id = ok(call("addRoute", route_config([ids[0]])))["id"]
    ok(call("removeCustomProvider", ids[0]))
    route = ok(call("getAllRoutes"))["routes"][0]
    assert (route["id"], route["members"], route["circuits"]) == (route_id, [], {})
    assert ok(call("updateRoute", route_id, {"displayName": "Empty"}))["route"]["members"] == []
    failed(call("updateRoute", route_id, {"members": []}), "INVALID_CONFIG")
    ok(call("updateRoute", route_id, {"members": [ids[1]]}))


# --- circuits ---------------------------------------------------------------------------------


def test_each_health_status_carries_its_providers_circuit(
    call: Call, app: MiaodaApp, ids: list[str]
) -> None:
    for _ in range(3):
        app.circuits.failed(ids[0], "UPSTREAM_ERROR", "The provider had a server error.")
    statuses = {s["providerId"]: s for s in ok(call("getAllProviderHealthStatuses"))["statuses"]}
    assert statuses[ids[1]]["circuit"] == CLOSED
    circuit = statuses[ids[0]]["circuit"]
    assert circuit["state"] == "open"
    assert circuit["reason"] == {
        "code": "UPSTREAM_ERROR",
        "message": "The provider had a server error.",
    }
    route = ok(call("addRoute", route_config(ids[:2])))["route"]
    assert route["circuits"][ids[0]] == circuit


def test_an_unhealthy_check_opens_the_circuit_and_a_passing_one_half_opens_it(
    call: Call, app: MiaodaApp, ids: list[str]
) -> None:
    down = add_provider(call, "down", baseURL=REFUSED)
    status = ok(call("checkCustomProviderHealth", down))["status"]
    assert status["status"] == "unhealthy"
    assert status["circuit"]["state"] == "open"
    assert status["circuit"]["reason"]["code"] == status["errorCode"] == "CONNECTION_FAILED"
    assert app.circuits.admit(down) is None  # a route would skip it without a request


def test_routes_and_open_circuits_survive_a_restart(data_dir: Path) -> None:
    first = MiaodaApp(data_dir, secret_backend="file", token="tok")
    bridge = first.bridge()
    a, b = (add_provider(bridge_call(bridge), name) for name in ("alpha", "beta"))
    route = ok(bridge.addRoute(route_config([b, a], strategy="fastest")))["route"]
    for _ in range(3):
        first.circuits.failed(b, "RATE_LIMITED", "Too many requests.")
    before = ok(bridge.getAllRoutes())["routes"]
    first.close()

    second = MiaodaApp(data_dir, secret_backend="file", token="tok")
    try:
        after = ok(second.bridge().getAllRoutes())["routes"]
        assert after == before
        assert after[0]["id"] == route["id"]
        assert after[0]["circuits"][b]["state"] in ("open", "half-open")
        assert after[0]["circuits"][b]["reason"]["code"] == "RATE_LIMITED"
    finally:
        second.close()


def bridge_call(bridge: Any) -> Call:
    return lambda method, *args: getattr(bridge, method)(*args)
