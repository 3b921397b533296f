"""Routes with failover through the real app (CONTRACT §10): real local fake upstreams, a port
that refuses connections, the real HTTP chat routes, the stored replies and the circuits.

Each test counts the requests every upstream received: a member is tried once, nothing is sent
after a first token, and a member whose circuit is open is not contacted at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from tests.fakes.upstream import FakeUpstream, Reply, openai_chunk, openai_stream
from tests.helpers import CANARY_KEY
from tests.integration import served
from tests.integration.served import post
from tests.integration.test_chat_http import parse_events

PATH = "/v1/chat/completions"
REFUSED = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, connections are refused
FAILED_500 = Reply.json({"error": {"message": "boom", "type": "server_error"}}, 500)
ANSWER = Reply.stream(openai_stream(["From ", "three."]))


class Clock:
    """The circuits' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: MiaodaApp, monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(app.circuits, "_clock", fake)
    return fake


@pytest.fixture
def second() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def rpc(app: MiaodaApp, method: str, *args: Any) -> dict[str, Any]:
    """`served.rpc`, which must succeed."""
    result = served.rpc(app, method, *args)
    assert result["success"], result
    return result


def add_provider(app: MiaodaApp, name: str, base_url: str, **fields: Any) -> str:
    config = {
        "name": name,
        "displayName": name.title(),
        "baseURL": base_url,
        "model": f"{name}-model",
        "type": "openai-compatible",
        **fields,
    }
    if "apiKeys" not in fields:
        config["apiKey"] = f"{CANARY_KEY}-{name}"
    return str(rpc(app, "addCustomProvider", config, {"validate": False})["id"])


def add_pool(app: MiaodaApp, name: str, base_url: str) -> str:
    """A provider with two keys."""
    return add_provider(app, name, base_url, apiKeys=[f"{CANARY_KEY}-a", f"{CANARY_KEY}-b"])


def add_route(app: MiaodaApp, members: list[str], strategy: str = "failover") -> str:
    config = {"name": "main", "displayName": "Main", "strategy": strategy, "members": members}
    return str(rpc(app, "addRoute", config)["id"])


def stream(app: MiaodaApp, provider_id: str, **body: Any) -> list[tuple[str, Any]]:
    payload = {"providerId": provider_id, "messages": [{"role": "user", "content": "Hi"}], **body}
    response = post(app, "/api/chat/stream", payload)
    assert response.status_code == 200, response.text
    return parse_events(response.text)


def attempts(events: list[tuple[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(d["providerName"], d["outcome"], d["code"]) for k, d in events if k == "attempt"]


def text(events: list[tuple[str, Any]]) -> str:
    return "".join(d["text"] for k, d in events if k == "delta")


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def circuit(app: MiaodaApp, provider_id: str) -> dict[str, Any]:
    statuses = rpc(app, "getAllProviderHealthStatuses")["statuses"]
    found: dict[str, Any] = next(s for s in statuses if s["providerId"] == provider_id)["circuit"]
    return found


@pytest.fixture
def three(app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream) -> list[str]:
    """Members one (the `upstream` server), two (a refused port), three (the `second` server)."""
    return [
        add_provider(app, "one", upstream.url + "/v1"),
        add_provider(app, "two", REFUSED),
        add_provider(app, "three", second.url + "/v1"),
    ]


# --- failover -----------------------------------------------------------------------------------


def test_a_500_and_a_refused_connection_fail_over_to_the_member_that_answers(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream, three: list[str]
) -> None:
    upstream.script(PATH, FAILED_500)
    second.script(PATH, ANSWER)
    route = add_route(app, three)
    events = stream(app, route)
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    start, done = events[0][1], events[-1][1]
    assert start["routeId"] == route and start["providerId"] is None and start["model"] is None
    assert attempts(events) == [
        ("One", "failed", "UPSTREAM_ERROR"),
        ("Two", "failed", "CONNECTION_FAILED"),
        ("Three", "answering", None),
    ]
    # `answering` comes just before the first content event; no member's failure is an error.
    assert kinds.index("delta") == kinds.index("attempt") + 3 and "error" not in kinds
    assert text(events) == "From three."
    assert done["providerId"] == three[2] and done["routeId"] == route
    assert done["finishReason"] == "stop"
    assert len(upstream.requests_to(PATH)) == 1 and len(second.requests_to(PATH)) == 1


def test_a_conversation_through_a_route_stores_who_answered_and_who_failed(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream, three: list[str]
) -> None:
    upstream.script(PATH, FAILED_500)
    second.script(PATH, ANSWER)
    route = add_route(app, three)
    response = post(app, "/api/chat/stream", {"providerId": route, "message": user("Hi")})
    start = parse_events(response.text)[0][1]
    conversation = rpc(app, "getConversation", start["conversationId"])
    assert conversation["conversation"]["providerId"] == route
    reply = next(m for m in conversation["messages"] if m["id"] == start["messageId"])
    assert reply["content"] == "From three." and reply["routeId"] == route
    assert (reply["providerId"], reply["model"]) == (three[2], "three-model")
    assert [(a["providerName"], a["outcome"]) for a in reply["attempts"]] == [
        ("One", "failed"),
        ("Two", "failed"),
        ("Three", "answering"),
    ]
    # The next message in the conversation goes through the route again.
    upstream.script(PATH, Reply.stream(openai_stream(["From one."])))
    again = post(
        app,
        "/api/chat/stream",
        {"conversationId": start["conversationId"], "message": user("More")},
    )
    assert attempts(parse_events(again.text)) == [("One", "answering", None)]


def test_a_bad_request_is_not_failed_over(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.json({"error": {"message": "bad field"}}, 400))
    second.script(PATH, ANSWER)
    members = [add_provider(app, "one", upstream.url + "/v1")]
    members.append(add_provider(app, "three", second.url + "/v1"))
    events = stream(app, add_route(app, members))
    assert attempts(events) == [("One", "failed", "BAD_REQUEST")]
    assert events[-2] == ("error", events[-2][1]) and events[-2][1]["code"] == "BAD_REQUEST"
    assert events[-1][1]["finishReason"] == "error" and events[-1][1]["providerId"] == members[0]
    assert len(second.requests_to(PATH)) == 0


def test_an_upstream_that_dies_after_its_first_token_is_not_retried_anywhere(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["Half", " an answer"]), close_after=2))
    second.script(PATH, ANSWER)
    members = [add_provider(app, "one", upstream.url + "/v1")]
    members.append(add_provider(app, "three", second.url + "/v1"))
    events = stream(app, add_route(app, members))
    kinds = [k for k, _ in events]
    assert attempts(events) == [("One", "answering", None)]
    assert text(events) == "Half" and "error" in kinds
    assert len(upstream.requests_to(PATH)) == 1 and len(second.requests_to(PATH)) == 0


