"""Honest health against a real fake gateway, through the real app, its bridge and /api/rpc.

The gateway answers its models list (from its own configuration) while every chat gets a 500,
the way LiteLLM does when its upstreams fail. Chats go through the real provider layer, and
their outcomes reach the monitor through `app.health.chat_outcome`, as the chat path reports
them: after 3 failed chats the provider is unhealthy though its models check passes, one answer
brings it back, and with `checkKind: "chat"` the next check itself finds the failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.app import MiaodaApp
from backend.errors import MiaodaError
from backend.models import ChatMessage, ChatRequest
from backend.providers import IN_ROUTE
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.helpers import provider_config
from tests.integration.served import Call

MODEL = "gateway-model"


@pytest.fixture
def app(app: MiaodaApp) -> MiaodaApp:
    """The served app, where a check is never graded slow, however busy the machine running
    the tests."""
    app.health.update_settings({"slowThresholdMs": 60_000})
    return app


@pytest.fixture
def gateway(upstream: FakeUpstream) -> FakeUpstream:
    """A gateway whose models list answers 200 and whose every chat gets a 500."""
    upstream.script("/v1/models", Reply.json({"object": "list", "data": [{"id": MODEL}]}))
    upstream.script("/v1/chat/completions", failing_chat())
    return upstream


def failing_chat() -> Reply:
    body = {"error": {"message": "All upstream deployments failed", "type": "server_error"}}
    return Reply.json(body, 500)


def answering_chat() -> Reply:
    return Reply.json(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello!"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
    )


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["success"] is True, result
    return result


def add_gateway(call: Call, gateway: FakeUpstream, **fields: Any) -> str:
    config = provider_config(
        name="gateway", displayName="Gateway", baseURL=gateway.url + "/v1", model=MODEL, **fields
    )
    return str(ok(call("addCustomProvider", config, {"validate": False}))["id"])


def status_of(call: Call, provider_id: str) -> dict[str, Any]:
    statuses = ok(call("getAllProviderHealthStatuses"))["statuses"]
    [status] = [s for s in statuses if s["providerId"] == provider_id]
    return dict(status)


def chat(app: MiaodaApp, provider_id: str) -> MiaodaError | None:
    """One real chat request to the provider (one attempt) and its outcome reported to health,
    as the chat path does; the error it failed with, or None when it answered."""
    config, key = app.manager.with_key(provider_id)
    request = ChatRequest(provider_id, (ChatMessage("user", "Hello"),))
    try:
        app.providers.chat(config, key, request, retry=IN_ROUTE)
    except MiaodaError as error:
        app.health.chat_outcome(provider_id, error)
        return error
    app.health.chat_outcome(provider_id, None)
    return None


def test_a_gateway_whose_chats_fail_is_unhealthy_after_three_chats_and_back_after_one_answer(
    app: MiaodaApp, call: Call, gateway: FakeUpstream
) -> None:
    pid = add_gateway(call, gateway)
    checked = ok(call("checkCustomProviderHealth", pid))["status"]
    assert (checked["status"], checked["checkKind"], checked["basis"]) == (
        "healthy",
        "models",
        "check",
    )

    errors = [chat(app, pid) for _ in range(2)]
    assert [e.code if e else None for e in errors] == ["UPSTREAM_ERROR"] * 2
    assert status_of(call, pid)["status"] == "healthy"  # two failures: not yet

    error = chat(app, pid)
    assert error is not None and error.code == "UPSTREAM_ERROR"
    status = status_of(call, pid)
    assert (status["status"], status["isHealthy"], status["basis"]) == ("unhealthy", False, "chats")
    assert (status["errorCode"], status["httpStatus"]) == ("UPSTREAM_ERROR", 500)
    assert status["recentChats"]["failuresInARow"] == 3
    assert status["recentChats"]["lastError"]["code"] == "UPSTREAM_ERROR"

    # The models check keeps passing, and the badge still does not say healthy.
    rechecked = ok(call("checkCustomProviderHealth", pid))["status"]
    assert (rechecked["status"], rechecked["basis"], rechecked["checkKind"]) == (
        "unhealthy",
        "chats",
        "models",
    )
    assert rechecked["lastChecked"] >= checked["lastChecked"]
    assert len(gateway.requests_to("/v1/models")) == 2
    assert len(gateway.requests_to("/v1/chat/completions")) == 3  # the checks sent no chat

    gateway.script("/v1/chat/completions", answering_chat())
    assert chat(app, pid) is None
    back = status_of(call, pid)
    assert (back["status"], back["basis"], back["errorCode"]) == ("healthy", "check", None)
    assert back["recentChats"]["failuresInARow"] == 0


def test_with_check_kind_chat_the_gateway_is_unhealthy_at_the_next_check(
    call: Call, gateway: FakeUpstream
) -> None:
    pid = add_gateway(call, gateway, checkKind="chat")
    status = ok(call("checkCustomProviderHealth", pid))["status"]
    assert (status["status"], status["checkKind"], status["basis"]) == (
        "unhealthy",
        "chat",
        "check",
    )
    assert (status["errorCode"], status["httpStatus"]) == ("UPSTREAM_ERROR", 500)
    assert status_of(call, pid)["status"] == "unhealthy"
    assert gateway.requests_to("/v1/models") == []  # its models list would have said healthy
    [probe] = gateway.requests_to("/v1/chat/completions")
    assert (probe.json["max_tokens"], probe.json["stream"]) == (16, True)  # a one-token chat

    gateway.script("/v1/chat/completions", Reply.stream(openai_stream(["Hi"])))
    healthy = ok(call("checkCustomProviderHealth", pid))["status"]
    assert (healthy["status"], healthy["checkKind"]) == ("healthy", "chat")


def test_failed_chats_keep_a_gateway_unhealthy_across_a_restart(
    app: MiaodaApp, gateway: FakeUpstream, data_dir: Path
) -> None:
    bridge = app.bridge()
    pid = add_gateway(lambda m, *a: getattr(bridge, m)(*a), gateway)
    bridge.checkCustomProviderHealth(pid)
    for _ in range(3):
        chat(app, pid)
    app.close()

    restarted = MiaodaApp(data_dir, secret_backend="file", token="tok")
    try:
        [status] = restarted.bridge().getAllProviderHealthStatuses()["statuses"]
        assert (status["status"], status["basis"], status["errorCode"]) == (
            "unhealthy",
            "chats",
            "UPSTREAM_ERROR",
        )
        assert status["recentChats"]["failuresInARow"] == 3
    finally:
        restarted.close()
