"""The service's connection test, model listing and health check, and its lifecycle."""

from __future__ import annotations

import threading

import pytest

from backend.errors import AuthFailed, RateLimited
from backend.health.rules import grade
from backend.providers import ProviderService
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    drain,
    fake_config,
    openai_chunk,
    openai_stream,
    user_request,
)

PATH = "/v1/chat/completions"


def test_connection_test_is_a_tiny_chat_stopped_at_the_first_token(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    # A long, slow answer: the test must not wait for it.
    upstream.script(
        PATH, Reply.stream([openai_chunk({"content": f"w{i} "}) for i in range(100)], delay=0.2)
    )
    status = service.test_connection(fake_config(upstream.url + "/v1"), "sk-test")
    assert (status.status, status.check_kind, status.http_status, status.model_available) == (
        "healthy",
        "chat",
        200,
        True,
    )
    assert status.response_time is not None and 0 <= status.response_time < 1000
    body = upstream.requests[0].json
    assert body["stream"] is True and body["max_tokens"] == 16
    assert [m["role"] for m in body["messages"]] == ["user"]
    gone = upstream.wait_for_disconnect(1.0)
    assert gone is not None, "the test request kept streaming after its first token"


def test_connection_test_that_ends_without_a_token_is_still_healthy(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream([], finish="length")))
    assert service.test_connection(fake_config(upstream.url + "/v1"), "sk-test").status == "healthy"


def test_connection_test_raises_the_mapped_error(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.json({"error": {"message": "Incorrect API key provided"}}, 401))
    with pytest.raises(AuthFailed, match="Incorrect API key"):
        service.test_connection(fake_config(upstream.url + "/v1"), "wrong")


def test_connection_test_reports_a_long_retry_after_instead_of_waiting(
    service: ProviderService, upstream: FakeUpstream, sleeps: list[float]
) -> None:
    upstream.script(
        PATH, Reply.json({"error": {"message": "slow down"}}, 429, {"retry-after": "30"})
    )
    with pytest.raises(RateLimited) as caught:
        service.test_connection(fake_config(upstream.url + "/v1"), "sk-test")
    assert caught.value.retry_after == 30 and sleeps == []


def models(*ids: str) -> Reply:
    return Reply.json({"data": [{"id": i} for i in ids]})


def test_models_status_healthy_when_the_model_is_listed(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script("/v1/models", models("other", "fake-model"))
    status = service.fetch_models_status(fake_config(upstream.url + "/v1"), "k", timeout=10.0)
    assert (status.status, status.check_kind, status.model_available, status.http_status) == (
        "healthy",
        "models",
        True,
        200,
    )
    assert status.error is None and status.last_checked


def test_a_model_missing_from_the_list_is_reported_and_graded_degraded(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script("/v1/models", models("other"))
    status = service.fetch_models_status(fake_config(upstream.url + "/v1"), "k", timeout=10.0)
    assert (status.model_available, status.error_code, status.http_status) == (
        False,
        "MODEL_NOT_FOUND",
        200,
    )
    assert grade(status, 3000).status == "degraded"


def test_models_status_unhealthy_on_auth_failure_without_retries(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script("/v1/models", Reply.json({"error": {"message": "bad key"}}, 401))
    status = service.fetch_models_status(fake_config(upstream.url + "/v1"), "k", timeout=10.0)
    assert (status.status, status.error_code, status.http_status) == (
        "unhealthy",
        "AUTH_FAILED",
        401,
    )
    assert len(upstream.requests) == 1


def test_a_server_error_is_reported_without_retries_and_graded_unhealthy(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script("/v1/models", Reply.json({"error": {"message": "down"}}, 503))
    status = service.fetch_models_status(fake_config(upstream.url + "/v1"), "k", timeout=10.0)
    assert (status.error_code, status.http_status) == ("UPSTREAM_ERROR", 503)
    assert len(upstream.requests) == 1
    assert grade(status, 3000).status == "unhealthy"


def test_the_provider_layer_reports_facts_and_leaves_grading_to_the_health_rules(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    # One place decides a health state: whatever went wrong, the raw status is "unhealthy"
    # with the error's code, and `grade` alone makes some of them "degraded".
    upstream.script(
        "/v1/models",
        Reply.json({"error": {"message": "slow down"}}, 429),
        Reply.json({"error": {"message": "no route"}}, 404),
    )
    config = fake_config(upstream.url + "/v1")
    limited = service.fetch_models_status(config, "k", timeout=10.0)
    missing = service.fetch_models_status(config, "k", timeout=10.0)
    assert (limited.status, limited.error_code) == ("unhealthy", "RATE_LIMITED")
    assert grade(limited, 3000).status == "degraded"
    assert missing.status == "unhealthy" and grade(missing, 3000).status == "unhealthy"


def test_models_status_times_out(service: ProviderService, upstream: FakeUpstream) -> None:
    upstream.script("/v1/models", Reply(hang_before_headers=5))
    status = service.fetch_models_status(fake_config(upstream.url + "/v1"), "k", timeout=0.3)
    assert (status.status, status.error_code) == ("unhealthy", "TIMEOUT")


def test_ten_streams_at_once(service: ProviderService, upstream: FakeUpstream) -> None:
    upstream.script(PATH, Reply.stream(openai_stream([f"p{i}" for i in range(20)]), delay=0.01))
    streams = [
        service.open_stream(fake_config(upstream.url + "/v1"), None, user_request())
        for _ in range(10)
    ]
    texts = ["".join(e.data["text"] for e in drain(s) if e.kind == "delta") for s in streams]
    assert texts == ["".join(f"p{i}" for i in range(20))] * 10


def test_close_stops_the_loop_thread(upstream: FakeUpstream) -> None:
    service = ProviderService()
    assert any(t.name == "miaoda-providers" for t in threading.enumerate())
    service.close()
    service.close()  # idempotent
    assert not any(t.name == "miaoda-providers" and t.is_alive() for t in threading.enumerate())
