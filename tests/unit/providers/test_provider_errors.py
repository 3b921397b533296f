"""Provider failures map to the contract's codes, with advice and without the key."""

from __future__ import annotations

import json
import socket
import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from backend.errors import (
    AuthFailed,
    BadRequest,
    ConnectionFailed,
    ContextLengthExceeded,
    ModelNotFound,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
)
from backend.providers.errors import from_transport
from backend.providers.wire.errors import Origin, from_payload, from_response, retry_after
from tests.helpers import CANARY_KEY

ORIGIN = Origin.of(
    "https://api.example.com/v1/chat/completions?key=" + CANARY_KEY, "gpt-x", CANARY_KEY
)


def answer(status: int, body: object = b"", **headers: str) -> UpstreamFailure:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    kind = {"content-type": "application/json"} if not isinstance(body, bytes) else {}
    return from_response(status, httpx.Headers({**kind, **headers}), raw, ORIGIN)


def openai_error(
    message: str, type_: str = "invalid_request_error", code: str | None = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": type_, "code": code}}


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_auth_failures(status: int) -> None:
    error = answer(status, openai_error("Invalid key"))
    assert isinstance(error, AuthFailed)
    assert error.upstream_status == status
    assert "Invalid key" in error.message and "check its key" in error.message


def test_404_about_the_model_is_model_not_found() -> None:
    error = answer(404, openai_error("The model `gpt-x` does not exist", code="model_not_found"))
    assert isinstance(error, ModelNotFound)
    assert "gpt-x" in error.message


def test_ollama_style_missing_model_is_model_not_found() -> None:
    assert isinstance(
        answer(404, {"error": "model 'llama9' not found, try pulling it first"}), ModelNotFound
    )


def test_404_without_a_model_message_points_at_the_base_url() -> None:
    error = answer(404, b"Not Found")
    assert isinstance(error, BadRequest)
    assert "https://api.example.com/v1/chat/completions" in error.message
    assert "base URL" in error.message


def test_429_reads_retry_after_seconds() -> None:
    error = answer(429, openai_error("Slow down", "rate_limit_error"), **{"retry-after": "20"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 20
    assert error.to_dict()["retryAfter"] == 20
    assert "Wait 20 seconds" in error.message


def test_429_reads_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    error = answer(429, openai_error("Slow down"), **{"retry-after": when})
    assert error.retry_after is not None and 25 <= error.retry_after <= 31


def test_retry_after_ms_wins_over_retry_after() -> None:
    headers = httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})
    assert retry_after(headers) == 1.5


def test_unparseable_retry_after_is_ignored() -> None:
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None


def test_insufficient_quota_is_quota_even_on_429() -> None:
    body = openai_error(
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
    )
    error = answer(429, body)
    assert isinstance(error, QuotaExceeded)
    assert "billing" in error.message


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "Insufficient Balance"}},
        {
            "error": {
                "message": "Insufficient credits. Add more using https://openrouter.ai/credits"
            }
        },
    ],
)
def test_402_and_credit_messages_are_quota(body: dict[str, object]) -> None:
    assert isinstance(answer(402, body), QuotaExceeded)


@pytest.mark.parametrize(
    "body",
    [
        openai_error(
            "This model's maximum context length is 8192 tokens.", code="context_length_exceeded"
        ),
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 210000 tokens > 200000 maximum",
            },
        },
    ],
)
def test_context_length_messages_are_context_length_exceeded(body: dict[str, object]) -> None:
    error = answer(400, body)
    assert isinstance(error, ContextLengthExceeded)
    assert "new conversation" in error.message


@pytest.mark.parametrize("status", [400, 409, 413, 422])
def test_other_4xx_are_bad_requests(status: int) -> None:
    error = answer(status, {"detail": [{"msg": "Input should be a valid number"}]})
    assert isinstance(error, BadRequest)
    assert "Input should be a valid number" in error.message


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_are_upstream_errors(status: int) -> None:
    error = answer(
        status, b"<html><body>Bad gateway</body></html>", **{"content-type": "text/html"}
    )
    assert isinstance(error, UpstreamError)
    assert "<html>" not in error.message
    assert error.upstream_status == status


def test_anthropic_529_is_an_overloaded_upstream_error() -> None:
    error = answer(
        529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert isinstance(error, UpstreamError)
    assert "overloaded" in error.message


def test_408_is_a_timeout() -> None:
    assert isinstance(answer(408, b""), UpstreamTimeout)


def test_error_object_in_a_200_is_mapped_by_its_type() -> None:
    anthropic = {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many"}}
    assert isinstance(from_payload(anthropic, ORIGIN), RateLimited)
    google = [
        {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    ]
    assert from_payload(google, ORIGIN).upstream_status == 429
    unknown = {"error": {"message": "Something odd"}}
    assert isinstance(from_payload(unknown, ORIGIN), UpstreamError)


def test_the_key_and_bearer_tokens_never_reach_the_message() -> None:
    said = (
        f"Incorrect API key provided: {CANARY_KEY}. Header was Bearer {CANARY_KEY[:12]}abc. "
        "Also sk-abc***********9f2c"
    )
    error = answer(401, openai_error(said))
    assert CANARY_KEY not in error.message
    assert CANARY_KEY[:12] not in error.message
    assert "sk-abc***" not in error.message
    assert "[redacted]" in error.message


def test_long_provider_messages_are_shortened() -> None:
    error = answer(400, openai_error("x" * 5000))
    assert len(error.message) < 400
    assert "…" in error.message


def test_messages_name_the_url_without_its_query() -> None:
    error = from_transport(httpx.ConnectError("boom"), ORIGIN)
    assert "key=" not in error.message and CANARY_KEY not in error.message


def _chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


def test_dns_failure_is_connection_failed() -> None:
    exc = _chained(
        httpx.ConnectError("[Errno -2] Name or service not known"),
        socket.gaierror(-2, "Name or service not known"),
    )
    error = from_transport(exc, ORIGIN)  # type: ignore[arg-type]
    assert isinstance(error, ConnectionFailed)
    assert "could not be found" in error.message


def test_tls_failure_is_connection_failed() -> None:
    exc = _chained(
        httpx.ConnectError("certificate verify failed"),
        ssl.SSLCertVerificationError("certificate verify failed"),
    )
    error = from_transport(exc, ORIGIN)  # type: ignore[arg-type]
    assert isinstance(error, ConnectionFailed)
    assert "secure connection" in error.message


def test_refused_connection_against_a_closed_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        httpx.get(f"http://127.0.0.1:{port}/")
    except httpx.ConnectError as exc:
        error = from_transport(exc, Origin.of(f"http://127.0.0.1:{port}/v1", "m", None))
    assert isinstance(error, ConnectionFailed)
    assert "refused" in error.message


@pytest.mark.parametrize(
    "exc", [httpx.ConnectTimeout("t"), httpx.ReadTimeout("t"), httpx.PoolTimeout("t")]
)
def test_timeouts_are_timeouts(exc: httpx.TimeoutException) -> None:
    assert isinstance(from_transport(exc, ORIGIN), UpstreamTimeout)


def test_a_broken_stream_is_connection_failed() -> None:
    error = from_transport(
        httpx.RemoteProtocolError("peer closed connection"), ORIGIN, mid_stream=True
    )
    assert isinstance(error, ConnectionFailed)
    assert "broke off" in error.message
