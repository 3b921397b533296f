"""The Anthropic Messages wire against a real fake server."""

from __future__ import annotations

import pytest

from backend.models import ChatEvent, ChatMessage, ToolCall, ToolSpec
from backend.providers import ProviderService
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    anthropic_event,
    anthropic_stream,
    drain,
    fake_config,
    user_request,
)

PATH = "/v1/messages"


def config(upstream: FakeUpstream, **overrides: object):  # type: ignore[no-untyped-def]
    return fake_config(upstream.url, type="anthropic-compatible", model="claude-test", **overrides)


def run(
    service: ProviderService, upstream: FakeUpstream, *replies: Reply, **request: object
) -> list[ChatEvent]:
    upstream.script(PATH, *replies)
    return drain(service.open_stream(config(upstream), "sk-ant-test", user_request(**request)))  # type: ignore[arg-type]


def text(events: list[ChatEvent], kind: str = "delta") -> str:
    return "".join(e.data["text"] for e in events if e.kind == kind)


def start(input_tokens: int = 25) -> bytes:
    message = {
        "type": "message",
        "role": "assistant",
        "content": [],
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    return anthropic_event({"type": "message_start", "message": message})


def block_start(index: int, block: dict[str, object]) -> bytes:
    return anthropic_event({"type": "content_block_start", "index": index, "content_block": block})


def delta(index: int, body: dict[str, object]) -> bytes:
    return anthropic_event({"type": "content_block_delta", "index": index, "delta": body})


def stop(index: int) -> bytes:
    return anthropic_event({"type": "content_block_stop", "index": index})


def message_end(reason: str, output_tokens: int) -> list[bytes]:
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    }
    return [anthropic_event(end), anthropic_event({"type": "message_stop"})]


