"""The API key never appears in an event, an error message or a log line (canary)."""

from __future__ import annotations

import pytest

from backend.errors import MiaodaError
from backend.models import AuthConfig
from backend.providers import ProviderService
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    drain,
    fake_config,
    openai_stream,
    user_request,
)
from tests.helpers import CANARY_KEY
from tests.relay import RelayRun

PATH = "/v1/chat/completions"
ECHOING_401 = Reply.json(
    {
        "error": {
            "message": f"Incorrect API key provided: {CANARY_KEY}. Bearer {CANARY_KEY}",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    },
    401,
)
SCHEMES = [AuthConfig("bearer"), AuthConfig("header", "x-goog-api-key"), AuthConfig("query", "key")]


def assert_no_canary(logs: pytest.LogCaptureFixture, *texts: object) -> None:
    assert logs.records, "nothing was logged: the canary check would prove nothing"
    for record in logs.records:
        assert CANARY_KEY not in record.getMessage(), record.name
    for text in texts:
        assert CANARY_KEY not in str(text)


@pytest.mark.parametrize("auth", SCHEMES, ids=lambda a: a.scheme)
def test_key_is_sent_but_never_leaks_from_a_good_stream(
    upstream: FakeUpstream, logs: pytest.LogCaptureFixture, auth: AuthConfig
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["hello"])))
    service = ProviderService()
    try:
        stream = service.open_stream(
            fake_config(upstream.url + "/v1", auth=auth), CANARY_KEY, user_request()
        )
        body = b"".join(RelayRun(service, stream).wait())
    finally:
        service.close()
    seen = upstream.requests[0]
    assert CANARY_KEY in str(seen.headers) + str(seen.query)  # it did reach the provider
    assert_no_canary(logs, body)


@pytest.mark.parametrize("auth", SCHEMES, ids=lambda a: a.scheme)
def test_key_echoed_by_the_provider_is_redacted_everywhere(
    upstream: FakeUpstream, logs: pytest.LogCaptureFixture, auth: AuthConfig
) -> None:
    upstream.script(PATH, ECHOING_401)
    upstream.script("/v1/models", ECHOING_401)
    service = ProviderService()
    config = fake_config(upstream.url + "/v1", auth=auth)
    try:
        events = drain(service.open_stream(config, CANARY_KEY, user_request()))
        with pytest.raises(MiaodaError) as chat_error:
            service.chat(config, CANARY_KEY, user_request())
        with pytest.raises(MiaodaError) as test_error:
            service.test_connection(config, CANARY_KEY)
        status = service.fetch_models_status(config, CANARY_KEY, timeout=2.0)
    finally:
        service.close()
    assert events[-1].data["code"] == "AUTH_FAILED"
    for error in (chat_error.value, test_error.value):
        assert error.code == "AUTH_FAILED"
    assert_no_canary(
        logs, events, chat_error.value, repr(chat_error.value), test_error.value, status.to_wire()
    )


def test_key_never_leaks_from_connection_failures(logs: pytest.LogCaptureFixture) -> None:
    service = ProviderService(sleep=_no_wait)
    config = fake_config("http://127.0.0.1:9/v1", auth=AuthConfig("query", "key"))
    try:
        events = drain(service.open_stream(config, CANARY_KEY, user_request()))
    finally:
        service.close()
    assert events[-1].data["code"] == "CONNECTION_FAILED"
    assert_no_canary(logs, events)


async def _no_wait(seconds: float) -> None:
    pass
