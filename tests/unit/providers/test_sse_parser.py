"""The SSE parser follows the WHATWG event-stream rules, whatever the network splits."""

from __future__ import annotations

import copy
import itertools
import time
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.providers.wire.sse import (
    DEFAULT_MAX_EVENT_BYTES,
    SSEEvent,
    SSEEventTooLarge,
    SSEParser,
)

MIB = 1024 * 1024
KIB = 1024


def parse(*reads: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in reads:
        events += parser.feed(chunk)
    return events + parser.close()


def datas(*reads: bytes) -> list[str]:
    return [e.data for e in parse(*reads)]


SAMPLE = (
    "\ufeff: keep-alive comment\r\n"
    "event: greeting\r\n"
    "id: 7\n"
    "data: héllo 世界 🚀\r"
    "data:second line\n"
    "\n"
    "retry: 3000\n"
    "data\n"
    "\r\n"
    'data: {"text": "naïve"}\n\n'
).encode()
SAMPLE_EVENTS = [
    SSEEvent("greeting", "héllo 世界 🚀\nsecond line", "7", None),
    SSEEvent("message", "", "7", 3000),
    SSEEvent("message", '{"text": "naïve"}', "7", 3000),
]


def test_lf_crlf_and_cr_line_endings_are_equivalent() -> None:
    assert datas(b"data: a\n\n") == datas(b"data: a\r\n\r\n") == datas(b"data: a\r\r") == ["a"]


def test_crlf_split_between_reads_is_one_line_ending() -> None:
    assert datas(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == ["a\nb"]
    assert [e.event for e in parse(b"event: x\r", b"", b"\ndata: a\n\n")] == ["x"]


def test_multi_line_data_is_joined_with_lf() -> None:
    assert datas(b"data: one\ndata: two\ndata: three\n\n") == ["one\ntwo\nthree"]


def test_comments_are_ignored() -> None:
    assert datas(b": ping\n\n: OPENROUTER PROCESSING\ndata: x\n\n") == ["x"]


def test_event_type_applies_to_one_event_then_defaults_to_message() -> None:
    events = parse(b"event: delta\ndata: a\n\ndata: b\n\n")
    assert [e.event for e in events] == ["delta", "message"]


def test_last_event_id_persists_and_ignores_values_with_nul() -> None:
    events = parse(b"id: 1\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\n")
    assert [e.id for e in events] == ["1", "1", "1"]


def test_retry_takes_only_ascii_digits() -> None:
    parser = SSEParser()
    parser.feed(b"retry: 1500\n\nretry: 2s\n\nretry: \xd9\xa3\n\n")
    assert parser.retry == 1500


def test_field_without_colon_has_an_empty_value() -> None:
    assert datas(b"data\n\n") == [""]
    assert [e.event for e in parse(b"event\ndata: x\n\n")] == ["message"]


def test_only_one_leading_space_is_stripped() -> None:
    assert datas(b"data:  two spaces\n\ndata:none\n\n") == [" two spaces", "none"]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse(b"\n\n\nevent: x\n\n\n") == []


def test_unknown_fields_are_ignored() -> None:
    assert datas(b"foo: bar\ndata: x\nbaz\n\n") == ["x"]


def test_a_leading_byte_order_mark_is_dropped() -> None:
    assert datas("\ufeffdata: x\n\n".encode()) == ["x"]


def test_trailing_event_without_blank_line_is_dispatched_at_end_of_stream() -> None:
    # The spec would drop it; providers that omit the final blank line lose their last chunk.
    assert datas(b"data: first\n\ndata: [DONE]") == ["first", "[DONE]"]
    assert datas(b"data: last\n") == ["last"]


def test_sample_parses_as_expected() -> None:
    assert parse(SAMPLE) == SAMPLE_EVENTS


def test_every_split_position_gives_the_same_events() -> None:
    for cut in range(len(SAMPLE) + 1):
        assert parse(SAMPLE[:cut], SAMPLE[cut:]) == SAMPLE_EVENTS, f"split at {cut}"


def test_one_byte_reads_including_inside_utf8_characters() -> None:
    assert parse(*[SAMPLE[i : i + 1] for i in range(len(SAMPLE))]) == SAMPLE_EVENTS


@given(st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(SAMPLE)]
    reads = [SAMPLE[a:b] for a, b in itertools.pairwise(points)]
    assert parse(*reads) == SAMPLE_EVENTS


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert datas(b"data: a\xffb\n\n") == ["a\ufffdb"]


def test_one_event_per_read_keeps_type_and_id_from_earlier_reads() -> None:
    # Most servers flush one event per write: the parser's fast path must agree with the rest.
    reads = [b"event: delta\n", b"id: 4\n", b"data: one\n\n", b"data:two\n\n", b"data: three\n\n"]
    assert parse(*reads) == [
        SSEEvent("delta", "one", "4"),
        SSEEvent("message", "two", "4"),
        SSEEvent("message", "three", "4"),
    ]


# --- long lines: linear work -----------------------------------------------------------------


def reads_of(payload: bytes, size: int) -> list[bytes]:
    return [payload[i : i + size] for i in range(0, len(payload), size)]


def test_a_16_mb_event_in_16_kib_reads_parses_whole() -> None:
    # Multi-byte characters land on read boundaries; CRLFs end the lines.
    text = ("abc é 世界 🚀 " * (16 * MIB // 20 + 1))[: 16 * MIB]
    payload = b"event: big\r\ndata: " + text.encode() + b"\r\n\r\ndata: after\n\n"
    parser = SSEParser(max_event_bytes=64 * MIB)
    events: list[SSEEvent] = []
    for chunk in reads_of(payload, 16 * KIB):
        events += parser.feed(chunk)
    assert events + parser.close() == [SSEEvent("big", text), SSEEvent("message", "after")]


def test_a_long_line_is_not_rejoined_on_every_read() -> None:
    # Deterministic: what each read allocates stays near its own size. Rejoining the pending
    # line on every read would allocate about 16 MB / 16 KiB / 2 = 512 times the payload.
    payload = b"data: " + b"x" * (16 * MIB) + b"\n\n"
    reads = reads_of(payload, 16 * KIB)
    parser = SSEParser(max_event_bytes=32 * MIB)
    allocated = 0
    tracemalloc.start()
    try:
        for chunk in reads:
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            parser.feed(chunk)
            allocated += tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # The line buffer, then the decoded str: about twice the payload.
    assert allocated < 4 * len(payload)


def test_reads_late_in_a_long_line_cost_no_more_than_early_ones() -> None:
    # Linear parsing spends the same on each read of a line, however much of it came before;
    # rescanning or rejoining the pending line makes the last quarter of the reads about seven
    # times as slow as the first. Compare the quarters of one run, on the process's CPU clock,
    # best of five: unlike two payload sizes, both sides see the same memory and caches.
    clock = time.process_time
    if time.get_clock_info("process_time").resolution > 1e-6:
        clock = time.perf_counter  # a coarse CPU clock (Windows) cannot time a few ms
    reads = reads_of(b"data: " + b"x" * (16 * MIB), 16 * KIB)
    quarter = len(reads) // 4
    early, late = [], []
    for _ in range(5):
        parser = SSEParser(max_event_bytes=32 * MIB)
        start = clock()
        for chunk in reads[:quarter]:
            parser.feed(chunk)
        middle = clock()
        for chunk in reads[quarter:-quarter]:
            parser.feed(chunk)
        end = clock()
        for chunk in reads[-quarter:]:
            parser.feed(chunk)
        late.append(clock() - end)
        early.append(middle - start)
    assert min(late) < 3 * min(early) + 0.002


def test_crlf_split_across_reads_inside_and_after_long_lines() -> None:
    long = b"y" * 40_000
    stream = b"data: " + long + b"\r\ndata: b\r\n\r\nevent: e\r\ndata: " + long + b"\r\n\r\n"
    # Cut after every CR, so each CRLF arrives in two reads, and again inside the long lines.
    cuts = sorted({i + 1 for i, byte in enumerate(stream) if byte == 0x0D} | {5000, 45_000})
    points = [0, *cuts, len(stream)]
    reads = [stream[a:b] for a, b in itertools.pairwise(points)]
    assert any(r.endswith(b"\r") for r in reads) and any(r.startswith(b"\n") for r in reads)
    text = long.decode()
    assert parse(*reads) == [SSEEvent("message", text + "\nb"), SSEEvent("e", text)]


def test_a_lone_cr_ending_a_read_is_still_a_line_ending() -> None:
    assert datas(b"data: a\r", b"data: b\r", b"\r") == ["a\nb"]
    assert datas(b"data: " + b"z" * 30_000 + b"\r", b"data: b\r\r") == ["z" * 30_000 + "\nb"]


# --- the event size limit ---------------------------------------------------------------------


def feed_all(parser: SSEParser, *reads: bytes) -> list[SSEEvent]:
    events: list[SSEEvent] = []
    for chunk in reads:
        events += parser.feed(chunk)
    return events + parser.close()


def test_the_default_limit_is_8_mb_and_says_so() -> None:
    assert DEFAULT_MAX_EVENT_BYTES == 8 * MIB
    parser = SSEParser()
    with pytest.raises(SSEEventTooLarge, match=r"^an event larger than 8 MB$") as caught:
        parser.feed(b"data: " + b"x" * (8 * MIB + 1))
    assert isinstance(caught.value, ValueError)
    assert caught.value.limit == 8 * MIB


def test_the_message_names_the_limit_in_its_own_unit() -> None:
    assert str(SSEEventTooLarge(3 * MIB)) == "an event larger than 3 MB"
    assert str(SSEEventTooLarge(64 * KIB)) == "an event larger than 64 KB"
    assert str(SSEEventTooLarge(1500)) == "an event larger than 1500 bytes"
    assert str(copy.copy(SSEEventTooLarge(2 * MIB))) == "an event larger than 2 MB"


def test_an_over_long_line_raises_while_it_is_still_arriving() -> None:
    parser = SSEParser(max_event_bytes=1000)
    parser.feed(b"data: " + b"x" * 600)
    parser.feed(b"x" * 400)  # exactly the limit so far: a line this long could still end
    with pytest.raises(SSEEventTooLarge, match="1000 bytes"):
        parser.feed(b"x")  # no line ending in sight, and already too large


@pytest.mark.parametrize("stream", [b"data: %s\n\n", b"event: x\ndata: %s\n\n", b"data:%s\r\r"])
def test_an_event_at_the_limit_passes_and_one_byte_more_raises(stream: bytes) -> None:
    fits = stream % (b"x" * 1000)
    assert feed_all(SSEParser(max_event_bytes=1000), fits)[0].data == "x" * 1000
    assert [e.data for e in feed_all(SSEParser(1000), *reads_of(fits, 7))] == ["x" * 1000]
    too_large = stream % (b"x" * 1001)
    with pytest.raises(SSEEventTooLarge):
        feed_all(SSEParser(max_event_bytes=1000), too_large)
    with pytest.raises(SSEEventTooLarge):
        feed_all(SSEParser(max_event_bytes=1000), *reads_of(too_large, 7))


def test_many_data_lines_count_together_joining_lfs_included() -> None:
    line = b"data: " + b"x" * 99 + b"\n"  # 99 bytes of data, plus an LF to join the next
    fits = line * 10 + b"\n"  # 10 * 99 + 9 = 999 bytes of data
    assert [len(e.data) for e in feed_all(SSEParser(max_event_bytes=999), fits)] == [999]
    assert [len(e.data) for e in feed_all(SSEParser(999), *reads_of(fits, 64))] == [999]
    with pytest.raises(SSEEventTooLarge):
        feed_all(SSEParser(max_event_bytes=998), fits)
    parser = SSEParser(max_event_bytes=998)
    with pytest.raises(SSEEventTooLarge):
        for _ in range(10):
            parser.feed(line)  # one line a read, no blank line yet: the data keeps growing


def test_the_limit_is_per_event_not_per_stream() -> None:
    event = b"data: " + b"x" * 900 + b"\n\n"
    assert len(feed_all(SSEParser(max_event_bytes=1000), event * 50)) == 50
    assert len(feed_all(SSEParser(max_event_bytes=1000), *reads_of(event * 50, 333))) == 50


def test_empty_data_lines_count_their_joining_lf() -> None:
    six = b"data\n" * 6 + b"\n"  # 5 bytes of data: the LFs joining six empty values
    assert feed_all(SSEParser(max_event_bytes=5), six) == [SSEEvent("message", "\n" * 5)]
    assert feed_all(SSEParser(5), *reads_of(six, 3)) == [SSEEvent("message", "\n" * 5)]
    with pytest.raises(SSEEventTooLarge):
        feed_all(SSEParser(max_event_bytes=4), six)


def test_any_over_long_line_raises_even_one_that_is_not_data() -> None:
    with pytest.raises(SSEEventTooLarge):
        feed_all(SSEParser(max_event_bytes=100), b": " + b"c" * 99 + b"\ndata: x\n\n")
    with pytest.raises(SSEEventTooLarge):
        SSEParser(max_event_bytes=100).feed(b"event: " + b"e" * 100)
    assert datas(b": " + b"c" * 98 + b"\ndata: x\n\n") == ["x"]


def test_after_raising_the_parser_keeps_refusing() -> None:
    parser = SSEParser(max_event_bytes=10)
    with pytest.raises(SSEEventTooLarge):
        parser.feed(b"data: 0123456789A\n\n")
    with pytest.raises(SSEEventTooLarge):
        parser.feed(b"data: ok\n\n")
    with pytest.raises(SSEEventTooLarge):
        parser.close()


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SSEParser(max_event_bytes=0)


LIMITED = b"event: t\r\ndata: 0123456789\r\ndata\ndata: abcdefghi\r\r"  # 10 + 1 + 0 + 1 + 9


@given(st.lists(st.integers(min_value=0, max_value=len(LIMITED)), max_size=8))
def test_the_limit_holds_exactly_under_any_chunking(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(LIMITED)]
    reads = [LIMITED[a:b] for a, b in itertools.pairwise(points)]
    assert feed_all(SSEParser(max_event_bytes=21), *reads) == [
        SSEEvent("t", "0123456789\n\nabcdefghi")
    ]
    with pytest.raises(SSEEventTooLarge):
        feed_all(SSEParser(max_event_bytes=20), *reads)
