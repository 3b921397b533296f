"""Chat through the real app and its HTTP server: /api/chat/stream and /api/chat, against a
fake upstream."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.helpers import CANARY_KEY

PATH = "/v1/chat/completions"


@pytest.fixture
def app(data_dir: Path) -> Iterator[MiaodaApp]:
    """The real app with the default provider timeouts and retries (unlike the stress suite's
    `app`), serving on an OS-chosen loopback port with the token "tok"."""
    instance = MiaodaApp(data_dir, secret_backend="file", token="tok", chat_heartbeat=0.3)
    instance.start_server(0)
    yield instance
    instance.close()


def add_provider(app: MiaodaApp, base_url: str, **fields: Any) -> str:
    """Save an OpenAI-compatible provider for `base_url` (untested) and return its id."""
    config = {
        "name": "fake",
        "displayName": "Fake",
        "baseURL": base_url,
        "model": "fake-model",
        "type": "openai-compatible",
        **fields,
    }
    result = app.bridge().addCustomProvider(config, {"validate": False})
    assert result["success"], result
    return str(result["id"])


@pytest.fixture
def provider_id(app: MiaodaApp, upstream: FakeUpstream) -> str:
    """The id of a provider (canary key, no check) on the fake upstream's /v1, in `app`."""
    return add_provider(app, upstream.url + "/v1", apiKey=CANARY_KEY)


def body(provider_id: str, text: str = "Hello") -> dict[str, Any]:
    return {"providerId": provider_id, "messages": [{"role": "user", "content": text}]}


def headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "X-MiaoDa-Token": "tok"}


def parse_events(raw: str) -> list[tuple[str, Any]]:
    events = []
    for block in raw.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        kind = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads(next(line[6:] for line in lines if line.startswith("data: ")))
        events.append((kind, data))
    return events


def test_a_stream_relays_every_event_in_contract_order(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    pieces = ["Hel", "lo, ", "wörld ", "😀", "!"]
    upstream.script(PATH, Reply.stream(openai_stream(pieces)))
    response = httpx.post(
        f"{app.server_url}/api/chat/stream", json=body(provider_id), headers=headers(), timeout=10
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("start") == 1 and kinds.count("done") == 1
    assert "".join(d["text"] for k, d in events if k == "delta") == "".join(pieces)
    assert events[-1][1]["finishReason"] == "stop"
    assert ("usage", {"inputTokens": 12, "outputTokens": 40, "source": "reported"}) in events
    assert CANARY_KEY not in response.text
    sent = upstream.requests_to(PATH)[0]
    assert sent.headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_each_request_is_recorded_for_analytics(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    httpx.post(f"{app.server_url}/api/chat/stream", json=body(provider_id), headers=headers())
    deadline = time.monotonic() + 5
    while not app.storage.chat_stats(provider_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = app.storage.chat_stats(provider_id)
    assert record["finish_reason"] == "stop"
    assert record["output_tokens"] == 40 and record["ttft_ms"] is not None


def test_text_is_relayed_as_it_arrives(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["first", "second"]), delay=0.8))
    first_at = None
    seen = ""
    with httpx.stream(
        "POST", f"{app.server_url}/api/chat/stream", json=body(provider_id), headers=headers()
    ) as response:
        for chunk in response.iter_text():
            seen += chunk
            if first_at is None and '"first"' in seen:
                first_at = time.monotonic()
        ended_at = time.monotonic()
    # Four more chunks follow "first" at 0.8 s intervals: buffering would deliver it at the end.
    assert first_at is not None and ended_at - first_at > 2.0


@pytest.mark.parametrize("moment", ["mid-stream", "before the first byte"])
def test_a_client_that_disconnects_closes_the_upstream_within_a_second(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str, moment: str
) -> None:
    if moment == "mid-stream":
        reply = Reply.stream(openai_stream(["a"] * 50), delay=0.2)
    else:
        reply = Reply.stream(openai_stream(["a"]), hang_before_headers=30)
    upstream.script(PATH, reply)
    with httpx.stream(
        "POST", f"{app.server_url}/api/chat/stream", json=body(provider_id), headers=headers()
    ) as response:
        # Keep the iterator: dropping it closes the connection at once (httpx closes a
        # response whose byte stream is abandoned), and the app would then cancel the
        # upstream request before it was even sent.
        chunks = response.iter_text()
        for chunk in chunks:
            if ("delta" if moment == "mid-stream" else "start") in chunk:
                break
        assert upstream.wait_for_requests(1, 5)
        left_at = time.monotonic()
    gone = upstream.wait_for_disconnect(3)
    assert gone is not None and gone.closed_at is not None
    assert gone.closed_at - left_at < 1.0


def test_heartbeat_comments_flow_while_waiting_for_the_first_byte(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["late"]), hang_before_headers=1.2))
    response = httpx.post(
        f"{app.server_url}/api/chat/stream", json=body(provider_id), headers=headers(), timeout=10
    )
    assert ": ping" in response.text
    assert parse_events(response.text)[-1][1]["finishReason"] == "stop"


