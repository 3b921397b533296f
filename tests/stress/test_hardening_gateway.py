"""Hardening found against a real LiteLLM gateway: how long a rate limit asks us to wait, and
advice that points the right way (docs/API.md, "Error codes" and "Retries").

Waits are recorded (`SleepRecorder`), never slept: a test that waits out a 60 s `Retry-After`
finishes in milliseconds and still shows what the retry policy asked for.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from backend.errors import (
    AuthFailed,
    BadRequest,
    ContextLengthExceeded,
    RateLimited,
    UpstreamFailure,
)
from backend.providers import ProviderService, RetryPolicy
from backend.providers.wire.errors import Origin, from_response, retry_after
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    SleepRecorder,
    drain,
    fake_config,
    openai_stream,
    user_request,
)
from tests.helpers import CANARY_KEY
from tests.stress.helpers import (
    CHAT_PATH,
    TIMEOUTS,
    TOKEN,
    add_provider,
    assert_well_formed,
    stream_chat,
)

OK = Reply.stream(openai_stream(["fine"]))
WAIT_60 = {"llm_provider-retry-after": "60"}  # how LiteLLM forwards a provider's Retry-After
WAIT_20 = {"retry-after": "20"}
ORIGIN = Origin.of("https://gateway.example/v1/chat/completions", "gpt-4o", CANARY_KEY)
# What LiteLLM's own limiter answers (the upstream's headers come prefixed `llm_provider-`).
LITELLM_LIMIT = (
    "LiteLLM Rate Limit Handler for rate limit type = key. Crossed TPM / RPM / Max parallel "
    "request limit. current rpm: 3, rpm limit: 2"
)


@pytest.fixture
def retry_sleep(sleeps: SleepRecorder) -> SleepRecorder:
    """`service` records its retry waits in `sleeps` instead of sleeping them."""
    return sleeps


@pytest.fixture
def gateway_app(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, sleeps: SleepRecorder
) -> Iterator[MiaodaApp]:
    """The real app with the default retry policy, its waits recorded in `sleeps`."""
    service = functools.partial(ProviderService, timeouts=TIMEOUTS, sleep=sleeps)
    monkeypatch.setattr("backend.app.ProviderService", service)
    instance = MiaodaApp(data_dir, secret_backend="file", token=TOKEN, chat_heartbeat=0.3)
    instance.start_server(0)
    yield instance
    instance.close()


def error_reply(status: int, message: str, kind: str = "", **headers: str) -> Reply:
    body: dict[str, Any] = {"message": message, "type": kind or None, "param": None}
    return Reply.json({"error": body}, status, headers)


def limited(headers: dict[str, str] | None = None) -> Reply:
    """A 429 from LiteLLM's limiter with these headers."""
    return error_reply(429, LITELLM_LIMIT, "throttling_error", **(headers or {}))


def mapped(status: int, message: str, kind: str = "", **headers: str) -> UpstreamFailure:
    body = error_reply(status, message, kind).body
    return from_response(status, httpx.Headers(headers), body, ORIGIN)


def stream_error(service: ProviderService, upstream: FakeUpstream, *replies: Reply) -> Any:
    """The terminal event's data of one streamed chat against `replies`."""
    upstream.script(CHAT_PATH, *replies)
    events = drain(
        service.open_stream(fake_config(upstream.url + "/v1"), "sk-test", user_request())
    )
    return events[-1].kind, events[-1].data


# --- 1. LiteLLM's `llm_provider-retry-after` --------------------------------------------------


