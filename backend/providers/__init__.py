"""The provider layer: every LLM request the app makes goes through here (the only httpx user).

    ProviderService      sync facade: open_stream, chat, test_connection, list_models,
                         fetch_models_status, set_proxy, test_proxy, close
    ChatStream           handle over one running stream: next_batch, cancel, usage
    ProviderTimeouts     connect/read/write/pool seconds
    RetryPolicy          the SDK-style retry rules; IN_ROUTE: one attempt, no waits
    KeyPools, KeyCursor  key pools: rotation and key states (CONTRACT §10)
    ProviderFactory      adapters by provider type, and ready configs for built-in presets
    get_templates()      the provider templates shown in the "add provider" form

Inside: `wire/` (pure protocol code, no I/O: the OpenAI and Anthropic adapters, the SSE parser,
inline `<think>` splitting, and what a provider said as error codes), `errors` (connection
failures as error codes), `retry`, `stream` (the producer → consumer hand-off), `proxies`
(which proxy a request goes through: the `proxy` setting), `transport` (the shared
`httpx.AsyncClient` on httpx's own transport, TLS, one exchange) and `runtime` (the event-loop
thread that owns the client), with `service` the facade on top.
"""

from backend.providers.factory import ProviderFactory
from backend.providers.keys import KeyCursor, KeyPools
from backend.providers.retry import IN_ROUTE, RetryPolicy
from backend.providers.service import ProviderService
from backend.providers.stream import ChatStream
from backend.providers.templates import get_template, get_templates
from backend.providers.transport import ProviderTimeouts, Transport

__all__ = [
    "IN_ROUTE",
    "ChatStream",
    "KeyCursor",
    "KeyPools",
    "ProviderFactory",
    "ProviderService",
    "ProviderTimeouts",
    "RetryPolicy",
    "Transport",
    "get_template",
    "get_templates",
]
