"""What every wire-protocol adapter provides, and the request pieces they share.

An adapter is pure translation, with no I/O: it turns a `ChatRequest` into an `HttpCall`, a
provider's SSE events into contract events (through a `StreamDecoder`), and a non-streaming
body into a `ChatResult`. The runtime does the sending, retrying and cancelling.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from backend import __version__
from backend.errors import InvalidConfig, UpstreamFailure
from backend.i18n import tr
from backend.models import ChatEvent, ChatRequest, ProviderConfig, ToolCall
from backend.providers.wire.errors import Origin, invalid_response
from backend.providers.wire.sse import SSEEvent

USER_AGENT = f"MiaoDa-Chat/{__version__}"
# Header names the provider's own `headers` may not set: the transport owns them.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class HttpCall:
    """One prepared HTTP request; `url` may hold the key (query auth), so never log it."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Finish:
    """How a stream ended: its last events, the contract finish reason, reported usage."""

    events: list[ChatEvent]
    finish_reason: str
    usage: tuple[int, int] | None
    cached_input: int | None = None  # the part of the input read from the provider's cache


@dataclass(frozen=True)
class ChatResult:
    """A complete, non-streamed answer."""

    content: str
    reasoning: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: tuple[int, int] | None = None
    cached_input: int | None = None  # the part of the input read from the provider's cache


class StreamDecoder(Protocol):
    """Turns one provider's SSE events into contract events."""

    @property
    def done(self) -> bool:
        """True once the provider's end-of-stream marker arrived."""
        ...

    def feed(self, event: SSEEvent) -> list[ChatEvent]:
        """Events for one SSE event; raises `UpstreamFailure` for an error event."""
        ...

    def finish(self) -> Finish:
        """Complete what is pending at end of stream."""
        ...


class Adapter(Protocol):
    """One wire protocol."""

    def chat_call(
        self, config: ProviderConfig, api_key: str | None, request: ChatRequest, *, stream: bool
    ) -> HttpCall:
        """The HTTP request for a chat completion."""
        ...

    def models_call(self, config: ProviderConfig, api_key: str | None) -> HttpCall:
        """The HTTP request that lists models."""
        ...

    def decoder(self, origin: Origin) -> StreamDecoder:
        """A fresh decoder for one stream."""
        ...

    def parse_chat(self, payload: Any, origin: Origin) -> ChatResult:
        """Read a non-streaming chat body."""
        ...

    def parse_models(self, payload: Any) -> list[str] | None:
        """Model ids from a models body; None when its shape is unknown."""
        ...

    def repair(self, call: HttpCall, error: UpstreamFailure) -> HttpCall | None:
        """A corrected request when `error` says the provider refused a field, else None."""
        ...


def build_call(
    config: ProviderConfig,
    api_key: str | None,
    url: str,
    defaults: Mapping[str, str],
    body: dict[str, Any] | None = None,
    method: str = "POST",
) -> HttpCall:
    """Protocol headers, then the provider's headers, then auth (which nothing may override).

    Raises `InvalidConfig` naming the endpoint when `url` leaves the base URL (see
    `check_under_base`), before a key is attached to it.
    """
    check_under_base(config, url)
    headers = {"user-agent": USER_AGENT, **defaults}
    for name, value in config.headers.items():
        if name.lower() not in _RESERVED:
            headers[name.lower()] = value
    if api_key and config.auth.scheme == "bearer":
        headers["authorization"] = f"Bearer {api_key}"
    elif api_key and config.auth.scheme == "header":
        headers[(config.auth.name or "x-api-key").lower()] = api_key
    elif api_key and config.auth.scheme == "query":
        url = with_query(url, {config.auth.name or "key": api_key})
    return HttpCall(method, url, headers, body)


