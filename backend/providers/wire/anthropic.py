"""The Anthropic Messages wire (`anthropic-compatible`).

Differences from the OpenAI wire handled here: `max_tokens` is required (4096 unless the provider
or request sets one), system messages travel in `system`, temperature tops out at 1 and no
penalties exist, tool calls are `tool_use` blocks and their results `tool_result` blocks inside a
user turn (consecutive ones merged; a failed result carries `is_error`), and the stream is a
sequence of typed events whose usage is cumulative.
"""

from __future__ import annotations

import json
from typing import Any

from backend.errors import UpstreamFailure
from backend.i18n import tr
from backend.models import ChatEvent, ChatMessage, ChatRequest, ProviderConfig, ToolCall
from backend.providers.wire.base import (
    ChatResult,
    Finish,
    HttpCall,
    ToolCallBuilder,
    arguments_text,
    build_call,
    merged_parameters,
    new_call_id,
    parse_json_data,
    tool_call_event,
    with_query,
)
from backend.providers.wire.errors import Origin, from_payload, invalid_response
from backend.providers.wire.openai import model_ids
from backend.providers.wire.sse import SSEEvent

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_STOP_REASONS = {
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "model_context_window_exceeded": "length",
}


class AnthropicAdapter:
    """Messages API requests and responses."""

    def chat_call(
        self, config: ProviderConfig, api_key: str | None, request: ChatRequest, *, stream: bool
    ) -> HttpCall:
        """The POST to `{baseURL}/v1/messages` (or the `endpoints.chat` override)."""
        system, messages = _wire_messages(request.messages)
        parameters = merged_parameters(config, request)
        body: dict[str, Any] = {
            "model": config.model,
            "max_tokens": int(parameters.get("maxTokens", DEFAULT_MAX_TOKENS)),
            "messages": messages,
        }
        if system:
            body["system"] = system
        if "temperature" in parameters:
            body["temperature"] = min(float(parameters["temperature"]), 1.0)
        elif "topP" in parameters:
            # Recent Claude models refuse temperature and top_p together; temperature wins.
            body["top_p"] = parameters["topP"]
        if request.tools:
            body["tools"] = [
                {
                    "name": t.name,
                    "description": t.description,
                    "input_schema": dict(t.parameters) or {"type": "object", "properties": {}},
                }
                for t in request.tools
            ]
        if stream:
            body["stream"] = True
        return build_call(config, api_key, config.chat_url, _headers(stream), body)

    def models_call(self, config: ProviderConfig, api_key: str | None) -> HttpCall:
        """The GET to `{baseURL}/v1/models`, asking for the largest page."""
        url = with_query(config.models_url, {"limit": "1000"})
        headers = {"accept": "application/json", "anthropic-version": API_VERSION}
        return build_call(config, api_key, url, headers, method="GET")  # no body: no content-type

    def decoder(self, origin: Origin) -> AnthropicStreamDecoder:
        """A decoder for one streamed message."""
        return AnthropicStreamDecoder(origin)

    def parse_chat(self, payload: Any, origin: Origin) -> ChatResult:
        """Read a `message` body."""
        blocks = payload.get("content") if isinstance(payload, dict) else None
        if not isinstance(blocks, list):
            raise invalid_response(tr("upstream.received.noContentBlocks"), origin)
        text, reasoning, calls = [], [], []
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                text.append(str(block.get("text", "")))
            elif kind == "thinking":
                reasoning.append(str(block.get("thinking", "")))
            elif kind == "tool_use":
                calls.append(
                    ToolCall(
                        str(block.get("id") or new_call_id()),
                        str(block.get("name", "")),
                        arguments_text(block.get("input")),
                    )
                )
        return ChatResult(
            content="".join(text),
            reasoning="".join(reasoning) or None,
            tool_calls=tuple(calls),
            finish_reason=stop_reason(payload.get("stop_reason")),
            usage=_usage(payload.get("usage"), None),
            cached_input=_cache_read(payload.get("usage")),
        )

    def parse_models(self, payload: Any) -> list[str] | None:
        """Ids from `{"data": [{"id": …}]}`."""
        return model_ids(payload)

    def repair(self, call: HttpCall, error: UpstreamFailure) -> HttpCall | None:
        """Nothing to repair on this wire."""
        return None


