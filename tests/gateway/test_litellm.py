"""The real app against a real LiteLLM proxy: streamed chats on the OpenAI-compatible
(`/v1/chat/completions`) and the Anthropic-compatible (`/v1/messages`) API, tool calls, a 429
with the wait LiteLLM forwards as `llm_provider-retry-after`, and a 500.

Each test adds a provider pointing at the proxy to the real `MiaodaApp` and talks to the app's
own HTTP API (/api/chat/stream, /api/chat), as the frontend does. How LiteLLM's mock mode
produces each answer, and where it cannot (a wait on a 429, a streamed tool call), is in
tests/gateway/proxy.py; there the `relay` model forwards to a scripted fake provider instead.
Retry waits are recorded, not slept (`sleeps`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from tests.fakes.upstream import FakeUpstream, Reply, SleepRecorder, openai_chunk, openai_stream
from tests.gateway import proxy
from tests.helpers import CANARY_KEY
from tests.stress.helpers import (
    add_provider,
    api_headers,
    assert_well_formed,
    parse_events,
    stream_chat,
)

pytestmark = [
    pytest.mark.gateway,
    pytest.mark.slow,
    # The first test of a run may create .venv-gateway (about a minute) and start the proxy.
    pytest.mark.timeout(2 * proxy.INSTALL_TIMEOUT + proxy.START_TIMEOUT),
]

# The app's provider type for each API, and where its base URL points on the proxy.
APIS = {
    "openai": ("openai-compatible", "/v1"),
    "anthropic": ("anthropic-compatible", ""),
}
RELAY_PATH = "/v1/chat/completions"  # what LiteLLM calls on the fake provider, for both APIs
TOOL = {
    "name": proxy.TOOL_NAME,
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def gateway_provider(app: MiaodaApp, gateway_url: str, api: str, model: str) -> str:
    """A provider in `app` for `model` on the proxy, spoken to over `api`, with the canary key
    (the proxy's master key)."""
    kind, path = APIS[api]
    return add_provider(
        app, gateway_url + path, name=f"litellm-{api}-{model}", model=model, type=kind
    )


def content(events: list[tuple[str, Any]], kind: str = "delta") -> str:
    return "".join(data["text"] for event, data in events if event == kind)


def only(events: list[tuple[str, Any]], kind: str) -> dict[str, Any]:
    found = [data for event, data in events if event == kind]
    assert len(found) == 1, events
    return dict(found[0])


def post_stream(app: MiaodaApp, body: dict[str, Any]) -> list[tuple[str, Any]]:
    response = httpx.post(
        f"{app.server_url}/api/chat/stream", json=body, headers=api_headers(), timeout=60.0
    )
    assert response.status_code == 200, response.text
    events = parse_events(response.text)
    assert_well_formed(events)
    return events


def relay_tool_stream() -> list[bytes]:
    """An OpenAI stream in which the model calls `get_weather`, its arguments in two pieces."""
    call = {"index": 0, "id": "call_relay_1", "type": "function"}
    return [
        openai_chunk({"role": "assistant", "content": None}),
        openai_chunk(
            {"tool_calls": [{**call, "function": {"name": proxy.TOOL_NAME, "arguments": ""}}]}
        ),
        openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        openai_chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]


def rate_limited(seconds: str) -> Reply:
    """The fake provider's 429, naming its wait in `Retry-After`."""
    error = {"message": "Rate limit reached, slow down", "type": "rate_limit_exceeded"}
    return Reply.json({"error": error}, 429, {"retry-after": seconds})


# --- streamed chats ------------------------------------------------------------------------


def test_openai_chat_streams_the_mock_reply(app: MiaodaApp, gateway_url: str) -> None:
    provider = gateway_provider(app, gateway_url, "openai", "mock-text")
    _, events, _ = stream_chat(app.server_url, provider)
    assert_well_formed(events)
    assert content(events) == proxy.MOCK_TEXT
    # LiteLLM sends the mock text in 3-character chunks; they arrive as more than one delta.
    assert len([e for e, _ in events if e == "delta"]) > 1, events
    assert only(events, "usage")["source"] == "reported"
    assert only(events, "done")["finishReason"] == "stop"


def test_anthropic_chat_replays_the_mock_message(app: MiaodaApp, gateway_url: str) -> None:
    """LiteLLM's /v1/messages mock ignores `stream: true` and answers one JSON message; the app
    replays it as a stream, with the usage the message reports."""
    provider = gateway_provider(app, gateway_url, "anthropic", "mock-text")
    _, events, _ = stream_chat(app.server_url, provider)
    assert_well_formed(events)
    assert content(events) == proxy.MOCK_TEXT
    assert only(events, "usage") == {"inputTokens": 2095, "outputTokens": 503, "source": "reported"}
    assert only(events, "done")["finishReason"] == "stop"


@pytest.mark.parametrize("api", APIS)
def test_chat_streams_through_the_gateway(
    app: MiaodaApp, gateway_url: str, relay: FakeUpstream, api: str
) -> None:
    """A real stream end to end: the fake provider streams, LiteLLM re-streams it (as Anthropic
    events on /v1/messages), the app relays it; the provider sees LiteLLM's key, not ours."""
    pieces = ["Streamed ", "through ", "LiteLLM ", f"over {api}."]
    relay.script(RELAY_PATH, Reply.stream(openai_stream(pieces)))
    before = len(relay.requests_to(RELAY_PATH))
    provider = gateway_provider(app, gateway_url, api, "relay")
    _, events, _ = stream_chat(app.server_url, provider)
    assert_well_formed(events)
    assert content(events) == "".join(pieces)
    assert only(events, "done")["finishReason"] == "stop"
    assert "usage" in [e for e, _ in events]
    seen = relay.requests_to(RELAY_PATH)[before:]
    assert len(seen) == 1
    assert seen[0].json["stream"] is True
    assert seen[0].headers["authorization"] == "Bearer relay-key"
    assert CANARY_KEY not in json.dumps(seen[0].headers)


# --- tool calls ----------------------------------------------------------------------------


def test_mock_tool_call_in_a_complete_answer(app: MiaodaApp, gateway_url: str) -> None:
    """LiteLLM mocks tool calls only in a non-streamed answer: /api/chat."""
    provider = gateway_provider(app, gateway_url, "openai", "mock-tool")
    body = {
        "providerId": provider,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [TOOL],
    }
    response = httpx.post(
        f"{app.server_url}/api/chat", json=body, headers=api_headers(), timeout=60.0
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True, answer
    assert answer["message"]["toolCalls"] == [
        {"id": proxy.TOOL_CALL_ID, "name": proxy.TOOL_NAME, "arguments": proxy.TOOL_ARGUMENTS}
    ]
    # LiteLLM's mock says finish_reason "stop" beside its tool calls; the app goes by the calls.
    assert answer["finishReason"] == "tool_calls"


@pytest.mark.parametrize("api", APIS)
def test_streamed_tool_call_through_the_gateway(
    app: MiaodaApp, gateway_url: str, relay: FakeUpstream, api: str
) -> None:
    relay.script(RELAY_PATH, Reply.stream(relay_tool_stream()))
    before = len(relay.requests_to(RELAY_PATH))
    provider = gateway_provider(app, gateway_url, api, "relay")
    events = post_stream(
        app,
        {
            "providerId": provider,
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [TOOL],
        },
    )
    call = only(events, "tool_call")
    assert (call["index"], call["id"], call["name"]) == (0, "call_relay_1", proxy.TOOL_NAME)
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    assert only(events, "done")["finishReason"] == "tool_calls"
    sent = relay.requests_to(RELAY_PATH)[before:]
    assert [t["function"]["name"] for t in sent[0].json["tools"]] == [proxy.TOOL_NAME]


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_mock_rate_limit(app: MiaodaApp, gateway_url: str, sleeps: SleepRecorder, api: str) -> None:
    """LiteLLM's mock 429 names no wait: the app retries twice on its own backoff, then says
    RATE_LIMITED with LiteLLM's words and no `retryAfter`."""
    provider = gateway_provider(app, gateway_url, api, "mock-429")
    _, events, _ = stream_chat(app.server_url, provider)
    assert_well_formed(events)
    error = only(events, "error")
    assert error["code"] == "RATE_LIMITED", error
    assert error["httpStatus"] == 429
    assert "retryAfter" not in error or error["retryAfter"] is None, error
    assert "mock rate limit error" in error["message"]
    assert len(sleeps) == 2 and all(0 < wait <= 8 for wait in sleeps), sleeps


def test_gateway_forwards_the_providers_wait(gateway_url: str, relay: FakeUpstream) -> None:
    """The mechanism the app relies on: LiteLLM answers the provider's 429 with the provider's
    Retry-After as `llm_provider-retry-after` (and no plain `retry-after`)."""
    relay.script(RELAY_PATH, rate_limited("7"))
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "relay", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {CANARY_KEY}"},
        timeout=30.0,
    )
    assert response.status_code == 429, response.text
    assert response.headers.get("llm_provider-retry-after") == "7", dict(response.headers)
    assert "retry-after" not in response.headers


def test_rate_limit_wait_is_waited_out_then_the_chat_streams(
    app: MiaodaApp, gateway_url: str, relay: FakeUpstream, sleeps: SleepRecorder
) -> None:
    relay.script(RELAY_PATH, rate_limited("7"), Reply.stream(openai_stream(["after ", "wait"])))
    provider = gateway_provider(app, gateway_url, "openai", "relay")
    raw, events, _ = stream_chat(app.server_url, provider)
    assert_well_formed(events)
    assert sleeps == [7.0]
    assert '"retryIn": 7' in raw or '"retryIn":7' in raw, raw
    assert content(events) == "after wait"
    assert only(events, "done")["finishReason"] == "stop"


def test_rate_limit_wait_ends_up_in_the_error(
    app: MiaodaApp, gateway_url: str, relay: FakeUpstream, sleeps: SleepRecorder
) -> None:
    """Still limited after both retries: RATE_LIMITED with the forwarded wait, in numbers and
    in words."""
    relay.script(RELAY_PATH, rate_limited("7"))
    provider = gateway_provider(app, gateway_url, "openai", "relay")
    _, events, _ = stream_chat(app.server_url, provider)
    assert_well_formed(events)
    error = only(events, "error")
    assert error["code"] == "RATE_LIMITED", error
    assert error["retryAfter"] == 7, error
    assert error["httpStatus"] == 429
    assert "7 seconds" in error["message"], error
    assert sleeps == [7.0, 7.0]


def test_long_rate_limit_wait_is_not_waited(
    app: MiaodaApp, gateway_url: str, relay: FakeUpstream, sleeps: SleepRecorder
) -> None:
    relay.script(RELAY_PATH, rate_limited("120"))
    provider = gateway_provider(app, gateway_url, "openai", "relay")
    _, events, _ = stream_chat(app.server_url, provider)
    error = only(events, "error")
    assert (error["code"], error["retryAfter"]) == ("RATE_LIMITED", 120), error
    assert sleeps == []


def test_messages_api_drops_the_providers_wait(
    app: MiaodaApp, gateway_url: str, relay: FakeUpstream, sleeps: SleepRecorder
) -> None:
    """LiteLLM 1.108's /v1/messages answers the provider's 429 without its wait (no
    `llm_provider-retry-after`, no `retry-after`): over the Anthropic API the app can only back
    off on its own and say RATE_LIMITED without `retryAfter`. Should LiteLLM start forwarding
    the wait, this fails: then run the wait tests above over both APIs."""
    relay.script(RELAY_PATH, rate_limited("7"))
    response = httpx.post(
        f"{gateway_url}/v1/messages",
        json={"model": "relay", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": CANARY_KEY, "anthropic-version": "2023-06-01"},
        timeout=30.0,
    )
    assert response.status_code == 429, response.text
    assert not [h for h in response.headers if "retry-after" in h], dict(response.headers)

    provider = gateway_provider(app, gateway_url, "anthropic", "relay")
    _, events, _ = stream_chat(app.server_url, provider)
    assert_well_formed(events)
    error = only(events, "error")
    assert (error["code"], error["httpStatus"]) == ("RATE_LIMITED", 429), error
    assert error.get("retryAfter") is None, error
    assert len(sleeps) == 2 and all(0 < wait <= 8 for wait in sleeps), sleeps


@pytest.mark.parametrize("api", APIS)
def test_mock_server_error(
    app: MiaodaApp, gateway_url: str, sleeps: SleepRecorder, api: str
) -> None:
    """LiteLLM's mock 500: retried twice, then UPSTREAM_ERROR with status and LiteLLM's words."""
    provider = gateway_provider(app, gateway_url, api, "mock-500")
    _, events, _ = stream_chat(app.server_url, provider)
    assert_well_formed(events)
    error = only(events, "error")
    assert (error["code"], error["httpStatus"]) == ("UPSTREAM_ERROR", 500), error
    assert "mock internal server error" in error["message"], error
    assert len(sleeps) == 2, sleeps
