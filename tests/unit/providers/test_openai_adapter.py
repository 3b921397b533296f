"""The OpenAI wire against a real fake server: requests as sent, every stream quirk normalised."""

from __future__ import annotations

import pytest

from backend.errors import BadRequest, InvalidResponse, RateLimited
from backend.models import AuthConfig, ChatEvent, ChatMessage, ToolCall, ToolSpec
from backend.providers import ProviderService
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    drain,
    fake_config,
    openai_chunk,
    openai_stream,
    openai_usage,
    sse,
    user_request,
)

PATH = "/v1/chat/completions"
DONE = b"data: [DONE]\n\n"


def run(
    service: ProviderService, upstream: FakeUpstream, *replies: Reply, **request: object
) -> list[ChatEvent]:
    upstream.script(PATH, *replies)
    config = fake_config(upstream.url + "/v1")
    return drain(service.open_stream(config, "sk-test", user_request(**request)))  # type: ignore[arg-type]


def text(events: list[ChatEvent], kind: str = "delta") -> str:
    return "".join(e.data["text"] for e in events if e.kind == kind)


def kinds(events: list[ChatEvent]) -> list[str]:
    return [e.kind for e in events]


def rechunk(chunks: list[bytes], size: int) -> list[bytes]:
    """The same bytes cut every `size` bytes: inside events and inside UTF-8 characters."""
    whole = b"".join(chunks)
    return [whole[i : i + size] for i in range(0, len(whole), size)]


PIECES = ["Héllo", ", 世界", " 🚀 ", "naïve\n", "end."]


