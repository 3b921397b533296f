"""The provider layer: every LLM request the app makes goes through here (the only httpx user).

    ProviderService      sync facade: open_stream, chat, test_connection, list_models,
                         fetch_models_status, close
    ChatStream           handle over one running stream: next_batch (another thread),
                         on_ready + take_now (the loop), cancel, usage
    ProviderTimeouts     connect/read/write/pool seconds
    RetryPolicy          the SDK-style retry rules
    ProviderFactory      adapters by provider type, and ready configs for built-in presets
    get_templates()      the provider templates shown in the "add provider" form

Inside: `_sse` (the SSE parser), `_openai` and `_anthropic` (the wire protocols, pure
translation), `_think` (inline reasoning tags), `_h1` (the client's HTTP/1.1 transport, and
proxies) over `_net` (its asyncio connections), `_errors` (status/body/exception to contract
codes), `_retry`, `_redact` (keys out of text and logs), `_channel` (the producer → consumer
hand-off), `_http` (one exchange over the shared client) and `_runtime` (the event-loop thread
that owns the pooled `httpx.AsyncClient`), with `_service` the facade on top.
"""

from backend.providers.factory import ProviderFactory
from backend.providers.retry import RetryPolicy
from backend.providers.service import ProviderService
from backend.providers.stream import ChatStream
from backend.providers.templates import get_template, get_templates
from backend.providers.transport import ProviderTimeouts, Transport

__all__ = [
    "ChatStream",
    "ProviderFactory",
    "ProviderService",
    "ProviderTimeouts",
    "RetryPolicy",
    "Transport",
    "get_template",
    "get_templates",
]