_ENCODED_DOT_OR_SLASH = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def check_under_base(config: ProviderConfig, url: str) -> None:
    """Refuse `url` unless it has the base URL's scheme and host and a path under its path.

    The schema already refuses endpoint paths that could leave the base URL; this is the
    second line, for a provider stored before that rule or by other means. Paths are compared
    as the most lenient server would read them (see `_effective_path`), so a key is never sent
    outside the base URL's path, whatever the server does with `..`, `%2e` or `\\`.
    """
    base, target = urlsplit(config.base_url), urlsplit(url)
    base_path, path = _effective_path(base.path), _effective_path(target.path)
    if (target.scheme, target.netloc) == (base.scheme, base.netloc) and (
        path == base_path or path.startswith(base_path.rstrip("/") + "/")
    ):
        return
    kinds = [
        kind
        for kind, resolved in (("chat", config.chat_url), ("models", config.models_url))
        if config.endpoints.get(kind) and urlsplit(resolved)[:3] == target[:3]
    ]
    advice = tr("providers.endpoint.advice")
    problem = tr("providers.endpoint.leadsOutside", advice=advice)
    fields = {f"endpoints.{k}": [problem] for k in kinds}
    # Both when the two overrides are the same path (the URL cannot tell which one it is).
    if len(kinds) == 1:
        message = tr("providers.endpoint.oneLeadsOutside", endpoint=kinds[0], advice=advice)
    elif len(kinds) == 2:
        message = tr("providers.endpoint.bothLeadOutside", advice=advice)
    else:
        message = tr("providers.endpoint.urlLeadsOutside", advice=advice)
    raise InvalidConfig(message, fields=fields or {"_schema": [problem]})


def _effective_path(path: str) -> str:
    """`path` as a lenient server could read it: %2e, %2f and %5c decoded, `\\` as `/`, empty
    segments dropped, then `.` and `..` (also `..;x`) resolved; never above the root."""
    text = _ENCODED_DOT_OR_SLASH.sub(lambda m: chr(int(m.group(1), 16)), path)
    kept: list[str] = []
    for segment in text.replace("\\", "/").split("/"):
        name = segment.partition(";")[0]
        if name == "..":
            if kept:
                kept.pop()
        elif name not in ("", "."):
            kept.append(segment)
    return "/" + "/".join(kept)


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` in its query string, replacing any of the same name."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


def merged_parameters(config: ProviderConfig, request: ChatRequest) -> dict[str, float | int]:
    """The provider's parameters with the request's overrides on top."""
    return {**config.parameters, **request.parameters}


def estimate_tokens(chars: int) -> int:
    """A token estimate for text of `chars` characters (about four per token)."""
    return (chars + 3) // 4


def request_chars(request: ChatRequest) -> int:
    """How much text a request sends, for estimating its input tokens."""
    total = sum(
        len(t.name) + len(t.description) + len(json.dumps(t.parameters)) for t in request.tools
    )
    for message in request.messages:
        total += len(message.content)
        total += sum(len(c.name) + len(c.arguments) for c in message.tool_calls)
    return total


def new_call_id() -> str:
    """An id for a tool call whose provider sent none."""
    return "call_" + uuid.uuid4().hex[:24]


def arguments_text(value: Any) -> str:
    """Tool-call arguments as JSON text: objects are dumped, empty text becomes `{}`."""
    if isinstance(value, str):
        return value if value.strip() else "{}"
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def tool_call_event(index: int, call: ToolCall) -> ChatEvent:
    """The contract's `tool_call` event."""
    return ChatEvent("tool_call", {"index": index, **call.to_wire()})


_decode_json = json.JSONDecoder().decode  # json.loads minus its per-call argument checks


def parse_json_data(data: str, origin: Origin) -> Any:
    """JSON of one SSE data field, or INVALID_RESPONSE."""
    try:
        return _decode_json(data)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to decode
        raise invalid_response(tr("upstream.received.notJson", data=data[:80]), origin) from None


@dataclass
class ToolCallBuilder:
    """A tool call streamed in pieces: id and name once, arguments in fragments."""

    id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)

    def build(self) -> ToolCall:
        """The finished call (with a synthesized id when the provider sent none)."""
        return ToolCall(self.id or new_call_id(), self.name, arguments_text("".join(self.parts)))
