"""Stream inputs that coverage-guided fuzzing (tests/stress/test_atheris.py) found crashing.

A decoder may only fail with an `UpstreamFailure`: anything else ends the chat with an
INTERNAL "crashed" error and a traceback in the log. Each case below raised AttributeError,
TypeError or RecursionError from a field of an unexpected JSON type, or reported a boolean as
a token count. A field of the wrong type now counts as absent; JSON nested too deeply to decode
is INVALID_RESPONSE like any other data that is not JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from backend.errors import InvalidResponse
from backend.models import ChatEvent
from backend.providers.wire.anthropic import AnthropicStreamDecoder
from backend.providers.wire.base import Finish
from backend.providers.wire.errors import Origin
from backend.providers.wire.openai import OpenAIStreamDecoder
from backend.providers.wire.sse import SSEEvent

ORIGIN = Origin.of("https://fuzz.invalid/v1/chat/completions", "model", "sk-regression-key")
Decoder = OpenAIStreamDecoder | AnthropicStreamDecoder


def run(decoder: Decoder, *payloads: Any, event: str = "message") -> tuple[list[ChatEvent], Finish]:
    events: list[ChatEvent] = []
    for payload in payloads:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        events += decoder.feed(SSEEvent(event, data))
    return events, decoder.finish()


def openai(*payloads: Any) -> tuple[list[ChatEvent], Finish]:
    return run(OpenAIStreamDecoder(ORIGIN), *payloads)


def anthropic(*payloads: Any) -> tuple[list[ChatEvent], Finish]:
    return run(AnthropicStreamDecoder(ORIGIN), *payloads)


@pytest.mark.parametrize("delta", ["text", ["a"], 7, True])
def test_openai_delta_that_is_not_an_object_is_ignored(delta: Any) -> None:
    events, finish = openai({"choices": [{"delta": delta, "finish_reason": "stop"}]})
    assert events == [] and finish.finish_reason == "stop"


@pytest.mark.parametrize("groq", ["s", [1], 3])
def test_openai_x_groq_that_is_not_an_object_has_no_usage(groq: Any) -> None:
    events, finish = openai({"choices": [], "x_groq": groq})
    assert events == [] and finish.usage is None


def test_openai_content_parts_whose_text_is_not_text_are_skipped() -> None:
    parts = [{"type": "text", "text": 1}, {"text": {"a": 1}}, {"type": "text", "text": "kept"}]
    events, _ = openai({"choices": [{"delta": {"content": parts}}]})
    assert events == [ChatEvent("delta", {"text": "kept"})]


@pytest.mark.parametrize("function", ["f", ["f"], 1])
def test_openai_tool_call_function_that_is_not_an_object_is_empty(function: Any) -> None:
    call = {"index": 0, "id": "call_1", "function": function}
    events, finish = openai({"choices": [{"delta": {"tool_calls": [call]}}]})
    assert events == []
    assert [e.data for e in finish.events] == [
        {"index": 0, "id": "call_1", "name": "", "arguments": "{}"}
    ]
    assert finish.finish_reason == "tool_calls"


def test_openai_boolean_token_counts_are_not_usage() -> None:
    usage = {"prompt_tokens": True, "completion_tokens": 2}
    _, finish = openai({"choices": [], "usage": usage})
    assert finish.usage is None


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "content_block_delta", "index": 0, "delta": "text"},
        {"type": "content_block_delta", "index": 0, "delta": [1]},
        {"type": "content_block_start", "index": 0, "content_block": 5},
        {"type": "content_block_start", "index": 0, "content_block": "text"},
        {"type": "message_start", "message": "hello"},
        {"type": "message_delta", "delta": ["end_turn"]},
    ],
)
def test_anthropic_member_that_is_not_an_object_is_ignored(payload: dict[str, Any]) -> None:
    events, finish = anthropic(payload)
    assert events == [] and finish.finish_reason == "stop"


@pytest.mark.parametrize("index", [[1], {"a": 1}])
def test_anthropic_input_json_delta_with_an_unhashable_index_is_ignored(index: Any) -> None:
    tool = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    delta = {"type": "input_json_delta", "partial_json": '{"q": 1}'}
    events, finish = anthropic(
        {"type": "content_block_start", "index": 0, "content_block": tool},
        {"type": "content_block_delta", "index": index, "delta": delta},
    )
    assert events == []
    assert [e.data["arguments"] for e in finish.events] == ["{}"]


def test_anthropic_boolean_token_counts_are_not_counted() -> None:
    usage = {"input_tokens": 11, "output_tokens": True, "cache_read_input_tokens": False}
    _, finish = anthropic({"type": "message_delta", "delta": {}, "usage": usage})
    assert finish.usage == (11, 0)
    assert all(type(n) is int for n in finish.usage)


@pytest.mark.parametrize("make", [OpenAIStreamDecoder, AnthropicStreamDecoder])
def test_json_nested_too_deeply_is_an_invalid_response(make: type[Decoder]) -> None:
    with pytest.raises(InvalidResponse):
        make(ORIGIN).feed(SSEEvent("message", "[" * 3000))


@pytest.mark.parametrize(
    "message",
    [
        "text",
        7,
        {"content": 3, "tool_calls": "calls"},
        {"tool_calls": [{"function": "f"}, {"function": {"name": 1, "arguments": [1]}}]},
    ],
)
def test_openai_one_shot_answer_with_fields_of_the_wrong_type(message: Any) -> None:
    """The non-streamed reader had the same pattern as the stream decoder (found by review)."""
    from backend.providers.wire.openai import OpenAIAdapter

    result = OpenAIAdapter().parse_chat(
        {"choices": [{"message": message, "finish_reason": "stop"}]}, ORIGIN
    )
    assert result.content == ""
    assert all(isinstance(call.arguments, str) for call in result.tool_calls)
