"""Cached prompt tokens as each wire reports them, read by the adapters (pure, no I/O)."""

from __future__ import annotations

import json
from typing import Any

from backend.providers.wire.anthropic import AnthropicAdapter
from backend.providers.wire.errors import Origin
from backend.providers.wire.openai import OpenAIAdapter
from backend.providers.wire.sse import SSEEvent

ORIGIN = Origin.of("https://api.example/v1/chat/completions", "m", None)


def openai_finish(usage: dict[str, Any]) -> tuple[tuple[int, int] | None, int | None]:
    decoder = OpenAIAdapter().decoder(ORIGIN)
    chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
    decoder.feed(SSEEvent("message", json.dumps(chunk)))
    decoder.feed(SSEEvent("message", json.dumps({"choices": [], "usage": usage})))
    finish = decoder.finish()
    return finish.usage, finish.cached_input


def test_openai_compatible_cached_tokens_come_from_prompt_tokens_details() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 5,
             "prompt_tokens_details": {"cached_tokens": 64}}  # fmt: skip
    assert openai_finish(usage) == ((100, 5), 64)


def test_deepseek_cached_tokens_come_from_its_cache_hit_count() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 90,
             "prompt_cache_miss_tokens": 10}  # fmt: skip
    assert openai_finish(usage) == ((100, 5), 90)


def test_no_cache_figure_or_a_malformed_one_means_none() -> None:
    assert openai_finish({"prompt_tokens": 3, "completion_tokens": 1}) == ((3, 1), None)
    bad = {
        "prompt_tokens": 3,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": "x"},
    }
    assert openai_finish(bad) == ((3, 1), None)


def test_a_whole_openai_answer_carries_its_cached_tokens() -> None:
    payload = {
        "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 2,
                  "prompt_tokens_details": {"cached_tokens": 32}},
    }  # fmt: skip
    result = OpenAIAdapter().parse_chat(payload, ORIGIN)
    assert (result.usage, result.cached_input) == ((40, 2), 32)


def test_anthropic_cache_reads_are_cached_input_within_the_counted_input() -> None:
    payload = {
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "cache_creation_input_tokens": 20,
                  "cache_read_input_tokens": 100, "output_tokens": 7},
    }  # fmt: skip
    result = AnthropicAdapter().parse_chat(payload, ORIGIN)
    assert (result.usage, result.cached_input) == ((125, 7), 100)