class AnthropicStreamDecoder:
    """Normalises `message_start` … `message_stop` events."""

    def __init__(self, origin: Origin) -> None:
        self.done = False
        self._origin = origin
        self._tools: dict[int, ToolCallBuilder] = {}
        self._streamed: set[int] = set()
        self._emitted = 0
        self._stop: str | None = None
        self._input: int | None = None
        self._output: int | None = None
        self._cached: int | None = None

    def feed(self, event: SSEEvent) -> list[ChatEvent]:
        """Events for one Anthropic stream event."""
        payload = parse_json_data(event.data, self._origin)
        if not isinstance(payload, dict):
            detail = tr("upstream.received.eventNotObject", data=event.data[:60])
            raise invalid_response(detail, self._origin)
        kind = payload.get("type") or event.event
        if kind == "error" or event.event == "error":
            raise from_payload(payload, self._origin)
        if kind == "content_block_delta":
            return self._delta(payload.get("index"), _object(payload.get("delta")))
        if kind == "content_block_start":
            return self._start(payload.get("index"), _object(payload.get("content_block")))
        if kind == "content_block_stop":
            index = payload.get("index")
            builder = self._tools.pop(index, None) if isinstance(index, int) else None
            return [self._emit(builder)] if builder else []
        if kind == "message_start":
            self._count(_object(payload.get("message")).get("usage"))
        elif kind == "message_delta":
            self._stop = _object(payload.get("delta")).get("stop_reason") or self._stop
            self._count(payload.get("usage"))
        elif kind == "message_stop":
            self.done = True
        return []

    def finish(self) -> Finish:
        """Tool calls never closed, the finish reason, the reported usage."""
        events = [self._emit(self._tools[i]) for i in sorted(self._tools)]
        self._tools.clear()
        usage = None
        if self._input is not None or self._output is not None:
            usage = (self._input or 0, self._output or 0)
        cached = self._cached if usage else None
        return Finish(events, stop_reason(self._stop, self._emitted > 0), usage, cached)

    def _start(self, index: Any, block: dict[str, Any]) -> list[ChatEvent]:
        kind = block.get("type")
        if kind == "tool_use" and isinstance(index, int):
            builder = ToolCallBuilder(str(block.get("id") or ""), str(block.get("name") or ""))
            if block.get("input"):
                builder.parts.append(json.dumps(block["input"], ensure_ascii=False))
            self._tools[index] = builder
        elif kind == "text" and block.get("text"):
            return [ChatEvent("delta", {"text": str(block["text"])})]
        elif kind == "thinking" and block.get("thinking"):
            return [ChatEvent("reasoning", {"text": str(block["thinking"])})]
        return []

    def _delta(self, index: Any, delta: dict[str, Any]) -> list[ChatEvent]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [ChatEvent("delta", {"text": str(delta["text"])})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [ChatEvent("reasoning", {"text": str(delta["thinking"])})]
        if kind == "input_json_delta" and isinstance(index, int) and index in self._tools:
            builder = self._tools[index]
            if index not in self._streamed:
                # Streamed arguments replace whatever input the block started with.
                self._streamed.add(index)
                builder.parts.clear()
            builder.parts.append(str(delta.get("partial_json") or ""))
        return []

    def _emit(self, builder: ToolCallBuilder) -> ChatEvent:
        event = tool_call_event(self._emitted, builder.build())
        self._emitted += 1
        return event

    def _count(self, usage: Any) -> None:
        counted = _usage(usage, self._input)
        if counted:
            self._input, self._output = counted
        cached = _cache_read(usage)
        if cached is not None:
            self._cached = cached


def _object(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: a field of the wrong type is absent."""
    return value if isinstance(value, dict) else {}


def stop_reason(raw: object, has_tool_calls: bool = False) -> str:
    """The contract's finish reason for an Anthropic `stop_reason`."""
    if isinstance(raw, str) and raw in _STOP_REASONS:
        return _STOP_REASONS[raw]
    return "tool_calls" if has_tool_calls else "stop"


def _cache_read(raw: Any) -> int | None:
    """`cache_read_input_tokens`: the part of the input (as `_usage` counts it) read from the
    prompt cache."""
    found = raw.get("cache_read_input_tokens") if isinstance(raw, dict) else None
    return found if type(found) is int and found >= 0 else None


def _usage(raw: Any, known_input: int | None) -> tuple[int, int] | None:
    # Input = uncached + cache writes + cache reads; message_delta may omit it (keep the known).
    if not isinstance(raw, dict):
        return None
    parts = [
        raw.get(k)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    counted = [p for p in parts if type(p) is int]  # not bool, which is an int too
    output = raw.get("output_tokens")
    total_input = sum(counted) if counted else known_input
    if total_input is None and type(output) is not int:
        return None
    return total_input or 0, output if type(output) is int else 0


def _headers(stream: bool) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        "anthropic-version": API_VERSION,
    }


def _wire_messages(messages: tuple[ChatMessage, ...]) -> tuple[str, list[dict[str, Any]]]:
    """The `system` text and the alternating turns, tool results merged into user turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            if message.content.strip():
                system.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue  # the API refuses empty turns
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(system), turns


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id or "",
            "content": message.content,
        }
        if message.is_error:
            block["is_error"] = True
        return [block]
    blocks: list[dict[str, Any]] = []
    if message.content.strip():
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": _tool_input(call)}
        )
    return blocks


def _tool_input(call: ToolCall) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