def test_text_stream_is_reassembled_with_cumulative_usage(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    pieces = ["Bonjour", " 世界", " 🚀", " fin."]
    events = run(service, upstream, Reply.stream(anthropic_stream(pieces, usage=(31, 17))))
    assert text(events) == "".join(pieces)
    assert events[-2:] == [
        ChatEvent("usage", {"inputTokens": 31, "outputTokens": 17, "source": "reported"}),
        ChatEvent("done", {"finishReason": "stop"}),
    ]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(
    service: ProviderService, upstream: FakeUpstream, reason: str, finish: str
) -> None:
    events = run(service, upstream, Reply.stream(anthropic_stream(["a"], stop=reason)))
    assert events[-1].data == {"finishReason": finish}


def test_cache_tokens_count_as_input_and_reads_are_cached_input(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    message = {
        "type": "message",
        "content": [],
        "usage": {
            "input_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "output_tokens": 1,
        },
    }
    chunks = [
        anthropic_event({"type": "message_start", "message": message}),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "x"}),
        stop(0),
        *message_end("end_turn", 9),
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert events[-2].data == {
        "inputTokens": 125,
        "outputTokens": 9,
        "source": "reported",
        "cachedInputTokens": 100,
    }


def test_tool_use_with_streamed_json_is_one_complete_call(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Checking."}),
        stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": ""}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Pa'}),
        delta(1, {"type": "input_json_delta", "partial_json": 'ris"}'}),
        stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}),
        stop(2),
        *message_end("tool_use", 40),
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert [e.kind for e in events] == ["delta", "tool_call", "tool_call", "usage", "done"]
    assert [e.data for e in events if e.kind == "tool_call"] == [
        {"index": 0, "id": "toolu_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"index": 1, "id": "toolu_2", "name": "get_time", "arguments": "{}"},
    ]
    assert events[-1].data == {"finishReason": "tool_calls"}


def test_thinking_deltas_become_reasoning_and_pings_are_ignored(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        start(),
        block_start(0, {"type": "thinking", "thinking": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
        anthropic_event({"type": "ping"}),
        delta(0, {"type": "thinking_delta", "thinking": "see."}),
        delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
        stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Done."}),
        stop(1),
        *message_end("end_turn", 12),
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert (text(events, "reasoning"), text(events)) == ("Let me see.", "Done.")


def test_error_event_after_output_ends_with_error_and_no_retry(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    overloaded = anthropic_event(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    chunks = [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Hal"}),
        overloaded,
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert [e.kind for e in events] == ["delta", "error"]
    assert events[-1].data["code"] == "UPSTREAM_ERROR" and events[-1].data["httpStatus"] == 529
    assert len(upstream.requests) == 1


def test_error_event_before_output_is_retried(
    service: ProviderService, upstream: FakeUpstream, sleeps: list[float]
) -> None:
    overloaded = anthropic_event(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    events = run(
        service, upstream, Reply.stream([overloaded]), Reply.stream(anthropic_stream(["ok"]))
    )
    assert text(events) == "ok"
    assert len(upstream.requests) == 2 and len(sleeps) == 1


def test_request_body_headers_and_parameters(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(anthropic_stream(["ok"])))
    cfg = config(
        upstream,
        parameters={"temperature": 1.6, "topP": 0.8, "frequencyPenalty": 1, "presencePenalty": 1},
    )
    tool = ToolSpec("lookup", "Find a thing", {})
    request = user_request(
        messages=(
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Hi"),
            ChatMessage("system", "Use metric."),
        ),
        tools=(tool,),
    )
    drain(service.open_stream(cfg, "sk-ant-test", request))
    seen = upstream.requests[0]
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["x-api-key"] == "sk-ant-test" and "authorization" not in seen.headers
    assert seen.json == {
        "model": "claude-test",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "system": "Be brief.\n\nUse metric.",
        "temperature": 1.0,
        "tools": [
            {
                "name": "lookup",
                "description": "Find a thing",
                "input_schema": {"type": "object", "properties": {}},
            }
        ],
        "stream": True,
    }


def test_max_tokens_and_top_p_from_parameters(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(anthropic_stream(["ok"])))
    drain(
        service.open_stream(
            config(upstream), None, user_request(parameters={"maxTokens": 256, "topP": 0.5})
        )
    )
    body = upstream.requests[0].json
    assert (body["max_tokens"], body["top_p"]) == (256, 0.5)
    assert "temperature" not in body


def test_history_converts_tool_calls_and_merges_results(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(anthropic_stream(["ok"])))
    history = (
        ChatMessage("user", "Weather in Paris and Rome?"),
        ChatMessage(
            "assistant",
            "Checking both.",
            (
                ToolCall("t1", "weather", '{"city":"Paris"}'),
                ToolCall("t2", "weather", '{"city":"Rome"}'),
            ),
        ),
        ChatMessage("tool", "18C", tool_call_id="t1"),
        ChatMessage("tool", "22C", tool_call_id="t2"),
        ChatMessage("user", "Thanks, and tomorrow?"),
        ChatMessage("assistant", ""),
    )
    drain(service.open_stream(config(upstream), None, user_request(messages=history)))
    assert upstream.requests[0].json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "t2", "name": "weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "22C"},
                {"type": "text", "text": "Thanks, and tomorrow?"},
            ],
        },
    ]


def test_base_url_ending_in_v1_gets_no_second_v1(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(anthropic_stream(["ok"])))
    cfg = fake_config(upstream.url + "/v1", type="anthropic-compatible")
    drain(service.open_stream(cfg, None, user_request()))
    assert upstream.requests[0].path == PATH


def test_non_streaming_message(service: ProviderService, upstream: FakeUpstream) -> None:
    body = {
        "type": "message",
        "content": [
            {"type": "thinking", "thinking": "Plan.", "signature": "x"},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_9", "name": "search", "input": {"q": "miaoda"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 20},
    }
    upstream.script(PATH, Reply.json(body))
    result = service.chat(config(upstream), "sk-ant-test", user_request())
    assert result == {
        "message": {
            "role": "assistant",
            "content": "Let me look.",
            "toolCalls": [{"id": "toolu_9", "name": "search", "arguments": '{"q": "miaoda"}'}],
            "reasoning": "Plan.",
        },
        "usage": {"inputTokens": 10, "outputTokens": 20, "source": "reported"},
        "finishReason": "tool_calls",
    }


def test_list_models_asks_for_the_largest_page(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(
        "/v1/models", Reply.json({"data": [{"id": "claude-a", "type": "model"}], "has_more": False})
    )
    assert service.list_models(config(upstream), "sk-ant-test") == ["claude-a"]
    seen = upstream.requests[0]
    assert seen.query == {"limit": "1000"}
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert "content-type" not in seen.headers  # a GET without a body says nothing about one
