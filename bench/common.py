"""Pieces the benchmark scripts share: percentiles, a fake upstream in its own process, and the
time to a chat stream's first `delta` event through the app over HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.fakes.upstream import FakeUpstream, Reply, openai_stream

CHAT_PATH = "/v1/chat/completions"


def percentile(values: list[float], share: float) -> float:
    """The value at `share` (0..1) of the sorted values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def serve_upstream(pipe: Any) -> None:
    """Child process: a fake upstream answering every chat with a short stream, until the
    parent sends anything on `pipe` (its base URL goes first)."""
    with FakeUpstream() as upstream:
        upstream.script(CHAT_PATH, Reply.stream(openai_stream(["Hello", " there"])))
        pipe.send(upstream.url)
        pipe.recv()


def first_delta_ms(client: httpx.Client, url: str, provider_id: str) -> float:
    """Milliseconds from sending a chat to `provider_id` (a provider or a route) to its first
    `delta` event, read from the app at `url` with `client` (which carries the token)."""
    body = {"providerId": provider_id, "messages": [{"role": "user", "content": "Hello"}]}
    started = time.perf_counter()
    first = 0.0
    with client.stream("POST", f"{url}/api/chat/stream", json=body) as response:
        for chunk in response.iter_raw():
            if not first and b"event: delta" in chunk:
                first = time.perf_counter() - started
    assert first, "no answer"
    return first * 1000
