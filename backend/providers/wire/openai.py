"""The OpenAI Chat Completions wire, spoken by OpenAI and most other providers.

Quirks absorbed here: the usage chunk with empty `choices` (asked for with
`stream_options.include_usage`), usage under `x_groq`, tool-call deltas keyed by `index` whose
`id` and `name` come once (or the `id` never), arguments sent as objects, reasoning as
`reasoning_content` (DeepSeek) or `reasoning` (vLLM, OpenRouter) or inline `<think>` tags, an
error object inside a 200 stream, and a stream that ends without `[DONE]`.
"""

from __future__ import annotations

import re
from typing import Any

from backend.errors import BadRequest, UpstreamFailure
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
)
from backend.providers.wire.errors import (
    Origin,
    error_object,
    from_payload,
    invalid_response,
    provider_said,
)
from backend.providers.wire.sse import SSEEvent
from backend.providers.wire.think import ThinkSplitter

_OPTIONAL = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_REFUSAL = re.compile(r"unsupported|not supported|does not support|unrecognized|unknown|extra")
_PARAMETERS = (
    ("temperature", "temperature"),
    ("maxTokens", "max_tokens"),
    ("topP", "top_p"),
    ("frequencyPenalty", "frequency_penalty"),
    ("presencePenalty", "presence_penalty"),
)


class OpenAIAdapter:
    """Chat Completions requests and responses (`openai-compatible` and `custom`)."""

    def chat_call(
        self, config: ProviderConfig, api_key: str | None, request: ChatRequest, *, stream: bool
    ) -> HttpCall:
        """The POST to `{baseURL}/chat/completions` (or the `endpoints.chat` override)."""
        body: dict[str, Any] = {
            "model": config.model,
            "messages": [_wire_message(m) for m in request.messages],
        }
        parameters = merged_parameters(config, request)
        for name, wire in _PARAMETERS:
            if name in parameters:
                body[wire] = parameters[name]
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": _drop_empty(
                        {
                            "name": t.name,
                            "description": t.description,
                            "parameters": dict(t.parameters),
                        }
                    ),
                }
                for t in request.tools
            ]
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        accept = "text/event-stream" if stream else "application/json"
        headers = {"content-type": "application/json", "accept": accept}
        return build_call(config, api_key, config.chat_url, headers, body)

    def models_call(self, config: ProviderConfig, api_key: str | None) -> HttpCall:
        """The GET to `{baseURL}/models`."""
        headers = {"accept": "application/json"}
        return build_call(config, api_key, config.models_url, headers, method="GET")

    def decoder(self, origin: Origin) -> OpenAIStreamDecoder:
        """A decoder for one streamed completion."""
        return OpenAIStreamDecoder(origin)

    def parse_chat(self, payload: Any, origin: Origin) -> ChatResult:
        """Read a `chat.completion` body."""
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise invalid_response(tr("upstream.received.noChoices"), origin)
        # A field of the wrong type counts as absent, as in the stream decoder.
        message = _object(choices[0].get("message"))
        splitter = ThinkSplitter()
        pieces = splitter.feed(_text(message.get("content"))) + splitter.flush()
        reasoning = _reasoning(message) + "".join(t for k, t in pieces if k == "reasoning")
        items = message.get("tool_calls")
        calls = tuple(
            ToolCall(
                str(item.get("id") or new_call_id()),
                str(_object(item.get("function")).get("name") or ""),
                arguments_text(_object(item.get("function")).get("arguments")),
            )
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict)
        )
        return ChatResult(
            content="".join(t for k, t in pieces if k == "delta"),
            reasoning=reasoning or None,
            tool_calls=calls,
            finish_reason=finish_reason(choices[0].get("finish_reason"), bool(calls)),
            usage=_usage(payload.get("usage")),
            cached_input=_cached(payload.get("usage")),
        )

    def parse_models(self, payload: Any) -> list[str] | None:
        """Ids from `{"data": [{"id": …}]}` (or the `models`/bare-list shapes some servers use)."""
        return model_ids(payload)

    def repair(self, call: HttpCall, error: UpstreamFailure) -> HttpCall | None:
        """The request without what the server refused, or None when nothing can be dropped.

        Newer OpenAI models want `max_completion_tokens` and only their default temperature;
        strict servers refuse `stream_options` (usage is then estimated).
        """
        if not isinstance(error, BadRequest) or call.body is None:
            return None
        body, said = dict(call.body), provider_said(error).lower()
        if "max_completion_tokens" in said and "max_tokens" in body:
            body["max_completion_tokens"] = body.pop("max_tokens")
        elif "stream_options" in said and "stream_options" in body:
            del body["stream_options"]
        else:
            refused = [p for p in _OPTIONAL if p in body and p in said and _REFUSAL.search(said)]
            if not refused:
                return None
            for name in refused:
                del body[name]
        return HttpCall(call.method, call.url, call.headers, body)