def test_text_is_reassembled_byte_for_byte(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    events = run(service, upstream, Reply.stream(rechunk(openai_stream(PIECES), 7)))
    assert text(events) == "".join(PIECES)
    assert events[-2:] == [
        ChatEvent("usage", {"inputTokens": 12, "outputTokens": 40, "source": "reported"}),
        ChatEvent("done", {"finishReason": "stop"}),
    ]


def test_usage_chunk_with_empty_choices_is_the_reported_usage(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    events = run(service, upstream, Reply.stream(openai_stream(["a"], usage=(7, 3))))
    assert [e.data for e in events if e.kind == "usage"] == [
        {"inputTokens": 7, "outputTokens": 3, "source": "reported"}
    ]


def test_groq_usage_under_x_groq(service: ProviderService, upstream: FakeUpstream) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 2}
    chunks = [
        openai_chunk({"content": "hi"}),
        openai_chunk({}, "stop", x_groq={"usage": usage}),
        DONE,
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert events[-2].data == {"inputTokens": 5, "outputTokens": 2, "source": "reported"}


def test_usage_is_estimated_when_none_is_reported(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    events = run(
        service, upstream, Reply.stream(openai_stream(["x" * 40], usage=None)), text="y" * 20
    )
    assert events[-2].data == {"inputTokens": 5, "outputTokens": 10, "source": "estimated"}


def test_tool_call_deltas_become_one_complete_call_each(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    def call(index: int, **fields: object) -> bytes:
        return openai_chunk({"tool_calls": [{"index": index, **fields}]})

    chunks = [
        openai_chunk({"role": "assistant", "content": None}),
        call(0, id="call_a", type="function", function={"name": "get_weather", "arguments": ""}),
        call(0, function={"arguments": '{"city": '}),
        call(0, function={"arguments": '"Paris"}'}),
        call(1, id="call_b", type="function", function={"name": "get_time", "arguments": '{"tz"'}),
        call(1, function={"arguments": ': "CET"}'}),
        openai_chunk({}, "tool_calls"),
        openai_usage(30, 12),
        DONE,
    ]
    events = run(service, upstream, Reply.stream(chunks))
    calls = [e.data for e in events if e.kind == "tool_call"]
    assert calls == [
        {"index": 0, "id": "call_a", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"index": 1, "id": "call_b", "name": "get_time", "arguments": '{"tz": "CET"}'},
    ]
    assert events[-1].data == {"finishReason": "tool_calls"}


def test_tool_call_without_id_gets_a_synthesized_one(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        openai_chunk(
            {"tool_calls": [{"index": 0, "function": {"name": "lookup", "arguments": "{}"}}]}
        ),
        openai_chunk({}, "stop"),  # some servers say "stop" even after a tool call
        DONE,
    ]
    events = run(service, upstream, Reply.stream(chunks))
    (call,) = [e.data for e in events if e.kind == "tool_call"]
    assert call["id"].startswith("call_") and len(call["id"]) > 8
    assert call["name"] == "lookup" and call["arguments"] == "{}"
    assert events[-1].data == {"finishReason": "tool_calls"}


def test_tool_call_arguments_sent_as_an_object_become_json_text(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        openai_chunk(
            {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}]}
        ),
        DONE,
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert [e.data["arguments"] for e in events if e.kind == "tool_call"] == ['{"a": 1}']


def test_deepseek_reasoning_content_becomes_reasoning(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        openai_chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
        openai_chunk({"content": None, "reasoning_content": "Let me "}),
        openai_chunk({"content": None, "reasoning_content": "think."}),
        openai_chunk({"content": "Answer", "reasoning_content": None}),
        openai_chunk({}, "stop"),
        DONE,
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert text(events, "reasoning") == "Let me think."
    assert text(events) == "Answer"
    assert kinds(events)[:3] == ["reasoning", "reasoning", "delta"]


def test_vllm_and_openrouter_reasoning_field_becomes_reasoning(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        openai_chunk({"reasoning": "Hmm."}),
        openai_chunk({"content": "Yes."}),
        openai_chunk({}, "stop"),
        DONE,
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert (text(events, "reasoning"), text(events)) == ("Hmm.", "Yes.")


def test_inline_think_tags_split_across_chunks(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    pieces = ["<thi", "nk>\nFirst, ", "reason.</th", "ink>\n\n", "The ans", "wer."]
    events = run(service, upstream, Reply.stream(openai_stream(pieces)))
    assert text(events, "reasoning") == "First, reason."
    assert text(events) == "The answer."


def test_keep_alive_comments_are_ignored(service: ProviderService, upstream: FakeUpstream) -> None:
    chunks = [b": OPENROUTER PROCESSING\n\n", *openai_stream(["a", "b"])]
    chunks.insert(2, b": ping\n\n")
    events = run(service, upstream, Reply.stream(chunks))
    assert text(events) == "ab"


def test_missing_done_ends_the_stream_normally(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    events = run(service, upstream, Reply.stream(openai_stream(["a"], finish="length", done=False)))
    assert text(events) == "a"
    assert events[-1].data == {"finishReason": "length"}


def test_last_event_without_blank_line_is_kept(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [openai_chunk({"content": "a"}), openai_chunk({}, "length").rstrip(b"\n")]
    events = run(service, upstream, Reply.stream(chunks))
    assert events[-1].data == {"finishReason": "length"}


def test_error_object_inside_a_200_stream_is_mapped(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        sse(
            {
                "error": {
                    "message": "Invalid value for temperature",
                    "type": "invalid_request_error",
                    "code": 400,
                }
            }
        )
    ]
    events = run(service, upstream, Reply.stream(chunks))
    assert kinds(events) == ["error"]
    assert events[0].data["code"] == "BAD_REQUEST"


def test_a_server_that_ignores_stream_true_is_replayed(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    body = {
        "choices": [
            {"message": {"role": "assistant", "content": "Whole answer"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    events = run(service, upstream, Reply.json(body))
    assert kinds(events) == ["delta", "usage", "done"]
    assert text(events) == "Whole answer"


def test_a_web_page_is_an_invalid_response(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    page = Reply(200, {"content-type": "text/html"}, b"<html>Welcome to nginx</html>")
    events = run(service, upstream, page)
    assert events[-1].data["code"] == InvalidResponse.code


def test_garbage_data_is_an_invalid_response(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    events = run(
        service, upstream, Reply.stream([openai_chunk({"content": "ok"}), b"data: {not json\n\n"])
    )
    assert kinds(events) == ["delta", "error"]
    assert events[-1].data["code"] == "INVALID_RESPONSE"


# --- requests as the provider receives them ---------------------------------------------------


def test_request_body_maps_parameters_tools_and_stream_options(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    config = fake_config(upstream.url + "/v1", parameters={"temperature": 0.3, "maxTokens": 100})
    overrides = {"topP": 0.9, "frequencyPenalty": 0.5, "presencePenalty": -0.5, "maxTokens": 50}
    tool = ToolSpec(
        "get_weather",
        "Weather for a city",
        {"type": "object", "properties": {"city": {"type": "string"}}},
    )
    drain(service.open_stream(config, None, user_request(parameters=overrides, tools=(tool,))))
    body = upstream.requests[0].json
    assert body["model"] == "fake-model"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.3, 50, 0.9)
    assert (body["frequency_penalty"], body["presence_penalty"]) == (0.5, -0.5)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": tool.parameters,
            },
        }
    ]


def test_history_with_tool_calls_and_results(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    history = (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Weather in Paris and Rome?"),
        ChatMessage(
            "assistant",
            "",
            (
                ToolCall("c1", "weather", '{"city":"Paris"}'),
                ToolCall("c2", "weather", '{"city":"Rome"}'),
            ),
        ),
        ChatMessage("tool", "18C", tool_call_id="c1"),
        ChatMessage("tool", "22C", tool_call_id="c2"),
    )
    drain(
        service.open_stream(fake_config(upstream.url + "/v1"), None, user_request(messages=history))
    )
    assert upstream.requests[0].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "tool", "tool_call_id": "c2", "content": "22C"},
    ]


@pytest.mark.parametrize(
    ("auth", "header", "query"),
    [
        (AuthConfig("bearer"), ("authorization", "Bearer sk-test"), {}),
        (AuthConfig("header", "api-key"), ("api-key", "sk-test"), {}),
        (AuthConfig("query", "key"), None, {"key": "sk-test"}),
        (AuthConfig("none"), None, {}),
    ],
)
def test_auth_schemes(
    service: ProviderService,
    upstream: FakeUpstream,
    auth: AuthConfig,
    header: tuple[str, str] | None,
    query: dict[str, str],
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    config = fake_config(upstream.url + "/v1", auth=auth)
    drain(service.open_stream(config, "sk-test", user_request()))
    seen = upstream.requests[0]
    assert seen.query == query
    sent = {k: v for k, v in seen.headers.items() if "sk-test" in v}
    assert sent == (dict([header]) if header else {})


def test_no_key_means_no_auth_header(service: ProviderService, upstream: FakeUpstream) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    drain(service.open_stream(fake_config(upstream.url + "/v1"), None, user_request()))
    assert "authorization" not in upstream.requests[0].headers


def test_provider_headers_are_sent_but_cannot_override_auth(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    headers = {"HTTP-Referer": "https://miaoda.example", "Authorization": "Bearer hijack"}
    drain(
        service.open_stream(
            fake_config(upstream.url + "/v1", headers=headers), "sk-test", user_request()
        )
    )
    seen = upstream.requests[0].headers
    assert seen["http-referer"] == "https://miaoda.example"
    assert seen["authorization"] == "Bearer sk-test"


def test_custom_azure_style_endpoint_and_header(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    path = "/openai/deployments/gpt4o/chat/completions"
    upstream.script(path, Reply.stream(openai_stream(["ok"])))
    config = fake_config(
        upstream.url + "/openai/deployments/gpt4o",
        type="custom",
        auth=AuthConfig("header", "api-key"),
        endpoints={"chat": "/chat/completions?api-version=2024-10-21"},
    )
    events = drain(service.open_stream(config, "azure-key", user_request()))
    assert text(events) == "ok"
    seen = upstream.requests[0]
    assert (seen.path, seen.query, seen.headers["api-key"]) == (
        path,
        {"api-version": "2024-10-21"},
        "azure-key",
    )
    assert "authorization" not in seen.headers


def test_refused_max_tokens_is_resent_as_max_completion_tokens(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    refusal = {
        "error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
    }
    events = run(
        service,
        upstream,
        Reply.json(refusal, 400),
        Reply.stream(openai_stream(["ok"])),
        parameters={"maxTokens": 16},
    )
    assert text(events) == "ok"
    first, second = (r.json for r in upstream.requests)
    assert first["max_tokens"] == 16 and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == 16 and "max_tokens" not in second


def test_refused_temperature_is_dropped_once(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    refusal = {
        "error": {
            "message": "Unsupported value: 'temperature' does not support 0.2 with this model. "
            "Only the default (1) value is supported."
        }
    }
    events = run(
        service,
        upstream,
        Reply.json(refusal, 400),
        Reply.stream(openai_stream(["ok"])),
        parameters={"temperature": 0.2},
    )
    assert text(events) == "ok"
    assert "temperature" not in upstream.requests[1].json


def test_an_unrelated_400_is_not_resent(service: ProviderService, upstream: FakeUpstream) -> None:
    events = run(
        service, upstream, Reply.json({"error": {"message": "messages must not be empty"}}, 400)
    )
    assert events[-1].data["code"] == BadRequest.code
    assert len(upstream.requests) == 1


# --- non-streaming ---------------------------------------------------------------------------


def test_non_streaming_chat_with_tool_calls_and_think_tags(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "<think>plan</think>\n\nCalling.",
                    "tool_calls": [
                        {
                            "id": "c9",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"x":1}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4},
    }
    upstream.script(PATH, Reply.json(body))
    result = service.chat(fake_config(upstream.url + "/v1"), "sk-test", user_request())
    assert result == {
        "message": {
            "role": "assistant",
            "content": "Calling.",
            "toolCalls": [{"id": "c9", "name": "f", "arguments": '{"x":1}'}],
            "reasoning": "plan",
        },
        "usage": {"inputTokens": 9, "outputTokens": 4, "source": "reported"},
        "finishReason": "tool_calls",
    }
    assert upstream.requests[0].json.get("stream") is None


def test_non_streaming_error_body_in_a_200_is_raised(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(
        PATH,
        Reply.json({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}),
    )
    with pytest.raises(RateLimited):
        service.chat(fake_config(upstream.url + "/v1"), "sk-test", user_request())


def test_list_models(service: ProviderService, upstream: FakeUpstream) -> None:
    upstream.script(
        "/v1/models", Reply.json({"object": "list", "data": [{"id": "a"}, {"id": "b"}]})
    )
    assert service.list_models(fake_config(upstream.url + "/v1"), "sk-test") == ["a", "b"]
    assert upstream.requests[0].headers["authorization"] == "Bearer sk-test"


def test_list_models_in_an_unknown_shape_is_invalid(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script("/v1/models", Reply.json({"hello": "world"}))
    with pytest.raises(InvalidResponse):
        service.list_models(fake_config(upstream.url + "/v1"), None)
