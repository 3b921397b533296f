"""`ProviderService`: the sync facade the rest of the app calls (server, bridge, manager, health).

Every method may be called from any thread except the provider loop's own. Failures raise
`UpstreamFailure` subclasses whose messages are safe to show (the key is never in them).
Health checks return what they found as a `HealthStatus` that is "healthy" when the provider
answered as asked and "unhealthy" with the error's code otherwise; what that means for the
provider's health (degraded when rate limited, slow, or its model missing from the list) is
decided in one place, `backend.health.rules.grade`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx

from backend.errors import (
    InternalError,
    MiaodaError,
    ModelNotFound,
    UpstreamFailure,
    UpstreamTimeout,
)
from backend.i18n import tr
from backend.models import (
    ChatMessage,
    ChatRequest,
    HealthStatus,
    ProviderConfig,
    utc_now,
)
from backend.providers.detect import detect
from backend.providers.factory import ProviderFactory
from backend.providers.proxies import SYSTEM_PROXY, ProxyChoice
from backend.providers.retry import RetryPolicy
from backend.providers.runtime import KeySwitch, Runtime
from backend.providers.stream import CONTENT_KINDS, ChatStream
from backend.providers.transport import ProviderTimeouts
from backend.providers.wire.base import Adapter, HttpCall, estimate_tokens, request_chars
from backend.providers.wire.errors import Origin, Purpose, invalid_response

# The connection test: one short message, a few tokens, stopped at the first one.
TEST_PROMPT = "Reply with one word: hello."
TEST_MAX_TOKENS = 16
# A connection test reports a long Retry-After rather than making the user wait it out.
_TEST_RETRY = RetryPolicy(max_retry_after=5.0)
# A health check is one attempt: its result should say how the provider is doing right now.
_NO_RETRY = RetryPolicy(max_retries=0)
# Receives each finished models check: (the caller's tag, its status, or None when cancelled).
Deliver = Callable[[int, HealthStatus | None], None]

log = logging.getLogger("miaoda.providers")


class ProviderService:
    """Streams, completes, tests and lists models for any provider config."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeouts: ProviderTimeouts | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        retry: RetryPolicy | None = None,
        factory: ProviderFactory | None = None,
        proxy: ProxyChoice = SYSTEM_PROXY,
    ) -> None:
        self._runtime = Runtime(
            transport=transport, timeouts=timeouts, sleep=sleep, retry=retry, proxy=proxy
        )
        self._factory = factory or ProviderFactory()

    def close(self) -> None:
        """Cancel running requests, close the HTTP client and stop the loop thread."""
        self._runtime.close()

    def set_proxy(self, proxy: ProxyChoice) -> None:
        """Send later requests through `proxy` (the `proxy` setting); requests in flight
        finish as they started."""
        self._runtime.set_proxy(proxy)

    def test_proxy(
        self, config: ProviderConfig, api_key: str | None, proxy: ProxyChoice, *, timeout: float
    ) -> tuple[int, str | None]:
        """List `config`'s models once through `proxy` (the shared client is not touched):
        the milliseconds it took and the proxy it went through (None: directly, as a loopback
        provider always does). Failures raise the mapped error."""
        adapter = self._factory.adapter(config)
        call = adapter.models_call(config, api_key)
        origin = _origin(call, config, api_key)
        started = time.perf_counter()
        via = self._runtime.probe(call, origin, proxy, timeout)
        return _ms_since(started), via

    def detect_provider(self, request: Any) -> dict[str, Any]:
        """Which API a pasted address (and key) leads to: `{candidates, attempts}`, best first
        (`backend.providers.detect`); INVALID_CONFIG for a request that cannot be read."""
        detection = detect(request, self._runtime.clients)
        return self._runtime.run(detection.run())

    def open_stream(
        self,
        config: ProviderConfig,
        api_key: str | None,
        request: ChatRequest,
        *,
        retry: RetryPolicy | None = None,
    ) -> ChatStream:
        """Start a streaming chat; read it with `next_batch`, stop it with `cancel`.

        A config with a key `rotation` moves to the provider's next usable key when its key
        fails before the first token. `retry` replaces the service's policy: `IN_ROUTE` for a
        member of a route (one attempt, no waits, failing at once when no key is usable).
        """
        return self._open(config, api_key, request, retry)

    def chat(
        self,
        config: ProviderConfig,
        api_key: str | None,
        request: ChatRequest,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """A complete (non-streamed) answer: `message`, `usage`, `finishReason`; `retry` as
        for `open_stream`."""
        adapter = self._factory.adapter(config)
        call = adapter.chat_call(config, api_key, request, stream=False)
        origin = _origin(call, config, api_key)
        keys = _key_switch(config, adapter, request, origin, stream=False)
        result = self._runtime.run(self._runtime.complete(call, adapter, origin, retry, keys))
        if result.usage is not None:
            usage = {
                "inputTokens": result.usage[0],
                "outputTokens": result.usage[1],
                "source": "reported",
            }
            if result.cached_input is not None:
                usage["cachedInputTokens"] = result.cached_input
        else:
            produced = len(result.content) + len(result.reasoning or "")
            produced += sum(len(c.name) + len(c.arguments) for c in result.tool_calls)
            usage = {
                "inputTokens": estimate_tokens(request_chars(request)),
                "outputTokens": estimate_tokens(produced),
                "source": "estimated",
            }
        return {
            "message": {
                "role": "assistant",
                "content": result.content,
                "toolCalls": [c.to_wire() for c in result.tool_calls],
                "reasoning": result.reasoning,
            },
            "usage": usage,
            "finishReason": result.finish_reason,
        }

    def test_connection(self, config: ProviderConfig, api_key: str | None) -> HealthStatus:
        """A real chat request stopped at its first token; raises the mapped error on failure."""
        request = ChatRequest(
            provider_id=config.id,
            messages=(ChatMessage("user", TEST_PROMPT),),
            parameters={"maxTokens": TEST_MAX_TOKENS},
        )
        # Errors advise on the provider's settings: a long conversation is not the problem here.
        stream = self._open(config, api_key, request, _TEST_RETRY, purpose="test")
        try:
            finished_at = _first_output_before(stream)  # no deadline: never None
        finally:
            stream.cancel()
        _checked(config, stream.error)
        if stream.error is not None:
            raise stream.error
        assert finished_at is not None
        return HealthStatus(
            provider_id=config.id,
            provider_name=config.name,
            status="healthy",
            last_checked=utc_now(),
            response_time=round((finished_at - stream.started) * 1000),
            http_status=200,
            check_kind="chat",
            model_available=True,
        )

    def list_models(self, config: ProviderConfig, api_key: str | None) -> list[str]:
        """Model ids from the provider's models endpoint."""
        return self._models(config, api_key, retries=True, timeout=None)

    def fetch_models_status(
        self, config: ProviderConfig, api_key: str | None, *, timeout: float
    ) -> HealthStatus:
        """One models-endpoint check, without retries, as a health status (never raises)."""
        started = time.perf_counter()
        try:
            ids = self._models(config, api_key, retries=False, timeout=timeout)
        except MiaodaError as error:  # an upstream failure, or a request refused before sending
            _checked(config, error)
            return _models_failure(config, error, started)
        _checked(config, None)
        return _models_listed(config, ids, started)

    def start_models_checks(
        self, deliver: Deliver, *, timeout: float, connect_timeout: float, concurrency: int
    ) -> ModelsChecks:
        """A batch of models-endpoint checks run together on the provider loop.

        Each check is one attempt of at most `timeout` seconds (connecting: `connect_timeout`),
        and at most `concurrency` run at once. See `ModelsChecks` for how results arrive.
        """
        return ModelsChecks(self, deliver, timeout, connect_timeout, concurrency)

    def fetch_chat_status(
        self, config: ProviderConfig, api_key: str | None, *, timeout: float
    ) -> HealthStatus:
        """The connection test as one health check: no retries, at most `timeout` s, never raises.

        For providers without a models endpoint; it costs a token or so.
        """
        request = ChatRequest(
            provider_id=config.id,
            messages=(ChatMessage("user", TEST_PROMPT),),
            parameters={"maxTokens": TEST_MAX_TOKENS},
        )
        started = time.perf_counter()
        try:
            stream = self._open(config, api_key, request, _NO_RETRY, purpose="test")
        except MiaodaError as error:
            return _chat_failure(config, error, started)
        try:
            finished = _first_output_before(stream, started + timeout)
        finally:
            stream.cancel()
        if finished is None:
            host = _origin_of(config).host
            late = UpstreamTimeout(tr("upstream.noAnswerWithin", host=host, seconds=f"{timeout:g}"))
            return _chat_failure(config, late, started)
        _checked(config, stream.error)
        if stream.error is not None:
            return _chat_failure(config, stream.error, started)
        return HealthStatus(
            provider_id=config.id,
            provider_name=config.name,
            status="healthy",
            last_checked=utc_now(),
            response_time=round((finished - started) * 1000),
            http_status=200,
            check_kind="chat",
            model_available=True,
        )

    async def _check_models(
        self, config: ProviderConfig, api_key: str | None, limits: httpx.Timeout, total: float
    ) -> HealthStatus:
        """One models check on the loop; every failure becomes a status."""
        started = time.perf_counter()
        try:
            adapter = self._factory.adapter(config)
            call = _bare(adapter.models_call(config, api_key))
            origin = _origin(call, config, api_key)
            try:
                async with asyncio.timeout(total):
                    payload = await self._runtime.fetch_json(call, origin, limits)
            except TimeoutError:
                raise UpstreamTimeout(
                    tr("upstream.noAnswerWithin", host=origin.host, seconds=f"{total:g}")
                ) from None
            ids = adapter.parse_models(payload)
            if ids is None:
                raise invalid_response(tr("upstream.received.modelList"), origin)
            ids = origin.redactor.drop_leaks(ids)  # as `_models` does
        except MiaodaError as error:
            if config.rotation is not None:
                await asyncio.to_thread(_checked, config, error)  # may save a key state
            return _models_failure(config, error, started)
        except Exception:
            log.exception("a models check of %s crashed", config.id)
            crash = InternalError(tr("providers.checkCrashed"))
            return _models_failure(config, crash, started)
        if config.rotation is not None:
            await asyncio.to_thread(_checked, config, None)
        return _models_listed(config, ids, started)

    def _open(
        self,
        config: ProviderConfig,
        api_key: str | None,
        request: ChatRequest,
        retry: RetryPolicy | None,
        purpose: Purpose = "chat",
    ) -> ChatStream:
        started = time.perf_counter()
        adapter = self._factory.adapter(config)
        call = adapter.chat_call(config, api_key, request, stream=True)
        origin = _origin(call, config, api_key)
        if purpose != origin.purpose:
            origin = dataclasses.replace(origin, purpose=purpose)
        chars = request_chars(request)
        # A check reports on the key it was given; only chats move on to another key.
        keys = None if purpose != "chat" else _key_switch(config, adapter, request, origin)
        return self._runtime.open_stream(call, adapter, origin, chars, retry, started, keys)

    def _models(
        self, config: ProviderConfig, api_key: str | None, *, retries: bool, timeout: float | None
    ) -> list[str]:
        adapter = self._factory.adapter(config)
        call = adapter.models_call(config, api_key)
        origin = _origin(call, config, api_key)
        payload = self._runtime.run(
            self._runtime.get_json(call, origin, retries=retries, timeout=timeout)
        )
        ids = adapter.parse_models(payload)
        if ids is None:
            raise invalid_response(tr("upstream.received.modelList"), origin)
        # Ids that echo the key or look like a credential are dropped (backend.redact).
        return origin.redactor.drop_leaks(ids)


class ModelsChecks:
    """Models-endpoint checks of many providers, running together on the provider loop.

    `submit` hands one check to the loop without waiting for it; a semaphore lets at most
    `concurrency` talk to providers at once while the rest wait their turn. Each finished
    check is handed to `deliver(tag, status)` on the loop thread, so `deliver` must not block
    (putting into a `queue.SimpleQueue` is the intended use); a check cancelled before it
    finished delivers None. `cancel` may be called from any thread, more than once.
    """

    def __init__(
        self,
        service: ProviderService,
        deliver: Deliver,
        timeout: float,
        connect_timeout: float,
        concurrency: int,
    ) -> None:
        self._service = service
        self._deliver = deliver
        self._total = timeout
        self._limits = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        # Made here but only ever used on the loop (it binds to the loop on first use).
        self._gate = asyncio.Semaphore(max(1, concurrency))
        self._tasks: set[asyncio.Task[None]] = set()  # touched on the loop thread only
        self._cancelled = False  # read and written on the loop thread only
        # One round trip now; later hand-offs are `call_soon_threadsafe` and never wait, which
        # matters when hundreds of checks are started while the loop is busy with the first.
        self._loop = service._runtime.run(_running_loop())

    def submit(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        """Start checking `config`; its result is delivered with `tag`."""
        self._soon(self._spawn, tag, config, api_key)

    def cancel(self) -> None:
        """Stop every unfinished check now (their connections close); safe from any thread."""
        self._soon(self._cancel_all)

    def _soon(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the provider layer has been closed
            if callback == self._spawn:
                self._deliver(args[0], None)

    def _spawn(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        if self._cancelled:
            self._deliver(tag, None)
            return
        task = self._loop.create_task(self._one(tag, config, api_key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        status: HealthStatus | None = None
        try:
            async with self._gate:
                status = await self._service._check_models(
                    config, api_key, self._limits, self._total
                )
        finally:
            self._deliver(tag, status)

    def _cancel_all(self) -> None:
        self._cancelled = True
        for task in list(self._tasks):
            task.cancel()


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _models_listed(config: ProviderConfig, ids: list[str], started: float) -> HealthStatus:
    """What a models check that got a list found (the model missing is an error code; the
    health rules decide what that means)."""
    listed = config.model in ids if ids else None
    missing = ModelNotFound(tr("providers.modelNotListed", model=config.model))
    return HealthStatus(
        provider_id=config.id,
        provider_name=config.name,
        status="unhealthy" if listed is False else "healthy",
        last_checked=utc_now(),
        response_time=_ms_since(started),
        error=missing.message if listed is False else None,
        error_code=missing.code if listed is False else None,
        http_status=200,
        check_kind="models",
        model_available=listed,
    )


def _models_failure(config: ProviderConfig, error: MiaodaError, started: float) -> HealthStatus:
    """What a models check that failed found."""
    return _failed(config, error, started, "models")


def _chat_failure(config: ProviderConfig, error: MiaodaError, started: float) -> HealthStatus:
    """What a chat-path check that failed found."""
    return _failed(config, error, started, "chat")


def _failed(
    config: ProviderConfig,
    error: MiaodaError,
    started: float,
    kind: Literal["models", "chat"],
) -> HealthStatus:
    return HealthStatus(
        provider_id=config.id,
        provider_name=config.name,
        status="unhealthy",
        last_checked=utc_now(),
        response_time=_ms_since(started),
        error=error.message,
        error_code=error.code,
        http_status=error.upstream_status,
        check_kind=kind,
    )


def _first_output_before(stream: ChatStream, deadline: float = math.inf) -> float | None:
    """`perf_counter()` of the first token, or of the end when none came (or it failed);
    None once `perf_counter()` passes `deadline`."""
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return None
        batch = stream.next_batch(min(left, 1.0))
        if batch is None:
            return time.perf_counter()
        for event in batch:
            if event.kind in CONTENT_KINDS:
                return stream.first_output or time.perf_counter()
            if event.kind in ("error", "done"):
                return time.perf_counter()


def _key_switch(
    config: ProviderConfig,
    adapter: Adapter,
    request: ChatRequest,
    origin: Origin,
    *,
    stream: bool = True,
) -> KeySwitch | None:
    """How a chat re-addresses itself to another key of the provider's pool, if it has one."""
    if config.rotation is None:
        return None

    def build(key: str) -> HttpCall:
        return adapter.chat_call(config, key, request, stream=stream)

    def origin_of(call: HttpCall, key: str) -> Origin:
        return dataclasses.replace(_origin(call, config, key), purpose=origin.purpose)

    return KeySwitch(config.rotation, build, origin_of, origin)


def _checked(config: ProviderConfig, error: MiaodaError | None) -> None:
    """Tell the key a check was made with how it went: a refusal marks it, a pass re-enables it."""
    rotation = config.rotation
    if rotation is None:
        return
    if error is None:
        rotation.succeeded()
    elif isinstance(error, UpstreamFailure):
        rotation.failed(error)


def _bare(call: HttpCall) -> HttpCall:
    """The call without headers that describe a body it does not have."""
    if call.body is not None or "content-type" not in call.headers:
        return call
    headers = {k: v for k, v in call.headers.items() if k != "content-type"}
    return dataclasses.replace(call, headers=headers)


def _origin_of(config: ProviderConfig) -> Origin:
    return Origin.of(config.chat_url, config.model, None)


def _origin(call: HttpCall, config: ProviderConfig, api_key: str | None) -> Origin:
    return Origin.of(call.url, config.model, api_key)


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