class OpenAIStreamDecoder:
    """Normalises `chat.completion.chunk` events."""

    def __init__(self, origin: Origin) -> None:
        self.done = False
        self._origin = origin
        self._think = ThinkSplitter()
        self._calls: dict[int, ToolCallBuilder] = {}
        self._emitted = 0
        self._finish: str | None = None
        self._usage: tuple[int, int] | None = None
        self._cached: int | None = None

    def feed(self, event: SSEEvent) -> list[ChatEvent]:
        """Events for one chunk."""
        data = event.data
        if data[:1] != "{" and data.strip() == "[DONE]":
            self.done = True
            return []
        payload = parse_json_data(data, self._origin)
        if type(payload) is not dict or "error" in payload or event.event == "error":
            if event.event == "error" or error_object(payload):
                raise from_payload(payload, self._origin)
            if type(payload) is not dict:
                detail = tr("upstream.received.chunkNotObject", data=data[:60])
                raise invalid_response(detail, self._origin)
        if "usage" in payload or "x_groq" in payload:
            groq = payload.get("x_groq")
            usage = payload.get("usage") or (groq.get("usage") if type(groq) is dict else None)
            self._usage = _usage(usage) or self._usage
            self._cached = _cached(usage) if usage else self._cached
        choices = payload.get("choices")
        if not choices or type(choices) is not list or type(choices[0]) is not dict:
            return []
        choice = choices[0]
        delta = choice.get("delta") or choice.get("message")
        out: list[ChatEvent] = []
        if delta and type(delta) is dict:
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning and type(reasoning) is str:
                out.append(ChatEvent("reasoning", {"text": reasoning}))
            content = delta.get("content")
            if content:
                if type(content) is str and self._think.passthrough:
                    out.append(ChatEvent("delta", {"text": content}))  # the hot path
                else:
                    out += [ChatEvent(k, {"text": t}) for k, t in self._think.feed(_text(content))]
            if delta.get("tool_calls"):
                self._collect(delta["tool_calls"])
        if choice.get("finish_reason"):
            self._finish = str(choice["finish_reason"])
            out += self._complete()
        return out

    def finish(self) -> Finish:
        """Tool calls and held text not yet sent, the finish reason, the reported usage."""
        events = self._complete()
        reason = finish_reason(self._finish, self._emitted > 0)
        return Finish(events, reason, self._usage, self._cached if self._usage else None)

    def _complete(self) -> list[ChatEvent]:
        out = [ChatEvent(kind, {"text": text}) for kind, text in self._think.flush()]
        for key in sorted(self._calls):
            out.append(tool_call_event(self._emitted, self._calls[key].build()))
            self._emitted += 1
        self._calls.clear()
        return out

    def _collect(self, deltas: Any) -> None:
        for item in deltas if isinstance(deltas, list) else []:
            if not isinstance(item, dict):
                continue
            call_id = item.get("id") or ""
            index = item.get("index")
            key = index if isinstance(index, int) else self._key_without_index(call_id)
            builder = self._calls.setdefault(key, ToolCallBuilder())
            function = item.get("function")
            if not isinstance(function, dict):
                function = {}
            builder.id = builder.id or str(call_id)
            builder.name = builder.name or str(function.get("name") or "")
            arguments = function.get("arguments")
            if arguments is not None:
                builder.parts.append(
                    arguments if isinstance(arguments, str) else arguments_text(arguments)
                )

    def _key_without_index(self, call_id: str) -> int:
        # Without an index, a new id means a new call and no id continues the last one.
        for key, builder in self._calls.items():
            if call_id and builder.id == call_id:
                return key
        if call_id or not self._calls:
            return max(self._calls, default=-1) + 1
        return max(self._calls)


def finish_reason(raw: object, has_tool_calls: bool) -> str:
    """The contract's finish reason for an OpenAI-style one."""
    if raw in ("length", "max_tokens"):
        return "length"
    if raw in ("tool_calls", "function_call") or has_tool_calls:
        return "tool_calls"
    return "stop"


def model_ids(payload: Any) -> list[str] | None:
    """Model ids from the shapes model-list endpoints use; None for an unknown shape."""
    items = payload
    if isinstance(payload, dict):
        items = payload.get("data", payload.get("models"))
    if not isinstance(items, list):
        return None
    ids = (
        i if isinstance(i, str) else i.get("id") or i.get("name")
        for i in items
        if isinstance(i, str | dict)
    )
    return [str(i) for i in ids if i]


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id or "",
            "content": message.content,
        }
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def _object(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _reasoning(delta: dict[str, Any]) -> str:
    value = delta.get("reasoning_content") or delta.get("reasoning")
    return value if isinstance(value, str) else ""


def _text(content: Any) -> str:
    # Some servers send content as a list of typed parts rather than a string.
    if isinstance(content, list):
        texts = (p.get("text") for p in content if isinstance(p, dict))
        return "".join(t for t in texts if isinstance(t, str))
    return content if isinstance(content, str) else ""


def _usage(raw: Any) -> tuple[int, int] | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if type(prompt) is not int or type(completion) is not int:  # bool is an int too
        return None
    return prompt, completion


def _cached(raw: Any) -> int | None:
    """Cached prompt tokens, part of `prompt_tokens`: OpenAI's and most servers'
    `prompt_tokens_details.cached_tokens`, or DeepSeek's `prompt_cache_hit_tokens`."""
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details")
    found = details.get("cached_tokens") if isinstance(details, dict) else None
    if type(found) is not int:
        found = raw.get("prompt_cache_hit_tokens")
    return found if type(found) is int and found >= 0 else None


def _drop_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in ("", None)}
