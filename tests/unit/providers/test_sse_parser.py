"""The SSE parser follows the WHATWG event-stream rules, whatever the network splits."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from backend.providers.wire.sse import SSEEvent, SSEParser


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
