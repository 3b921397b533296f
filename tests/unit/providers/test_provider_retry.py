"""Retries as the official SDKs do them, and only before the first token reached the user."""

from __future__ import annotations

import pytest

from backend.errors import AuthFailed, ConnectionFailed, QuotaExceeded, RateLimited, UpstreamError
from backend.models import ChatEvent
from backend.providers import ProviderService, RetryPolicy
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    drain,
    fake_config,
    openai_chunk,
    openai_stream,
    sse,
    user_request,
)

PATH = "/v1/chat/completions"


def stream_events(
    service: ProviderService, upstream: FakeUpstream, *replies: Reply
) -> list[ChatEvent]:
    upstream.script(PATH, *replies)
    return drain(service.open_stream(fake_config(upstream.url + "/v1"), "sk-test", user_request()))


def rate_limited(seconds: str | None = None, **headers: str) -> Reply:
    if seconds is not None:
        headers["retry-after"] = seconds
    return Reply.json(
        {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}, 429, headers
    )


OK = Reply.stream(openai_stream(["fine"]))


def test_429_is_retried_after_retry_after(
    service: ProviderService, upstream: FakeUpstream, sleeps: list[float]
) -> None:
    events = stream_events(service, upstream, rate_limited("3"), rate_limited("7"), OK)
    assert [e.kind for e in events] == ["retrying", "retrying", "delta", "usage", "done"]
    assert len(upstream.requests) == 3
    assert sleeps == [3.0, 7.0]
    # Each wait is announced first, so the UI can say why nothing arrives yet.
    first, second = events[0].data, events[1].data
    assert first["code"] == "RATE_LIMITED" and first["message"]
    assert (first["retryIn"], first["attempt"], first["attempts"]) == (3.0, 1, 2)
    assert (second["retryIn"], second["attempt"]) == (7.0, 2)


def test_retry_after_ms_is_honoured(
    service: ProviderService, upstream: FakeUpstream, sleeps: list[float]
) -> None:
    stream_events(service, upstream, rate_limited(**{"retry-after-ms": "250"}), OK)
    assert sleeps == [0.25]


def test_at_most_two_retries_then_the_error(
    service: ProviderService, upstream: FakeUpstream, sleeps: list[float]
) -> None:
    events = stream_events(service, upstream, Reply.json({"error": {"message": "boom"}}, 500))
    assert len(upstream.requests) == 3
    assert [e.kind for e in events] == ["retrying", "retrying", "error"]
    assert events[-1].data == {
        "code": UpstreamError.code,
        "message": events[-1].data["message"],
        "httpStatus": 500,
    }
    # Exponential backoff 0.5 s, 1 s, less up to a quarter of jitter.
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(service: ProviderService, upstream: FakeUpstream, status: int) -> None:
    events = stream_events(
        service, upstream, Reply.json({"error": {"message": "try again"}}, status), OK
    )
    assert events[-1].data == {"finishReason": "stop"}
    assert len(upstream.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(
    service: ProviderService, upstream: FakeUpstream, status: int
) -> None:
    events = stream_events(service, upstream, Reply.json({"error": {"message": "no"}}, status), OK)
    assert events[-1].kind == "error"
    assert len(upstream.requests) == 1


def test_quota_exhaustion_is_not_retried_even_on_429(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    quota = Reply.json(
        {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}, 429
    )
    events = stream_events(service, upstream, quota, OK)
    assert events[-1].data["code"] == QuotaExceeded.code
    assert len(upstream.requests) == 1


def test_retry_after_over_60_seconds_is_reported_not_waited(
    service: ProviderService, upstream: FakeUpstream, sleeps: list[float]
) -> None:
    events = stream_events(service, upstream, rate_limited("120"), OK)
    assert events[-1].data["code"] == RateLimited.code
    assert events[-1].data["retryAfter"] == 120
    assert len(upstream.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    "reply", [Reply(drop=True), Reply(drop=True, reset=True), Reply.stream([], close_after=0)]
)
def test_dropped_connection_before_any_output_is_retried(
    service: ProviderService, upstream: FakeUpstream, reply: Reply
) -> None:
    events = stream_events(service, upstream, reply, OK)
    assert events[-1].data == {"finishReason": "stop"}
    assert len(upstream.requests) == 2


def test_error_before_first_token_in_a_200_stream_is_retried(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    failing = Reply.stream(
        [sse({"error": {"message": "Upstream overloaded", "type": "server_error"}})]
    )
    events = stream_events(service, upstream, failing, OK)
    assert "".join(e.data["text"] for e in events if e.kind == "delta") == "fine"
    assert len(upstream.requests) == 2


def test_stream_broken_after_first_token_is_not_retried(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        openai_chunk({"content": "Hel"}),
        openai_chunk({"content": "lo"}),
        openai_chunk({"content": "!"}),
    ]
    events = stream_events(service, upstream, Reply.stream(chunks, close_after=2, reset=True), OK)
    assert [e.kind for e in events] == ["delta", "delta", "error"]
    assert events[-1].data["code"] == ConnectionFailed.code
    assert len(upstream.requests) == 1


def test_error_event_after_first_token_is_not_retried(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        openai_chunk({"content": "Hel"}),
        sse({"error": {"message": "Internal error", "type": "server_error"}}),
    ]
    events = stream_events(service, upstream, Reply.stream(chunks), OK)
    assert [e.kind for e in events] == ["delta", "error"]
    assert len(upstream.requests) == 1


def test_non_streaming_chat_is_retried_too(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    body = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    upstream.script(PATH, rate_limited("1"), Reply.json(body))
    result = service.chat(fake_config(upstream.url + "/v1"), None, user_request())
    assert result["message"]["content"] == "ok"
    assert len(upstream.requests) == 2


def test_auth_failure_raises_without_retry(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.json({"error": {"message": "bad key"}}, 401))
    with pytest.raises(AuthFailed):
        service.chat(fake_config(upstream.url + "/v1"), "wrong", user_request())
    assert len(upstream.requests) == 1


def test_backoff_is_capped_at_eight_seconds() -> None:
    policy = RetryPolicy(max_retries=10, jitter=lambda: 0.0)
    error = UpstreamError(upstream_status=503)
    assert [policy.delay(error, n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert RetryPolicy(jitter=lambda: 1.0).delay(error, 0) == 0.375
