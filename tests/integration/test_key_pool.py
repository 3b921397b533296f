"""Key pools through the real app (CONTRACT §10): its HTTP server, its secret store and its
data file, against a real fake upstream. A canary key never reaches a response, a log line or
the data folder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.helpers import CANARY_KEY, files_containing
from tests.integration.served import rpc, serve

PATH = "/v1/chat/completions"
FIRST, SECOND = CANARY_KEY + "-first", CANARY_KEY + "-second"
OK = Reply.stream(openai_stream(["fine"]))


def rate_limited(seconds: str) -> Reply:
    return Reply.json(
        {"error": {"message": "Slow down", "type": "rate_limit_error"}},
        429,
        {"retry-after": seconds},
    )


REFUSED = Reply.json({"error": {"message": f"Incorrect API key provided: {FIRST}"}}, 401)


def start(data_dir: Path) -> MiaodaApp:
    return serve(data_dir, chat_heartbeat=0.3)


@pytest.fixture
def app(data_dir: Path) -> Iterator[MiaodaApp]:
    """The real app on the encrypted-file secret store, serving on a loopback port."""
    instance = start(data_dir)
    yield instance
    instance.close()


def add_pool(app: MiaodaApp, upstream: FakeUpstream, *keys: str) -> str:
    config = {
        "name": "pooled",
        "displayName": "Pooled",
        "baseURL": upstream.url + "/v1",
        "model": "fake-model",
        "type": "openai-compatible",
        "apiKeys": list(keys),
    }
    result = rpc(app, "addCustomProvider", config, {"validate": False})
    assert result["success"], result
    return str(result["id"])


def chat(app: MiaodaApp, provider_id: str) -> list[tuple[str, Any]]:
    body = {"providerId": provider_id, "messages": [{"role": "user", "content": "Hello"}]}
    response = httpx.post(
        f"{app.server_url}/api/chat/stream",
        json=body,
        headers={"X-MiaoDa-Token": "tok"},
        timeout=30,
    )
    assert CANARY_KEY not in response.text
    events = []
    for block in response.text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if lines:
            kind = next(line[7:] for line in lines if line.startswith("event: "))
            events.append(
                (kind, json.loads(next(line[6:] for line in lines if line[:6] == "data: ")))
            )
    return events


def keys_of(app: MiaodaApp, provider_id: str) -> list[dict[str, Any]]:
    result = rpc(app, "getCustomProvider", provider_id)
    keys: list[dict[str, Any]] = result["provider"]["keys"]
    return keys


def used(upstream: FakeUpstream) -> list[str]:
    """Which key each request carried: "first" or "second"."""
    return [r.headers["authorization"].rsplit("-", 1)[1] for r in upstream.requests_to(PATH)]


def seconds_until(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - time.time()


def test_a_rate_limited_key_cools_for_its_retry_after_while_the_next_key_answers(
    app: MiaodaApp, upstream: FakeUpstream, data_dir: Path
) -> None:
    provider_id = add_pool(app, upstream, FIRST, SECOND)
    upstream.script(PATH, rate_limited("2"), OK, OK, OK)
    began = time.monotonic()
    events = chat(app, provider_id)
    assert [kind for kind, _ in events] == ["start", "delta", "usage", "done"]
    assert time.monotonic() - began < 1.5  # the second key at once, no waiting
    assert used(upstream) == ["first", "second"]
    first, second = keys_of(app, provider_id)
    assert first["state"] == "cooling" and 1.0 < seconds_until(first["until"]) <= 2.0
    assert first["lastError"]["code"] == "RATE_LIMITED"
    assert second["state"] == "active" and second["lastUsedAt"]
    chat(app, provider_id)  # still cooling: the second key again
    time.sleep(max(0.0, seconds_until(first["until"])) + 0.1)
    chat(app, provider_id)  # its time has come: the first key is used again
    assert used(upstream) == ["first", "second", "second", "first"]
    assert keys_of(app, provider_id)[0]["state"] == "active"
    assert files_containing(data_dir, CANARY_KEY) == []


def test_a_refused_key_is_invalid_and_skipped_until_it_is_reset(
    app: MiaodaApp, upstream: FakeUpstream, data_dir: Path
) -> None:
    provider_id = add_pool(app, upstream, FIRST, SECOND)
    upstream.script(PATH, REFUSED, OK, OK, OK, OK)
    assert chat(app, provider_id)[-1][1]["finishReason"] == "stop"
    first, _ = keys_of(app, provider_id)
    assert (first["state"], first["until"]) == ("invalid", None)
    assert first["lastError"]["code"] == "AUTH_FAILED"
    assert CANARY_KEY not in first["lastError"]["message"]
    chat(app, provider_id)
    assert used(upstream) == ["first", "second", "second"]
    reset = rpc(app, "resetProviderKey", provider_id, first["id"])
    assert reset["success"] and reset["provider"]["keys"][0]["state"] == "active"
    chat(app, provider_id)
    chat(app, provider_id)
    assert sorted(used(upstream)[3:]) == ["first", "second"]
    assert files_containing(data_dir, CANARY_KEY) == []


def test_with_every_key_cooling_the_error_names_the_soonest_time_and_a_restart_remembers(
    app: MiaodaApp, upstream: FakeUpstream, data_dir: Path
) -> None:
    provider_id = add_pool(app, upstream, FIRST, SECOND)
    upstream.script(PATH, rate_limited("120"), rate_limited("90"), OK)
    events = chat(app, provider_id)
    assert [kind for kind, _ in events] == ["start", "error", "done"]
    error = events[1][1]
    assert (error["code"], error["retryAfter"]) == ("RATE_LIMITED", 90)
    before = keys_of(app, provider_id)
    assert [k["state"] for k in before] == ["cooling", "cooling"]
    app.close()

    restarted = start(data_dir)
    try:
        assert keys_of(restarted, provider_id) == before  # states, times and errors kept
        again = chat(restarted, provider_id)
        assert again[1][1]["code"] == "RATE_LIMITED" and 80 <= again[1][1]["retryAfter"] <= 90
        assert len(upstream.requests) == 2  # nothing was sent with a cooling key
    finally:
        restarted.close()
    assert files_containing(data_dir, CANARY_KEY) == []


def test_one_key_at_a_time_over_rpc(app: MiaodaApp, upstream: FakeUpstream, data_dir: Path) -> None:
    provider_id = add_pool(app, upstream, FIRST)
    added = rpc(app, "addProviderKey", provider_id, SECOND)
    assert added["success"], added
    keys = added["provider"]["keys"]
    assert [k["hint"] for k in keys] == ["sk-…irst", "sk-…cond"]
    assert added["provider"]["hasApiKey"] and added["provider"]["apiKeyHint"] == "sk-…irst"
    duplicate = rpc(app, "addProviderKey", provider_id, SECOND)
    assert duplicate["error"]["code"] == "INVALID_CONFIG" and "key" in duplicate["error"]["fields"]
    removed = rpc(app, "removeProviderKey", provider_id, keys[0]["id"])
    assert [k["id"] for k in removed["provider"]["keys"]] == [keys[1]["id"]]
    assert removed["provider"]["apiKeyHint"] == "sk-…cond"
    missing = rpc(app, "removeProviderKey", provider_id, keys[0]["id"])
    assert missing["error"]["code"] == "NOT_FOUND" and "keyId" in missing["error"]["fields"]
    unknown = rpc(app, "resetProviderKey", "no-such-provider", keys[1]["id"])
    assert unknown["error"]["code"] == "NOT_FOUND"
    upstream.script(PATH, OK)
    chat(app, provider_id)
    assert used(upstream) == ["second"]
    assert files_containing(data_dir, CANARY_KEY) == []


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ("sk-one", "apiKeys"),
        ([f"sk-key-{n:04d}" for n in range(33)], "apiKeys"),
        (["sk-one", ""], "apiKeys.1"),
        ([" sk-padded"], "apiKeys.0"),
        (["sk-same", "sk-same"], "apiKeys.1"),
        ([7], "apiKeys.0"),
    ],
    ids=["not-a-list", "33-keys", "empty", "space-padded", "duplicate", "not-text"],
)
def test_bad_api_keys_are_field_errors_and_save_nothing(
    app: MiaodaApp, upstream: FakeUpstream, keys: Any, field: str
) -> None:
    config = {
        "name": "pooled",
        "displayName": "Pooled",
        "baseURL": upstream.url + "/v1",
        "model": "fake-model",
        "type": "openai-compatible",
        "apiKeys": keys,
    }
    result = rpc(app, "addCustomProvider", config, {"validate": False})
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert field in result["error"]["fields"], result["error"]["fields"]
    assert rpc(app, "getAllCustomProviders")["providers"] == []
