"""Stop: a client that goes away closes the upstream request within a second, at any point."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from backend.chat import sse_events
from backend.providers import ProviderService
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    drain,
    fake_config,
    openai_chunk,
    user_request,
)

PATH = "/v1/chat/completions"
SLOW = Reply.stream([openai_chunk({"content": f"w{i} "}) for i in range(200)], delay=0.1)
SILENT = Reply.stream([openai_chunk({"content": "x"})], hang_before_headers=30)


class Client:
    """A client that leaves after `after_events` relayed chunks or `after_seconds`."""

    def __init__(self, after_chunks: int | None = None, after_seconds: float | None = None) -> None:
        self.after_chunks, self.after_seconds = after_chunks, after_seconds
        self.chunks = 0
        self.started = time.monotonic()
        self.left_at: float | None = None

    def is_disconnected(self) -> bool:
        gone = (self.after_chunks is not None and self.chunks >= self.after_chunks) or (
            self.after_seconds is not None and time.monotonic() - self.started >= self.after_seconds
        )
        if gone and self.left_at is None:
            self.left_at = time.monotonic()
        return gone


def open_relay(
    service: ProviderService,
    upstream: FakeUpstream,
    reply: Reply,
    client: Client,
    records: list[dict[str, Any]],
) -> Iterator[bytes]:
    upstream.script(PATH, reply)
    stream = service.open_stream(fake_config(upstream.url + "/v1"), "sk-test", user_request())
    return sse_events(
        stream,
        provider_id="p",
        model="m",
        request_id="r",
        is_disconnected=client.is_disconnected,
        heartbeat=0.1,
        on_finish=records.append,
    )


def consume(body: Iterator[bytes], client: Client) -> list[bytes]:
    out = []
    for chunk in body:
        out.append(chunk)
        client.chunks += 1
    return out


def test_disconnect_mid_stream_closes_upstream_within_a_second(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    client, records = Client(after_chunks=4), []
    body = consume(open_relay(service, upstream, SLOW, client, records), client)
    assert b"event: delta" in b"".join(body)
    assert b"event: done" not in b"".join(body)  # nobody is left to read it
    gone = upstream.wait_for_disconnect(1.0)
    assert gone is not None and client.left_at is not None
    assert gone.closed_at is not None and gone.closed_at - client.left_at < 1.0
    assert records[0]["finishReason"] == "cancelled"


def test_disconnect_before_the_first_byte_closes_upstream_within_a_second(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    client, records = Client(after_seconds=0.3), []
    body = consume(open_relay(service, upstream, SILENT, client, records), client)
    assert b"event: delta" not in b"".join(body)
    gone = upstream.wait_for_disconnect(1.0)
    assert gone is not None and client.left_at is not None
    assert gone.closed_at is not None and gone.closed_at - client.left_at < 1.0
    assert records[0]["finishReason"] == "cancelled" and records[0]["ttftMs"] is None


def test_closing_the_generator_cancels_the_stream(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    # What waitress does when the client vanishes: close the WSGI iterable.
    client, records = Client(), []
    body = open_relay(service, upstream, SLOW, client, records)
    next(body), next(body)
    closed_at = time.monotonic()
    body.close()  # type: ignore[attr-defined]
    gone = upstream.wait_for_disconnect(1.0)
    assert gone is not None and gone.closed_at is not None and gone.closed_at - closed_at < 1.0
    assert records[0]["finishReason"] == "cancelled"


def test_closing_the_generator_while_waiting_for_headers(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    client, records = Client(), []
    body = open_relay(service, upstream, SILENT, client, records)
    next(body)  # start
    next(body)  # a heartbeat while the provider says nothing
    body.close()  # type: ignore[attr-defined]
    assert upstream.wait_for_disconnect(1.0) is not None


def test_closing_the_body_before_iterating_it(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    # A WSGI server may give up on a response before asking for its first chunk.
    client, records = Client(), []
    body = open_relay(service, upstream, SILENT, client, records)
    assert upstream.wait_for_requests(1, 2.0)
    body.close()  # type: ignore[attr-defined]
    body.close()  # type: ignore[attr-defined]
    assert upstream.wait_for_disconnect(1.0) is not None
    assert [r["finishReason"] for r in records] == ["cancelled"]


def test_cancel_is_quick_idempotent_and_ends_the_stream(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, SILENT)
    stream = service.open_stream(fake_config(upstream.url + "/v1"), None, user_request())
    assert upstream.wait_for_requests(1, 2.0)
    started = time.monotonic()
    stream.cancel()
    stream.cancel()
    assert time.monotonic() - started < 0.2  # returns at once; the loop does the closing
    assert [e.data for e in drain(stream)] == [{"finishReason": "cancelled"}]
    assert stream.next_batch(0.01) is None
    assert upstream.wait_for_disconnect(1.0) is not None


def test_closing_the_service_cancels_running_streams(upstream: FakeUpstream) -> None:
    service = ProviderService()
    upstream.script(PATH, SILENT)
    stream = service.open_stream(fake_config(upstream.url + "/v1"), None, user_request())
    assert upstream.wait_for_requests(1, 2.0)
    service.close()
    assert drain(stream, timeout=2.0)[-1].data == {"finishReason": "cancelled"}
    assert upstream.wait_for_disconnect(1.0) is not None
