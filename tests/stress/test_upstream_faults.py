"""Upstream faults through the real app's POST /api/chat/stream, one test per case.

Each case checks the error code (docs/API.md, "Error codes") in the `error` event (or a clean
`stop` where the fault is harmless), `start` first and `done` last exactly once, a wall time
bounded by the configured timeouts, and — for faults after the first token — that the request
was not retried.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    anthropic_event,
    anthropic_stream,
    openai_chunk,
    openai_stream,
    sse,
)
from tests.helpers import CANARY_KEY
from tests.stress.helpers import (
    CHAT_PATH,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    TOKEN,
    add_provider,
    assert_well_formed,
    stream_chat,
)

# Work on top of the timeouts: the app's own overhead and a slow CI machine.
SLACK = 4.0
PIECES = ["alpha ", "beta ", "gamma"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Case:
    """One fault: how to reach/script the upstream, and what the client must see."""

    reply: Callable[[], Reply] | None = None  # None: the base URL itself is the fault
    base_url: Callable[[FakeUpstream], str] = lambda up: up.url + "/v1"
    code: str | None = None  # None: a successful `stop`
    text: str | None = None  # the exact relayed text, when it must be checked
    max_requests: int | None = None  # the request count the fake must see at most
    exact_requests: int | None = None
    bound: float = READ_TIMEOUT + SLACK  # wall-time limit in seconds
    retry_after: tuple[float, float] | None = None  # accepted range of retryAfter
    http_status: int | None = None
    type: str = "openai-compatible"

    @property
    def path(self) -> str:
        return CHAT_PATH if self.type == "openai-compatible" else ANTHROPIC_PATH


ANTHROPIC_PATH = "/v1/messages"


def gzip_stream() -> Reply:
    body = gzip.compress(b"".join(openai_stream(PIECES)))
    chunks = [body[i : i + 64] for i in range(0, len(body), 64)]
    return Reply.stream(chunks, headers={"content-encoding": "gzip"})


def huge_event() -> Reply:
    return Reply.stream(openai_stream(["start ", "x" * 2_000_000, " end"]))


def http_date_in(seconds: int) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


def error_json(status: int, message: str = "server trouble", **headers: str) -> Reply:
    return Reply.json({"error": {"message": message, "type": "server_error"}}, status, headers)


CASES: dict[str, Case] = {
    "refused": Case(
        base_url=lambda up: f"http://127.0.0.1:{closed_port()}/v1",
        code="CONNECTION_FAILED",
        bound=CONNECT_TIMEOUT + SLACK,
    ),
    "dns-failure": Case(
        base_url=lambda up: "http://no-such-host.invalid/v1",
        code="CONNECTION_FAILED",
        bound=CONNECT_TIMEOUT * 3 + SLACK,
    ),
    "tls-failure": Case(
        reply=lambda: Reply.stream(openai_stream(PIECES)),
        base_url=lambda up: up.url.replace("http://", "https://") + "/v1",
        code="CONNECTION_FAILED",
        bound=CONNECT_TIMEOUT + SLACK,
    ),
    "slow-first-byte-within-timeout": Case(
        reply=lambda: Reply.stream(openai_stream(PIECES), hang_before_headers=READ_TIMEOUT / 2),
        text="".join(PIECES),
        exact_requests=1,
    ),
    "first-byte-never-comes": Case(
        reply=lambda: Reply.stream(openai_stream(PIECES), hang_before_headers=30),
        code="TIMEOUT",
        # A timeout before any output may be retried (twice): allow three read timeouts.
        bound=3 * READ_TIMEOUT + SLACK,
        max_requests=3,
    ),
    "stall-mid-stream": Case(
        reply=lambda: Reply.stream(openai_stream(PIECES), hang_after=3, hang_for=30),
        code="TIMEOUT",
        exact_requests=1,
    ),
    "reset-mid-stream": Case(
        reply=lambda: Reply.stream(openai_stream(PIECES), close_after=3, reset=True),
        code="CONNECTION_FAILED",
        exact_requests=1,
    ),
    "truncated-chunked-body": Case(
        reply=lambda: Reply.stream(openai_stream(PIECES), close_after=3),
        code="CONNECTION_FAILED",
        exact_requests=1,
    ),
    "malformed-sse": Case(
        reply=lambda: Reply.stream(
            [
                openai_chunk({"content": "ok "}),
                b"\x00\xff\xfe garbage without a field\n\n",
                b"retry: banana\nid\x00: 7\n\n",
                b"data: [DONE]\n\n",
            ]
        ),
        # The SSE spec ignores lines it cannot parse: the stream still ends cleanly.
        text="ok ",
        exact_requests=1,
    ),
    "event-stream-with-no-events": Case(
        reply=lambda: Reply.stream([b"this is not\n", b"an event stream at all\n\n"]),
        code="INVALID_RESPONSE",
    ),
    "invalid-json-in-a-chunk": Case(
        reply=lambda: Reply.stream(
            [
                openai_chunk({"content": "ok "}),
                b'data: {"choices": [{"delta": {"content": \n\n',
                *openai_stream(["more"])[1:],
            ]
        ),
        code="INVALID_RESPONSE",
        exact_requests=1,
    ),
    "200-with-error-event": Case(
        reply=lambda: Reply.stream(
            [sse({"error": {"message": "The server had an error", "type": "server_error"}})]
        ),
        code="UPSTREAM_ERROR",
    ),
    "200-with-json-error-body": Case(
        reply=lambda: Reply.json({"error": {"message": "model overloaded", "code": 503}}),
        code="UPSTREAM_ERROR",
    ),
    "429-retry-after-seconds": Case(
        reply=lambda: error_json(429, "Rate limit reached", **{"retry-after": "120"}),
        code="RATE_LIMITED",
        retry_after=(119, 121),
        exact_requests=1,
        http_status=429,
    ),
    "429-retry-after-http-date": Case(
        reply=lambda: error_json(429, "Rate limit reached", **{"retry-after": http_date_in(180)}),
        code="RATE_LIMITED",
        retry_after=(170, 182),
        exact_requests=1,
        http_status=429,
    ),
    "429-retry-after-ms": Case(
        reply=lambda: error_json(429, "Rate limit reached", **{"retry-after-ms": "90000"}),
        code="RATE_LIMITED",
        retry_after=(89, 91),
        exact_requests=1,
        http_status=429,
    ),
    "500": Case(reply=lambda: error_json(500), code="UPSTREAM_ERROR", max_requests=3),
    "502": Case(reply=lambda: error_json(502), code="UPSTREAM_ERROR", max_requests=3),
    "503": Case(reply=lambda: error_json(503), code="UPSTREAM_ERROR", max_requests=3),
    "529-overloaded": Case(
        reply=lambda: error_json(529, "Overloaded"), code="UPSTREAM_ERROR", max_requests=3
    ),
    "huge-single-event-2mb": Case(
        reply=huge_event, text="start " + "x" * 2_000_000 + " end", exact_requests=1
    ),
    "gzip-encoded-stream": Case(reply=gzip_stream, text="".join(PIECES), exact_requests=1),
    "anthropic-overloaded-error-event": Case(
        reply=lambda: Reply.stream(
            [
                *anthropic_stream(PIECES)[:4],
                anthropic_event(
                    {"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}}
                ),
            ]
        ),
        code="UPSTREAM_ERROR",
        exact_requests=1,
        type="anthropic-compatible",
    ),
    "anthropic-529": Case(
        reply=lambda: Reply.json(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529
        ),
        code="UPSTREAM_ERROR",
        max_requests=3,
        type="anthropic-compatible",
    ),
    "anthropic-stall-mid-stream": Case(
        reply=lambda: Reply.stream(anthropic_stream(PIECES), hang_after=4, hang_for=30),
        code="TIMEOUT",
        exact_requests=1,
        type="anthropic-compatible",
    ),
    "anthropic-429-retry-after": Case(
        reply=lambda: Reply.json(
            {"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"}},
            429,
            {"retry-after": "75"},
        ),
        code="RATE_LIMITED",
        retry_after=(74, 76),
        exact_requests=1,
        http_status=429,
        type="anthropic-compatible",
    ),
    "wrong-content-type-html": Case(
        reply=lambda: Reply(
            200, {"content-type": "text/html"}, b"<html><body>Login to the portal</body></html>"
        ),
        code="INVALID_RESPONSE",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_upstream_fault(app: MiaodaApp, upstream: FakeUpstream, name: str) -> None:
    case = CASES[name]
    if case.reply is not None:
        upstream.script(case.path, case.reply())
    provider = add_provider(app, case.base_url(upstream), type=case.type)
    assert app.server_url is not None

    raw, events, elapsed = stream_chat(app.server_url, provider, timeout=case.bound + 10)

    assert_well_formed(events)
    assert elapsed < case.bound, f"{name} took {elapsed:.1f} s (limit {case.bound} s)"
    assert CANARY_KEY not in raw
    errors = [data for kind, data in events if kind == "error"]
    if case.code is None:
        assert not errors, errors
        assert events[-1][1]["finishReason"] == "stop"
    else:
        assert [e["code"] for e in errors] == [case.code], errors
        assert isinstance(errors[0]["message"], str) and errors[0]["message"].strip()
        assert "Traceback" not in errors[0]["message"]
    if case.text is not None:
        assert "".join(d["text"] for kind, d in events if kind == "delta") == case.text
    if case.retry_after is not None:
        low, high = case.retry_after
        assert low <= errors[0].get("retryAfter", -1) <= high, errors[0]
    if case.http_status is not None:
        assert errors[0].get("httpStatus") == case.http_status, errors[0]
    sent = len(upstream.requests_to(case.path))
    if case.exact_requests is not None:
        assert sent == case.exact_requests, f"{sent} requests"
    if case.max_requests is not None:
        assert 1 <= sent <= case.max_requests, f"{sent} requests"


def test_a_faulty_stream_disturbs_neither_other_streams_nor_health_checks(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    """A stall on one provider while another streams: the healthy stream finishes intact."""
    import threading

    upstream.script("/bad/chat/completions", Reply.stream(openai_stream(PIECES), hang_after=2))
    pieces = [f"p{i} " for i in range(200)]
    upstream.script("/good/chat/completions", Reply.stream(openai_stream(pieces), delay=0.002))
    upstream.script("/good/models", Reply.json({"data": [{"id": "fake-model"}]}))
    bad = add_provider(app, upstream.url + "/bad", name="bad")
    good = add_provider(app, upstream.url + "/good", name="good")
    assert app.server_url is not None
    results: dict[str, Any] = {}

    def run(key: str, provider: str) -> None:
        results[key] = stream_chat(str(app.server_url), provider)

    threads = [threading.Thread(target=run, args=(k, p)) for k, p in (("bad", bad), ("good", good))]
    for thread in threads:
        thread.start()
    # While the bad stream stalls, a health check of the good provider answers promptly.
    assert upstream.wait_for_requests(2, 5)
    checked_at = time.monotonic()
    health = app.bridge().checkCustomProviderHealth(good)
    assert time.monotonic() - checked_at < READ_TIMEOUT, "the health check waited on the stall"
    assert health["success"] and health["status"]["status"] == "healthy", health
    for thread in threads:
        thread.join(30)
    _, good_events, _ = results["good"]
    _, bad_events, _ = results["bad"]
    assert_well_formed(good_events)
    assert_well_formed(bad_events)
    assert "".join(d["text"] for k, d in good_events if k == "delta") == "".join(pieces)
    assert good_events[-1][1]["finishReason"] == "stop"
    assert [d["code"] for k, d in bad_events if k == "error"] == ["TIMEOUT"]


def openai_completion(text: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


# The non-streaming endpoint: name -> (reply or None for a closed port, expected code or None).
ONE_SHOT: dict[str, tuple[Callable[[], Reply] | None, str | None]] = {
    "success": (lambda: Reply.json(openai_completion("fine")), None),
    "gzip-body": (
        lambda: Reply(
            200,
            {"content-type": "application/json", "content-encoding": "gzip"},
            gzip.compress(json.dumps(openai_completion("fine")).encode()),
        ),
        None,
    ),
    "refused": (None, "CONNECTION_FAILED"),
    "no-answer": (lambda: _hanging(), "TIMEOUT"),
    "invalid-json-body": (
        lambda: Reply(200, {"content-type": "application/json"}, b'{"choices": [}'),
        "INVALID_RESPONSE",
    ),
    "html-body": (
        lambda: Reply(200, {"content-type": "text/html"}, b"<html>portal</html>"),
        "INVALID_RESPONSE",
    ),
    "200-error-body": (
        lambda: Reply.json({"error": {"message": "internal", "type": "server_error"}}),
        "UPSTREAM_ERROR",
    ),
    "429": (lambda: error_json(429, "slow down", **{"retry-after": "90"}), "RATE_LIMITED"),
    "503": (lambda: error_json(503), "UPSTREAM_ERROR"),
    "dropped-connection": (lambda: Reply(drop=True), "CONNECTION_FAILED"),
}


def _hanging() -> Reply:
    reply = Reply.json(openai_completion("late"))
    reply.hang_before_headers = 30
    return reply


@pytest.mark.parametrize("name", list(ONE_SHOT))
def test_one_shot_chat_fault(app: MiaodaApp, upstream: FakeUpstream, name: str) -> None:
    make, code = ONE_SHOT[name]
    if make is None:
        provider = add_provider(app, f"http://127.0.0.1:{closed_port()}/v1")
    else:
        upstream.script(CHAT_PATH, make())
        provider = add_provider(app, upstream.url + "/v1")
    started = time.monotonic()
    response = httpx.post(
        f"{app.server_url}/api/chat",
        json={"providerId": provider, "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Content-Type": "application/json", "X-MiaoDa-Token": TOKEN},
        timeout=30,
    )
    elapsed = time.monotonic() - started
    # A timeout before any answer may be retried twice.
    assert elapsed < 3 * READ_TIMEOUT + SLACK, f"{name} took {elapsed:.1f} s"
    result = response.json()
    assert CANARY_KEY not in response.text
    if code is None:
        assert result["success"] and result["message"]["content"] == "fine", result
    else:
        assert result["success"] is False and result["error"]["code"] == code, result
        assert result["error"]["message"].strip()