def test_llm_provider_retry_after_is_read_like_retry_after() -> None:
    error = mapped(429, LITELLM_LIMIT, **{"llm_provider-retry-after": "60"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 60
    assert error.to_dict()["retryAfter"] == 60
    assert "60 seconds" in error.message and "a moment" not in error.message


def test_llm_provider_retry_after_ms_is_read_like_retry_after_ms() -> None:
    assert retry_after(httpx.Headers({"llm_provider-retry-after-ms": "1500"})) == 1.5
    both = {"llm_provider-retry-after-ms": "1500", "llm_provider-retry-after": "9"}
    assert retry_after(httpx.Headers(both)) == 1.5


def test_the_gateways_own_retry_after_wins_over_the_forwarded_one() -> None:
    headers = {"retry-after": "3", "llm_provider-retry-after": "60"}
    assert retry_after(httpx.Headers(headers)) == 3


@pytest.mark.parametrize("name", ["retry-after", "llm_provider-retry-after", "retry-after-ms"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_a_wait_that_is_not_a_number_is_ignored(name: str, value: str) -> None:
    # An infinite wait would reach the client as `"retryAfter": Infinity`, which is not JSON.
    assert retry_after(httpx.Headers({name: value})) is None


def test_a_litellm_limit_is_waited_out_before_each_retry(
    service: ProviderService, upstream: FakeUpstream, sleeps: SleepRecorder
) -> None:
    kind, data = stream_error(service, upstream, limited(WAIT_60), limited(WAIT_60), OK)
    assert (kind, data) == ("done", {"finishReason": "stop"})
    assert sleeps == [60.0, 60.0]
    assert len(upstream.requests) == 3


def test_a_litellm_limit_longer_than_the_policy_allows_is_reported_not_retried(
    upstream: FakeUpstream, sleeps: SleepRecorder
) -> None:
    service = ProviderService(sleep=sleeps, retry=RetryPolicy(max_retry_after=30.0))
    try:
        kind, data = stream_error(service, upstream, limited(WAIT_60), OK)
    finally:
        service.close()
    assert kind == "error" and data["code"] == RateLimited.code
    assert data["retryAfter"] == 60
    assert sleeps == [] and len(upstream.requests) == 1


def test_the_connection_test_reports_a_litellm_limit_with_its_wait(
    service: ProviderService, upstream: FakeUpstream, sleeps: SleepRecorder
) -> None:
    upstream.script(CHAT_PATH, limited(WAIT_60), OK)
    with pytest.raises(RateLimited) as caught:
        service.test_connection(fake_config(upstream.url + "/v1"), "sk-test")
    assert caught.value.retry_after == 60
    assert sleeps == [] and len(upstream.requests) == 1


def test_a_litellm_limit_through_the_chat_stream(
    gateway_app: MiaodaApp, upstream: FakeUpstream, sleeps: SleepRecorder
) -> None:
    upstream.script(CHAT_PATH, limited(WAIT_60))
    provider = add_provider(gateway_app, upstream.url + "/v1")
    assert gateway_app.server_url is not None
    _, events, _ = stream_chat(gateway_app.server_url, provider)
    assert_well_formed(events)
    error = dict(events)["error"]
    assert error["code"] == RateLimited.code and error["retryAfter"] == 60
    assert sleeps == [60.0, 60.0] and len(upstream.requests) == 3


# --- 2. The best known wait survives a retry answered without one ----------------------------


def test_the_last_known_wait_is_kept_when_the_last_429_has_none(
    service: ProviderService, upstream: FakeUpstream, sleeps: SleepRecorder
) -> None:
    kind, data = stream_error(service, upstream, limited(WAIT_20), limited(), limited())
    assert kind == "error" and data["code"] == RateLimited.code
    assert data["retryAfter"] == 20
    assert "20 seconds" in data["message"] and "a moment" not in data["message"]
    assert sleeps[0] == 20.0 and len(sleeps) == 2 and len(upstream.requests) == 3


def test_the_most_recent_known_wait_is_the_one_kept(
    service: ProviderService, upstream: FakeUpstream, sleeps: SleepRecorder
) -> None:
    kind, data = stream_error(
        service, upstream, limited(WAIT_20), limited({"retry-after": "7"}), limited()
    )
    assert kind == "error" and data["retryAfter"] == 7
    assert "7 seconds" in data["message"]
    assert sleeps == [20.0, 7.0]


def test_no_wait_is_invented_when_none_was_ever_given(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    kind, data = stream_error(service, upstream, limited())
    assert kind == "error" and data["code"] == RateLimited.code
    assert "retryAfter" not in data and "a moment" in data["message"]


def test_the_kept_wait_reaches_the_chat_streams_error_event(
    gateway_app: MiaodaApp, upstream: FakeUpstream, sleeps: SleepRecorder
) -> None:
    upstream.script(CHAT_PATH, limited(WAIT_20), limited(), limited())
    provider = add_provider(gateway_app, upstream.url + "/v1")
    assert gateway_app.server_url is not None
    _, events, _ = stream_chat(gateway_app.server_url, provider)
    assert_well_formed(events)
    error = dict(events)["error"]
    assert error["code"] == RateLimited.code and error["retryAfter"] == 20
    assert "20 seconds" in error["message"]
    assert error["httpStatus"] == 429


# --- 3. Advice that fits: key problems in a 400, and the connection test ---------------------


@pytest.mark.parametrize(
    "message",
    [
        "invalid api key",
        "Incorrect API key provided: sk-abc***xyz. You can find your API key at https://x.y.",
        "Invalid API Key",
        "API key not valid. Please pass a valid API key.",
        "API key expired. Please renew the API key.",
    ],
)
def test_a_400_about_the_key_is_an_auth_failure(message: str) -> None:
    error = mapped(400, message)
    assert isinstance(error, AuthFailed), error.message
    assert "key" in error.message and "parameters" not in error.message
    assert error.upstream_status == 400


def test_litellm_no_connected_db_is_an_auth_failure_about_the_gateways_key() -> None:
    error = mapped(400, "No connected db.", "no_db_connection")
    assert isinstance(error, AuthFailed)
    assert "master key" in error.message and "gateway" in error.message
    assert "No connected db." in error.message


@pytest.mark.parametrize(
    "message",
    [
        "Invalid value for 'temperature': must be between 0 and 2.",
        "'messages' must contain the word 'json' in some form",
        "Unknown key 'colour' in tools[0].function.",
    ],
)
def test_other_400s_stay_bad_requests(message: str) -> None:
    assert isinstance(mapped(400, message), BadRequest)


def test_a_key_rejected_with_400_is_not_retried_or_repaired(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(CHAT_PATH, error_reply(400, "Incorrect API key provided: sk-***"), OK)
    with pytest.raises(AuthFailed):
        service.chat(fake_config(upstream.url + "/v1"), "sk-test", user_request())
    assert len(upstream.requests) == 1


CONTEXT = error_reply(
    400,
    "This model's maximum context length is 512 tokens. However, your messages resulted in "
    "900 tokens. Please reduce the length of the messages.",
    "invalid_request_error",
)


def test_the_connection_test_advises_the_providers_settings_on_context_length(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(CHAT_PATH, CONTEXT)
    with pytest.raises(ContextLengthExceeded) as caught:
        service.test_connection(fake_config(upstream.url + "/v1"), "sk-test")
    message = caught.value.message
    assert "conversation" not in message.lower(), message
    assert "context window" in message and "max tokens" in message
    assert "maximum context length is 512" in message  # the provider's words still quoted


def test_a_chat_still_advises_a_shorter_conversation_on_context_length(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    kind, data = stream_error(service, upstream, CONTEXT)
    assert kind == "error" and data["code"] == ContextLengthExceeded.code
    assert "new conversation" in data["message"]


def test_a_chat_health_check_advises_the_providers_settings_on_context_length(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(CHAT_PATH, CONTEXT)
    status = service.fetch_chat_status(fake_config(upstream.url + "/v1"), "sk-test", timeout=5.0)
    assert status.error_code == ContextLengthExceeded.code
    assert status.error is not None and "conversation" not in status.error.lower()
    assert "context window" in status.error
