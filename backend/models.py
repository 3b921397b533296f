"""Plain data shared by every layer (stdlib only): providers, health, chat.

Python attributes are snake_case; `to_wire()` gives the contract's camelCase objects.
Parameter dictionaries keep the contract's camelCase keys (`maxTokens`, `topP`, ...)
because they are wire data that adapters translate per protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from backend.errors import UpstreamFailure

ProviderType = Literal["openai-compatible", "anthropic-compatible", "custom"]
PROVIDER_TYPES: tuple[ProviderType, ...] = ("openai-compatible", "anthropic-compatible", "custom")
AuthScheme = Literal["bearer", "header", "query", "none"]
AUTH_SCHEMES: tuple[AuthScheme, ...] = ("bearer", "header", "query", "none")
PARAMETER_NAMES = ("temperature", "maxTokens", "topP", "frequencyPenalty", "presencePenalty")
SECRET_HEADER_WORDS = ("key", "token", "secret", "auth")
"""A custom header whose name contains one of these (ignoring case) carries a credential."""


def is_secret_header(name: str) -> bool:
    """Whether a custom header's value is a credential, kept in the secret store like a key.

    `Authorization` and `Proxy-Authorization` contain "auth", so the word list covers them.
    """
    lower = name.lower()
    return any(word in lower for word in SECRET_HEADER_WORDS)


def utc_now() -> str:
    """Current time as ISO 8601 UTC with a `Z`, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AuthConfig:
    """How the API key is sent: a bearer token, a named header, a query parameter, or not."""

    scheme: AuthScheme
    name: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scheme": self.scheme}
        if self.name is not None:
            out["name"] = self.name
        return out


def default_auth(provider_type: ProviderType) -> AuthConfig:
    """The contract's default auth per provider type."""
    if provider_type == "anthropic-compatible":
        return AuthConfig("header", "x-api-key")
    return AuthConfig("bearer")


CheckKind = Literal["models", "chat"]
CHECK_KINDS: tuple[CheckKind, ...] = ("models", "chat")
"""How the health schedule probes a provider: its model list (free) or a one-token chat."""

KeyState = Literal["active", "cooling", "invalid", "exhausted"]
KEY_STATES: tuple[KeyState, ...] = ("active", "cooling", "invalid", "exhausted")
MAX_KEYS = 32
"""At most this many keys per provider (CONTRACT §10)."""


@dataclass(frozen=True)
class ProviderKey:
    """One key of a provider's pool as the app may show it: never its text.

    `until` (ISO 8601 UTC) is when a `cooling` key may be used again, or when an `exhausted`
    one is tried again; `last_error` is the `{code, message}` of its last failure.
    """

    id: str
    hint: str | None
    state: KeyState = "active"
    until: str | None = None
    last_error: Mapping[str, str] | None = None
    last_used_at: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hint": self.hint,
            "state": self.state,
            "until": self.until,
            "lastError": dict(self.last_error) if self.last_error else None,
            "lastUsedAt": self.last_used_at,
        }


class KeyRotation(Protocol):
    """A request's way through its provider's key pool (backend.providers.keys.KeyCursor).

    Carried by the provider config a request is sent with, for sending only: the provider
    layer asks it for another key when one fails before the first token.
    """

    def failed(self, error: UpstreamFailure) -> bool:
        """Record that the current key's request failed; True when the key was at fault."""
        ...

    def advance(self) -> str | None:
        """Move to the next usable key this request has not tried; its text, or None (then
        `current` is None, except in a pool of one, which keeps its key)."""
        ...

    def soonest(self) -> tuple[float, bool] | None:
        """Seconds until the soonest cooling key may be used again, and whether the provider
        named that wait (False: a guessed default); None when none cools."""
        ...

    def take_soonest(self) -> str | None:
        """Move to the soonest cooling key (its wait is over); its text, or None."""
        ...

    def succeeded(self) -> None:
        """Record that a check with the current key passed."""
        ...

    def answered(self, ok: bool) -> Callable[[], None] | None:
        """Record in memory that the provider answered the current key's chat request (`ok`:
        with success); returns the disk write that is due, if any, to run off the loop."""
        ...

    def unusable(
        self, error: UpstreamFailure | None, soonest: tuple[float, bool] | None
    ) -> UpstreamFailure:
        """The error to end with when no key is usable (`error`: the last key failure)."""
        ...

    @property
    def current(self) -> str | None:
        """The id of the key the request is using now, or None."""
        ...