def test_the_last_members_error_is_the_requests_error(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, FAILED_500)
    members = [add_provider(app, "two", REFUSED), add_provider(app, "one", upstream.url + "/v1")]
    events = stream(app, add_route(app, members))
    assert attempts(events) == [
        ("Two", "failed", "CONNECTION_FAILED"),
        ("One", "failed", "UPSTREAM_ERROR"),
    ]
    assert [k for k, _ in events][-2:] == ["error", "done"]
    assert events[-2][1]["code"] == "UPSTREAM_ERROR" and events[-1][1]["providerId"] == members[1]


def test_a_whole_answer_through_a_route_says_who_answered(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream, three: list[str]
) -> None:
    upstream.script(PATH, FAILED_500)
    body = {"choices": [{"message": {"content": "Whole."}, "finish_reason": "stop"}]}
    second.script(PATH, Reply.json(body))
    route = add_route(app, three)
    payload = {"providerId": route, "messages": [{"role": "user", "content": "Hi"}]}
    result = post(app, "/api/chat", payload).json()
    assert result["success"], result
    assert result["message"]["content"] == "Whole."
    assert result["providerId"] == three[2] and result["routeId"] == route
    assert [a["outcome"] for a in result["attempts"]] == ["failed", "failed", "answering"]


# --- what a route refuses -----------------------------------------------------------------------