def test_an_upstream_error_comes_as_error_then_done(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(
        PATH,
        Reply.json({"error": {"message": "Incorrect API key provided"}}, status=401),
    )
    response = httpx.post(
        f"{app.server_url}/api/chat/stream", json=body(provider_id), headers=headers()
    )
    events = parse_events(response.text)
    assert [k for k, _ in events][-2:] == ["error", "done"]
    assert events[-2][1]["code"] == "AUTH_FAILED" and events[-2][1]["httpStatus"] == 401
    assert events[-1][1]["finishReason"] == "error"
    assert CANARY_KEY not in response.text


def test_a_bad_body_or_unknown_provider_is_an_http_error_envelope(
    app: MiaodaApp, provider_id: str
) -> None:
    url = f"{app.server_url}/api/chat/stream"
    bad = httpx.post(url, json={"providerId": provider_id, "messages": []}, headers=headers())
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_CONFIG"
    assert "messages" in bad.json()["error"]["fields"]
    missing = httpx.post(url, json=body("no-such-provider"), headers=headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_the_chat_stream_needs_the_token(app: MiaodaApp, provider_id: str) -> None:
    response = httpx.post(f"{app.server_url}/api/chat/stream", json=body(provider_id))
    assert response.status_code == 401


def test_non_streaming_chat_answers_with_the_envelope(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(
        PATH,
        Reply.json(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Hi there"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
        ),
    )
    result = httpx.post(
        f"{app.server_url}/api/chat", json=body(provider_id), headers=headers()
    ).json()
    assert result["success"] is True
    assert result["message"]["content"] == "Hi there"
    assert result["finishReason"] == "stop"
    assert result["usage"]["inputTokens"] == 3


def test_an_edit_between_two_chats_is_used_by_the_second(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    # The chat route remembers a provider and its key between streams; an edit must end that.
    upstream.script(PATH, Reply.stream(openai_stream(["one"])))
    upstream.script("/v2/chat/completions", Reply.stream(openai_stream(["two"])))
    url = f"{app.server_url}/api/chat/stream"
    first = httpx.post(url, json=body(provider_id), headers=headers(), timeout=10)
    assert "one" in first.text
    edited = app.bridge().updateCustomProvider(
        provider_id,
        {"baseURL": upstream.url + "/v2", "apiKey": "sk-the-new-key"},
        {"validate": False},
    )
    assert edited["success"], edited
    second = httpx.post(url, json=body(provider_id), headers=headers(), timeout=10)
    assert "two" in second.text
    sent = upstream.requests[-1]
    assert sent.path == "/v2/chat/completions"
    assert "sk-the-new-key" in str(sent.headers) and CANARY_KEY not in str(sent.headers)


def test_a_removed_provider_is_not_found_on_the_next_chat(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["one"])))
    url = f"{app.server_url}/api/chat/stream"
    assert "one" in httpx.post(url, json=body(provider_id), headers=headers(), timeout=10).text
    assert app.bridge().removeCustomProvider(provider_id)["success"]
    gone = httpx.post(url, json=body(provider_id), headers=headers(), timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"
    assert len(upstream.requests) == 1


def test_a_stream_cut_short_by_closing_the_app_is_still_recorded(
    data_dir: Path, upstream: FakeUpstream
) -> None:
    from backend.storage import Storage

    instance = MiaodaApp(data_dir, secret_backend="file", token="tok")
    instance.start_server(0)
    slow_id = add_provider(instance, upstream.url + "/v1")
    upstream.script(PATH, Reply.stream(openai_stream(["a"] * 100), delay=0.1))
    with httpx.stream(
        "POST", f"{instance.server_url}/api/chat/stream", json=body(slow_id), headers=headers()
    ) as response:
        chunks = response.iter_text()
        assert "start" in next(chunks)
        instance.close()
    store = Storage(data_dir / "miaoda.db")
    try:
        [record] = store.chat_stats(slow_id)
    finally:
        store.close()
    assert record["finish_reason"] == "cancelled"