@dataclass(frozen=True)
class ProviderConfig:
    """A saved provider, as the store holds it (never with its key)."""

    id: str
    name: str
    display_name: str
    base_url: str
    model: str
    type: ProviderType
    auth: AuthConfig
    headers: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, float | int] = field(default_factory=dict)
    endpoints: Mapping[str, str] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    has_api_key: bool = False
    api_key_hint: str | None = None
    # Credential headers (see is_secret_header): name -> hint of the stored value, or None
    # when the header has no value yet. Their values live in the secret store only.
    secret_headers: Mapping[str, str | None] = field(default_factory=dict)
    # The key pool's keys in order (the first is `api_key_hint`'s); their state is live.
    keys: tuple[ProviderKey, ...] = ()
    # What a health check asks: `models` lists models (free; first-party APIs), `chat` sends
    # a one-token chat (gateways, which answer their model list from their own config).
    check_kind: CheckKind = "models"
    # Set only on a config about to be sent (CustomProviderManager.with_key): never stored.
    rotation: KeyRotation | None = field(default=None, compare=False, repr=False)

    @property
    def chat_url(self) -> str:
        """The exact URL chat requests go to (the contract's `requestURL`)."""
        return self.base_url + self._path("chat")

    @property
    def models_url(self) -> str:
        """The URL that lists models."""
        return self.base_url + self._path("models")

    def _path(self, kind: Literal["chat", "models"]) -> str:
        override = self.endpoints.get(kind)
        if override:
            return override
        return default_path(self.type, self.base_url, kind)

    def to_wire(self) -> dict[str, Any]:
        """The contract's provider object."""
        return {
            "id": self.id,
            **self.to_export(),
            "requestURL": self.chat_url,
            "hasApiKey": self.has_api_key,
            "apiKeyHint": self.api_key_hint,
            "secretHeaders": {
                name: {"hasValue": hint is not None, "hint": hint}
                for name, hint in self.secret_headers.items()
            },
            "keys": [key.to_wire() for key in self.keys],
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    def to_export(self) -> dict[str, Any]:
        """The provider as the export file carries it (docs/API.md, "Export file")."""
        return {
            "name": self.name,
            "displayName": self.display_name,
            "baseURL": self.base_url,
            "model": self.model,
            "type": self.type,
            # A credential header is listed by name only: its value is never in this form.
            "headers": {**self.headers, **dict.fromkeys(self.secret_headers)},
            "parameters": dict(self.parameters),
            "auth": self.auth.to_wire(),
            "endpoints": dict(self.endpoints),
            "checkKind": self.check_kind,
        }


def default_path(
    provider_type: ProviderType, base_url: str, kind: Literal["chat", "models"]
) -> str:
    """Contract URL rules: OpenAI wire appends to the versioned base; Anthropic adds `/v1` once."""
    if provider_type == "anthropic-compatible":
        prefix = "" if base_url.endswith("/v1") else "/v1"
        return prefix + ("/messages" if kind == "chat" else "/models")
    return "/chat/completions" if kind == "chat" else "/models"


HealthState = Literal["healthy", "degraded", "unhealthy", "unknown"]
HealthBasis = Literal["check", "chats"]


@dataclass(frozen=True)
class RecentChats:
    """What a provider's real chat requests saw lately (docs/HEALTH.md, "Real chats").

    `failures_in_a_row` counts the latest chats that failed with a provider-side error;
    `last_at` is when the latest counted chat ended (answered or failed); `last_error` the
    `(code, message)` of the latest chat when it failed (None once one answers) and
    `last_http_status` its HTTP status, when there was one.
    """

    failures_in_a_row: int = 0
    last_at: str | None = None
    last_error: tuple[str, str] | None = None
    last_http_status: int | None = None

    def to_wire(self) -> dict[str, Any]:
        error = self.last_error
        return {
            "failuresInARow": self.failures_in_a_row,
            "lastAt": self.last_at,
            "lastError": {"code": error[0], "message": error[1]} if error else None,
        }


NO_CHATS = RecentChats()


@dataclass(frozen=True)
class HealthStatus:
    """One provider's health, as docs/API.md ("Health status") shows it.

    A check's own result has `basis` "check" and no `recent_chats`; the monitor's statuses
    combine it with the provider's real chats (`backend.health.rules.combine`), which may
    decide the status instead (`basis` "chats").
    """

    provider_id: str
    provider_name: str
    status: HealthState = "unknown"
    last_checked: str | None = None
    response_time: int | None = None
    error: str | None = None
    error_code: str | None = None
    http_status: int | None = None
    check_kind: CheckKind | None = None
    model_available: bool | None = None
    basis: HealthBasis = "check"
    recent_chats: RecentChats | None = None

    @property
    def is_healthy(self) -> bool:
        return self.status == "healthy"

    def to_wire(self) -> dict[str, Any]:
        return {
            "providerId": self.provider_id,
            "providerName": self.provider_name,
            "isHealthy": self.is_healthy,
            "status": self.status,
            "lastChecked": self.last_checked,
            "responseTime": self.response_time,
            "error": self.error,
            "errorCode": self.error_code,
            "httpStatus": self.http_status,
            "checkKind": self.check_kind,
            "modelAvailable": self.model_available,
            "basis": self.basis,
            "recentChats": self.recent_chats.to_wire() if self.recent_chats else None,
        }


# --- chat -----------------------------------------------------------------------------

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call: `arguments` is the JSON text the model produced."""

    id: str
    name: str
    arguments: str

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat's history; `is_error` marks a `tool` result that is a failure
    (the Anthropic wire sends it as `is_error`)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class ChatRequest:
    """What the user asked for; `parameters` override the provider's own, and `model` (another
    model of the same provider) its `model`."""

    provider_id: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    parameters: Mapping[str, float | int] = field(default_factory=dict)
    model: str | None = None
    tool_servers: tuple[str, ...] = ()  # MCP servers whose tools the app offers and runs


@dataclass(frozen=True)
class ConversationTurn:
    """A validated chat request in the conversation form (docs/API.md, "Conversation form").

    `parent_given` tells an absent `parentId` (the current leaf) from `parentId: null` (a new
    root); `content` None means regenerate the reply to the parent. `tool_servers` None keeps
    the conversation's stored `toolServers`; a tuple replaces them.
    """

    conversation_id: str | None
    parent_id: str | None
    parent_given: bool
    content: str | None
    provider_id: str | None
    model: str | None
    parameters: Mapping[str, float | int] = field(default_factory=dict)
    tool_servers: tuple[str, ...] | None = None


# The contract's kinds, plus "retrying": internal, relayed as an SSE comment (see _channel).
EventKind = Literal[
    "start",
    "delta",
    "reasoning",
    "tool_call",
    "tool_approval",
    "tool_result",
    "usage",
    "error",
    "done",
    "retrying",
    "attempt",
]


@dataclass(frozen=True)
class ChatEvent:
    """One event of the contract's chat stream; `data` is already the wire object."""

    kind: EventKind
    data: Mapping[str, Any]