def test_a_model_override_with_a_route_and_an_empty_route_are_refused_before_sending(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    member = add_provider(app, "one", upstream.url + "/v1")
    route = add_route(app, [member])
    body = {"providerId": route, "model": "other", "messages": [{"role": "user", "content": "x"}]}
    response = post(app, "/api/chat/stream", body)
    error = response.json()["error"]
    assert response.status_code == 400 and error["code"] == "INVALID_CONFIG"
    assert "model" in error["fields"]
    rpc(app, "removeCustomProvider", member)
    body.pop("model")
    response = post(app, "/api/chat/stream", body)
    error = response.json()["error"]
    assert response.status_code == 400 and error["code"] == "INVALID_CONFIG"
    assert "providerId" in error["fields"]
    assert upstream.requests_to(PATH) == []


# --- key pools inside a route -------------------------------------------------------------------


def test_a_members_second_key_answers_before_the_route_moves_on(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream
) -> None:
    limited = Reply.json({"error": {"message": "slow"}}, 429, {"retry-after": "2"})
    upstream.script(PATH, limited, ANSWER)
    pooled = add_pool(app, "one", upstream.url + "/v1")
    other = add_provider(app, "three", second.url + "/v1")
    events = stream(app, add_route(app, [pooled, other]))
    assert attempts(events) == [("One", "answering", None)]
    assert len(second.requests_to(PATH)) == 0
    keys = rpc(app, "getCustomProvider", pooled)["provider"]["keys"]
    assert [k["state"] for k in keys] == ["cooling", "active"]


def test_refused_keys_fail_over_and_a_member_without_a_usable_key_is_not_sent(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.json({"error": {"message": "bad key"}}, 401))
    second.script(PATH, ANSWER)
    one = add_pool(app, "one", upstream.url + "/v1")
    route = add_route(app, [one, add_provider(app, "three", second.url + "/v1")])
    # Both keys are tried (the second at once, before any output), then the route moves on.
    assert attempts(stream(app, route))[0] == ("One", "failed", "AUTH_FAILED")
    keys = rpc(app, "getCustomProvider", one)["provider"]["keys"]
    assert [k["state"] for k in keys] == ["invalid", "invalid"]
    assert len(upstream.requests_to(PATH)) == 2
    # No usable key: the member fails at once, without a request, and the next one answers.
    events = stream(app, route)
    assert attempts(events)[0][1] == "failed" and text(events) == "From three."
    assert len(upstream.requests_to(PATH)) == 2


# --- circuits -----------------------------------------------------------------------------------


def test_three_failures_open_the_circuit_then_the_member_is_skipped_until_one_probe(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream, clock: Clock
) -> None:
    upstream.script(PATH, FAILED_500)
    second.script(PATH, ANSWER)
    one = add_provider(app, "one", upstream.url + "/v1")
    route = add_route(app, [one, add_provider(app, "three", second.url + "/v1")])
    for _ in range(3):
        assert attempts(stream(app, route))[0] == ("One", "failed", "UPSTREAM_ERROR")
    assert circuit(app, one)["state"] == "open"
    events = stream(app, route)
    assert attempts(events)[0] == ("One", "skipped", "CIRCUIT_OPEN")
    assert len(upstream.requests_to(PATH)) == 3  # skipped without contacting it
    # After the cool-off exactly one request probes it; a request meanwhile skips it.
    clock.now += 31
    upstream.script(PATH, Reply.stream(openai_stream(["probe"]), hang_before_headers=1.0))
    results: list[list[tuple[str, Any]]] = []
    probe = threading.Thread(target=lambda: results.append(stream(app, route)))
    probe.start()
    assert upstream.wait_for_requests(4, timeout=10)
    assert attempts(stream(app, route))[0] == ("One", "skipped", "CIRCUIT_OPEN")
    probe.join(timeout=20)
    assert attempts(results[0]) == [("One", "answering", None)]
    assert len(upstream.requests_to(PATH)) == 4
    assert circuit(app, one)["state"] == "closed"


def test_every_member_paused_fails_at_once_with_the_opening_error_and_retry_after(
    app: MiaodaApp, upstream: FakeUpstream, clock: Clock
) -> None:
    upstream.script(PATH, FAILED_500)
    one = add_provider(app, "one", upstream.url + "/v1")
    route = add_route(app, [one])
    for _ in range(3):
        stream(app, route)
    clock.now += 10
    events = stream(app, route)
    assert attempts(events) == [("One", "skipped", "CIRCUIT_OPEN")]
    error = events[-2][1]
    assert error["code"] == "UPSTREAM_ERROR" and error["retryAfter"] == 20
    assert "paused" in error["message"]
    assert len(upstream.requests_to(PATH)) == 3


def test_a_provider_chosen_directly_is_sent_even_when_open_and_updates_its_circuit(
    app: MiaodaApp, upstream: FakeUpstream, clock: Clock
) -> None:
    upstream.script(PATH, FAILED_500)
    one = add_provider(app, "one", upstream.url + "/v1", parameters={})
    for _ in range(3):
        events = stream(app, one)
        assert "attempt" not in [k for k, _ in events]
        assert events[-1][1]["providerId"] == one and events[-1][1]["routeId"] is None
    assert circuit(app, one)["state"] == "open"
    upstream.script(PATH, Reply.stream(openai_stream(["back"])))
    assert text(stream(app, one)) == "back"
    assert circuit(app, one)["state"] == "closed"
    assert len(upstream.requests_to(PATH)) >= 4


def test_round_robin_rotates_the_first_member(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["one"])))
    second.script(PATH, Reply.stream(openai_stream(["three"])))
    members = [add_provider(app, "one", upstream.url + "/v1")]
    members.append(add_provider(app, "three", second.url + "/v1"))
    route = add_route(app, members, strategy="round-robin")
    answers = [text(stream(app, route)) for _ in range(4)]
    assert answers == ["one", "three", "one", "three"]


