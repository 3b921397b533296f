"""Stop: a client that goes away closes the upstream request within a second, at any point."""

from __future__ import annotations

import time
from typing import Any

from backend.providers import ProviderService
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    drain,
    fake_config,
    openai_chunk,
    user_request,
)
from tests.relay import RelayRun

PATH = "/v1/chat/completions"
SLOW = Reply.stream([openai_chunk({"content": f"w{i} "}) for i in range(200)], delay=0.1)
SILENT = Reply.stream([openai_chunk({"content": "x"})], hang_before_headers=30)


def open_relay(
    service: ProviderService,
    upstream: FakeUpstream,
    reply: Reply,
    records: list[dict[str, Any]],
    **leave: Any,
) -> RelayRun:
    """A relay to a client that leaves as `leave` says (see RelayRun), 0.1 s heartbeats."""
    upstream.script(PATH, reply)
    stream = service.open_stream(fake_config(upstream.url + "/v1"), "sk-test", user_request())
    return RelayRun(service, stream, heartbeat=0.1, on_finish=records.append, **leave)


def test_disconnect_mid_stream_closes_upstream_within_a_second(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    records: list[dict[str, Any]] = []
    run = open_relay(service, upstream, SLOW, records, leave_when=lambda chunks: len(chunks) >= 4)
    body = b"".join(run.wait())
    assert b"event: delta" in body
    assert b"event: done" not in body  # nobody is left to read it
    gone = upstream.wait_for_disconnect(1.0)
    assert gone is not None and run.left_at is not None
    assert gone.closed_at is not None and gone.closed_at - run.left_at < 1.0
    assert records[0]["finishReason"] == "cancelled"


def test_disconnect_before_the_first_byte_closes_upstream_within_a_second(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    records: list[dict[str, Any]] = []
    run = open_relay(service, upstream, SILENT, records, leave_after=0.3)
    body = b"".join(run.wait())
    assert b"event: delta" not in body and b": ping" in body  # heartbeats while it waited
    gone = upstream.wait_for_disconnect(1.0)
    assert gone is not None and run.left_at is not None
    assert gone.closed_at is not None and gone.closed_at - run.left_at < 1.0
    assert records[0]["finishReason"] == "cancelled" and records[0]["ttftMs"] is None


def test_leaving_right_after_the_start_cancels_the_stream(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    records: list[dict[str, Any]] = []
    run = open_relay(service, upstream, SILENT, records)
    assert upstream.wait_for_requests(1, 2.0)
    run.leave()
    run.leave()  # twice: still one cancel and one record
    run.wait(2.0)
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