def test_a_stream_with_only_a_finish_counts_as_an_answer(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream([openai_chunk({}, "stop"), b"data: [DONE]\n\n"]))
    members = [add_provider(app, "one", upstream.url + "/v1")]
    members.append(add_provider(app, "three", second.url + "/v1"))
    events = stream(app, add_route(app, members))
    assert attempts(events) == [("One", "answering", None)]
    assert events[-1][1]["finishReason"] == "stop" and len(second.requests_to(PATH)) == 0


def test_a_client_that_goes_away_while_a_member_hangs_stops_the_route(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["late"]), hang_before_headers=30))
    second.script(PATH, ANSWER)
    members = [add_provider(app, "one", upstream.url + "/v1")]
    members.append(add_provider(app, "three", second.url + "/v1"))
    route = add_route(app, members)
    body = {"providerId": route, "messages": [{"role": "user", "content": "Hi"}]}
    with httpx.stream(
        "POST",
        f"{app.server_url}/api/chat/stream",
        json=body,
        headers={"X-MiaoDa-Token": "tok"},
        timeout=30,
    ) as response:
        assert next(response.iter_raw()).startswith(b"event: start")
        assert upstream.wait_for_requests(1, timeout=10)
    # The connection closed: the hanging member's request is closed too, and nobody else asked.
    assert upstream.wait_for_disconnect(timeout=10) is not None
    assert second.requests_to(PATH) == []
    assert circuit(app, members[0])["state"] == "closed"


def test_a_gateway_whose_chats_fail_is_unhealthy_after_three_real_chats(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    upstream.script("/v1/models", Reply.json({"data": [{"id": "one-model"}]}))
    upstream.script(PATH, FAILED_500)
    one = add_provider(app, "one", upstream.url + "/v1")
    rpc(app, "checkCustomProviderHealth", one)

    def status() -> dict[str, Any]:
        statuses = rpc(app, "getAllProviderHealthStatuses")["statuses"]
        found: dict[str, Any] = next(s for s in statuses if s["providerId"] == one)
        return found

    assert status()["status"] in ("healthy", "degraded")  # its model list answers
    for _ in range(3):
        assert status()["basis"] == "check"
        stream(app, one)  # chosen directly: the provider's retries apply, then it fails
    found = status()
    assert (found["status"], found["basis"], found["errorCode"]) == (
        "unhealthy",
        "chats",
        "UPSTREAM_ERROR",
    )
    assert found["recentChats"]["failuresInARow"] == 3
    upstream.script(PATH, Reply.stream(openai_stream(["back"])))
    stream(app, one)
    assert status()["basis"] == "check" and status()["status"] != "unhealthy"


def usage_records(app: MiaodaApp, count: int) -> list[tuple[str, str, str | None]]:
    """The stored chat records as (provider id, finish reason, error code), oldest first, once
    `count` are there (the request's own is stored as its body closes, a failed member's by
    the background writer)."""
    deadline = time.monotonic() + 10
    while True:
        app.writes.drain()
        rows = app.storage.chat_stats()
        if len(rows) >= count or time.monotonic() > deadline:
            found = [(r["provider_id"], r["finish_reason"], r["error_code"]) for r in rows]
            return sorted(found, key=lambda row: row[1] == "stop")


@pytest.mark.parametrize("path", ["/api/chat/stream", "/api/chat"])
def test_each_member_tried_has_one_usage_record(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream, path: str
) -> None:
    upstream.script(PATH, FAILED_500)
    body = {"choices": [{"message": {"content": "Whole."}, "finish_reason": "stop"}]}
    second.script(PATH, ANSWER if path.endswith("stream") else Reply.json(body))
    members = [add_provider(app, "one", upstream.url + "/v1")]
    members.append(add_provider(app, "three", second.url + "/v1"))
    route = add_route(app, members)
    payload = {"providerId": route, "messages": [{"role": "user", "content": "Hi"}]}
    assert post(app, path, payload).status_code == 200
    assert usage_records(app, 2) == [
        (members[0], "error", "UPSTREAM_ERROR"),
        (members[1], "stop", None),
    ]


def test_a_route_where_every_member_fails_records_each_failure_once(
    app: MiaodaApp, upstream: FakeUpstream, second: FakeUpstream
) -> None:
    upstream.script(PATH, FAILED_500)
    second.script(PATH, FAILED_500)
    members = [add_provider(app, "one", upstream.url + "/v1")]
    members.append(add_provider(app, "three", second.url + "/v1"))
    stream(app, add_route(app, members))
    records = usage_records(app, 2)
    assert sorted(records) == sorted(
        [(members[0], "error", "UPSTREAM_ERROR"), (members[1], "error", "UPSTREAM_ERROR")]
    )
    app.writes.drain()
    assert len(app.storage.chat_stats()) == 2
