"""The provider runtime: one event-loop thread, one pooled `httpx.AsyncClient`.

Why a loop thread in a threaded app: a sync httpx request blocked waiting for response headers
cannot be aborted from another thread, and the contract wants a client that goes away to close
the upstream request at once, even before the first byte. On asyncio, cancelling the request's
task closes its connection immediately. The sync world submits coroutines here and, for streams,
reads a `ChatStream` fed by the coroutine.

Retries (see `_with_retries`) happen inside the coroutines, and for streams only while no output
has been produced. A request sent with a key pool (`KeySwitch`) moves to the provider's next
usable key at once when its key fails (rate limited, refused, quota used up); with none left it
waits for the soonest cooling key as the retry policy allows (`RetryPolicy.key_wait`), or fails
with an error naming that wait (when the provider named it). A pool of one key keeps its key,
and the retry policy treats its failures as it treats a provider's without a pool. An adapter
may also `repair` a request (a few times at most) when the provider refused one of its fields.
A final rate limit that named no wait reports the latest wait an earlier answer to the same
request named.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx

from backend.errors import InternalError, UpstreamFailure, UpstreamTimeout
from backend.i18n import tr
from backend.models import ChatEvent, KeyRotation
from backend.providers.errors import from_transport
from backend.providers.proxies import SYSTEM_PROXY, VIA, ProxyChoice
from backend.providers.retry import RetryPolicy
from backend.providers.stream import (
    CANCELLED,
    RETRYING,
    Channel,
    ChatStream,
    UsageMeter,
    error_event,
)
from backend.providers.transport import (
    Exchange,
    ProviderTimeouts,
    SharedClient,
    drain,
    json_payload,
    probe_timeout,
)
from backend.providers.wire.base import (
    Adapter,
    ChatResult,
    HttpCall,
    StreamDecoder,
    tool_call_event,
)
from backend.providers.wire.errors import Origin, invalid_response, with_known_wait
from backend.providers.wire.sse import SSEEvent, SSEEventTooLarge, SSEParser
from backend.redact import install_log_filter, safe_url

log = logging.getLogger("miaoda.providers")
T = TypeVar("T")
_MAX_REPAIRS = 3


class KeySwitch:
    """Re-addresses a request to another key of its provider's pool.

    `build(key)` makes the request afresh for a key; its body is then replaced by the one the
    request has by now, so fields an adapter repaired stay repaired.
    """

    def __init__(
        self,
        rotation: KeyRotation,
        build: Callable[[str], HttpCall],
        origin_of: Callable[[HttpCall, str], Origin],
        origin: Origin,
    ) -> None:
        self.rotation = rotation
        self.origin = origin  # of the key in use: what messages may say, what to redact
        self._build = build
        self._origin_of = origin_of

    def to(self, call: HttpCall, key: str) -> HttpCall:
        """`call` sent with `key` instead."""
        fresh = dataclasses.replace(self._build(key), body=call.body)
        self.origin = self._origin_of(fresh, key)
        return fresh

    def answered(self, status: int) -> None:
        """The provider answered the key in use with `status`: recorded in memory at once (on
        the loop, so that it is there before the answer's first event); the disk write, when
        one is due, goes to a worker thread unawaited: the loop never waits on disk."""
        save = self.rotation.answered(status < 400)
        if save is not None:
            asyncio.get_running_loop().run_in_executor(None, _logged(save))


def _logged(save: Callable[[], None]) -> Callable[[], None]:
    """`save`, with a crash logged (nobody awaits it to see one)."""

    def run() -> None:
        try:
            save()
        except Exception:
            log.exception("saving the state of a key crashed")

    return run


class Runtime:
    """Owns the loop thread and the client; runs provider requests as coroutines."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeouts: ProviderTimeouts | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        retry: RetryPolicy | None = None,
        proxy: ProxyChoice = SYSTEM_PROXY,
    ) -> None:
        install_log_filter()
        self.timeouts = timeouts or ProviderTimeouts()
        self._stream_timeout = self.timeouts.for_stream()
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._retry = retry or RetryPolicy()
        self._loop = asyncio.new_event_loop()
        self._close_lock = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._run_loop, name="miaoda-providers", daemon=True)
        self._thread.start()
        self._clients = SharedClient(self._stream_timeout, transport=transport, proxy=proxy)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        """Cancel running requests, close the client and stop the loop thread (idempotent)."""
        with self._close_lock:
            if self._closing:
                return
            self._closing = True
        try:
            self.run(self._shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._clients.aclose()

    @property
    def clients(self) -> SharedClient:
        """The shared client in use, for requests that read answers of any status themselves
        (detection); used on the loop only."""
        return self._clients

    def set_proxy(self, proxy: ProxyChoice) -> None:
        """Send later requests through `proxy`; requests in flight finish where they started."""
        if proxy == self._clients.proxy or self._clients.fixed:
            return
        client = self._clients.build(proxy)  # here, not on the loop: reading the trust store
        self.run(self._clients.replace(proxy, client))

    def probe(
        self, call: HttpCall, origin: Origin, proxy: ProxyChoice, timeout: float
    ) -> str | None:
        """Send `call` through `proxy` on a client of its own (the shared one keeps its proxy)
        and read its JSON answer; the proxy it went through, None when it went directly."""
        clients = self._clients
        if not clients.fixed:
            clients = SharedClient(self._stream_timeout, proxy=proxy)
        try:
            return self.run(self._probe(call, origin, clients, timeout))
        finally:
            if clients is not self._clients:
                self.run(clients.aclose())

    async def _probe(
        self, call: HttpCall, origin: Origin, clients: SharedClient, timeout: float
    ) -> str | None:
        try:
            async with asyncio.timeout(timeout):
                async with self._send(call, origin, httpx.Timeout(timeout), clients) as answer:
                    await json_payload(answer, origin)
                    via: str | None = answer.request.extensions.get(VIA)
                    return via
        except TimeoutError:
            raise probe_timeout(origin, timeout) from None

    # --- streams ---------------------------------------------------------------------

    def open_stream(
        self,
        call: HttpCall,
        adapter: Adapter,
        origin: Origin,
        input_chars: int,
        retry: RetryPolicy | None = None,
        started: float | None = None,
        keys: KeySwitch | None = None,
    ) -> ChatStream:
        """Start streaming `call` on the loop; events arrive through the returned handle.

        `started` is when the caller began (for time to first token); default: now. `keys`:
        the request may move to another key of its provider (see `KeySwitch`).
        """
        started = time.perf_counter() if started is None else started
        channel, meter = Channel(), UsageMeter(input_chars)
        coro = self._stream(call, adapter, origin, channel, meter, retry or self._retry, keys)
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return ChatStream(channel, meter, future.cancel, started)

    async def _stream(
        self,
        call: HttpCall,
        adapter: Adapter,
        origin: Origin,
        channel: Channel,
        meter: UsageMeter,
        retry: RetryPolicy,
        keys: KeySwitch | None = None,
    ) -> None:
        async def attempt(current: HttpCall) -> None:
            sent_to = keys.origin if keys is not None else origin
            answered = keys.answered if keys is not None else None
            await self._stream_once(current, adapter, sent_to, channel, meter, answered)

        def waiting(error: UpstreamFailure, delay: float, number: int) -> None:
            notice = {
                "code": error.code,
                "message": error.message,
                "retryIn": round(delay, 1),
                "attempt": number,
                "attempts": retry.max_retries,
            }
            channel.put_many([ChatEvent(RETRYING, notice)])

        try:
            await self._with_retries(
                call, adapter, attempt, lambda: not meter.output_started, retry, waiting, keys
            )
        except UpstreamFailure as error:
            log.info("stream to %s failed: %s %s", origin.url, error.code, error.message)
            channel.close(error_event(error), error=error)
        except Exception as exc:
            # A bug of ours must still end the stream, or the UI would wait forever. The
            # traceback is redacted: an exception's text may quote a URL that holds the key.
            trace = "".join(traceback.format_exception(exc))
            log.error("stream to %s crashed:\n%s", origin.url, origin.redactor.text(trace))
            crash = InternalError(tr("providers.readCrashed"))
            channel.close(error_event(crash), error=crash)
        finally:
            channel.close(CANCELLED)  # no-op unless cancelled before any terminal

    async def _stream_once(
        self,
        call: HttpCall,
        adapter: Adapter,
        origin: Origin,
        channel: Channel,
        meter: UsageMeter,
        answered: Callable[[int], None] | None = None,
    ) -> None:
        decoder = adapter.decoder(origin)
        parser = SSEParser()
        seen = 0  # SSE events received: none at all means this was not a stream
        async with self._send(call, origin, self._stream_timeout) as response:
            if answered is not None:
                answered(response.status_code)
            kind: str = response.headers.get("content-type", "")
            if "json" in kind and "event-stream" not in kind:
                # A server that ignored `stream: true` answered in one piece: replay it.
                result = adapter.parse_chat(await json_payload(response, origin), origin)
                _publish_result(result, channel, meter)
                return
            if "html" in kind:
                raise invalid_response(tr("upstream.received.webPage"), origin)
            chunks = response.aiter_bytes()  # decompressed if it came compressed
            try:
                async for chunk in chunks:
                    found = parser.feed(chunk)
                    if not found:
                        continue
                    seen += len(found)
                    if len(found) == 1:  # the usual read: one event
                        events = decoder.feed(found[0])
                    else:
                        events = _decode_all(decoder, found, channel, meter)
                    if events:
                        meter.count(events)
                        channel.put_many(events)
                    if decoder.done:
                        break
                else:
                    found = parser.close()
                    seen += len(found)
                    events = _decode_all(decoder, found, channel, meter)
                    if events:
                        meter.count(events)
                        channel.put_many(events)
            except httpx.TransportError as exc:
                raise from_transport(exc, origin, mid_stream=True) from None
            except SSEEventTooLarge as exc:
                raise invalid_response(str(exc), origin) from None
            if not seen:
                raise invalid_response(tr("upstream.received.emptyAnswer"), origin)
            _publish_finish(decoder, channel, meter)
            if decoder.done:
                await drain(chunks)

    # --- one-shot requests -------------------------------------------------------------

    async def complete(
        self,
        call: HttpCall,
        adapter: Adapter,
        origin: Origin,
        retry: RetryPolicy | None = None,
        keys: KeySwitch | None = None,
    ) -> ChatResult:
        """A non-streaming chat completion, with retries (and other keys: see `KeySwitch`)."""

        async def attempt(current: HttpCall) -> ChatResult:
            sent_to = keys.origin if keys is not None else origin
            answered = keys.answered if keys is not None else None
            payload = await self.fetch_json(current, sent_to, self.timeouts.for_chat(), answered)
            return adapter.parse_chat(payload, sent_to)

        policy = retry or self._retry
        return await self._with_retries(call, adapter, attempt, lambda: True, policy, None, keys)

    async def get_json(
        self, call: HttpCall, origin: Origin, *, retries: bool, timeout: float | None = None
    ) -> Any:
        """GET-style request returning its JSON; `timeout` bounds the whole exchange."""
        limit = self.timeouts.for_stream() if timeout is None else httpx.Timeout(timeout)

        async def attempt(current: HttpCall) -> Any:
            return await self.fetch_json(current, origin, limit)

        work = self._with_retries(call, None, attempt, lambda: retries, self._retry)
        if timeout is None:
            return await work
        try:
            async with asyncio.timeout(timeout):
                return await work
        except TimeoutError:
            raise UpstreamTimeout(
                tr("upstream.noAnswerWithin", host=origin.host, seconds=f"{timeout:g}")
            ) from None

    async def fetch_json(
        self,
        call: HttpCall,
        origin: Origin,
        timeout: httpx.Timeout,
        answered: Callable[[int], None] | None = None,
    ) -> Any:
        """One request whose 2xx JSON body is returned; failures raise mapped errors.
        `answered` is told the status as soon as the provider answers."""
        async with self._send(call, origin, timeout) as response:
            if answered is not None:
                answered(response.status_code)
            return await json_payload(response, origin)

    # --- shared ----------------------------------------------------------------------

    async def _with_retries(
        self,
        call: HttpCall,
        adapter: Adapter | None,
        attempt: Callable[[HttpCall], Awaitable[T]],
        may_retry: Callable[[], bool],
        policy: RetryPolicy,
        on_retry: Callable[[UpstreamFailure, float, int], None] | None = None,
        keys: KeySwitch | None = None,
    ) -> T:
        retries, repairs = 0, 0
        known_wait: float | None = None  # the latest wait an answer asked for
        key_error: UpstreamFailure | None = None  # the key failure that left no usable key
        while True:
            if keys is not None and keys.rotation.current is None:
                call, retries = await self._next_cooled_key(
                    keys, call, policy, retries, key_error, on_retry
                )
            try:
                return await attempt(call)
            except UpstreamFailure as error:
                known_wait = error.retry_after or known_wait
                delay = None
                if may_retry():
                    fixed = None
                    if adapter is not None and repairs < _MAX_REPAIRS:
                        fixed = adapter.repair(call, error)
                    if fixed is not None:
                        log.info("resending to %s without a field it refused", safe_url(call.url))
                        call, repairs = fixed, repairs + 1
                        continue
                    # The key's state is saved by a worker thread: the loop never waits on disk.
                    if keys is not None and await asyncio.to_thread(keys.rotation.failed, error):
                        key = await asyncio.to_thread(keys.rotation.advance)
                        if key is not None:
                            log.info("%s with one key: trying the next key at once", error.code)
                            call = keys.to(call, key)
                            continue
                        if keys.rotation.current is None:
                            key_error = error
                            continue  # no key left: the top of the loop waits or fails
                        # A pool of one keeps its key: the policy decides, as without a pool.
                    delay = policy.delay(error, retries)
                if delay is None:
                    # A final rate limit that named no wait keeps the one an earlier answer named.
                    final = with_known_wait(error, known_wait)
                    if final is error:
                        raise
                    raise final from error
                retries += 1
                log.info(
                    "retry %d to %s in %.2f s after %s",
                    retries,
                    safe_url(call.url),
                    delay,
                    error.code,
                )
                if on_retry is not None:
                    on_retry(error, delay, retries)
                await self._sleep(delay)

    async def _next_cooled_key(
        self,
        keys: KeySwitch,
        call: HttpCall,
        policy: RetryPolicy,
        retries: int,
        error: UpstreamFailure | None,
        on_retry: Callable[[UpstreamFailure, float, int], None] | None,
    ) -> tuple[HttpCall, int]:
        """No key of the pool is usable: wait for the soonest cooling one when the policy
        allows, or raise the final error (naming that wait as `retryAfter`)."""
        soonest = keys.rotation.soonest()
        wait = policy.key_wait(soonest, retries)
        final = keys.rotation.unusable(error, soonest)
        if wait is None:
            raise final
        retries += 1
        log.info("retry %d to %s in %.2f s: waiting for a key", retries, safe_url(call.url), wait)
        if on_retry is not None:
            on_retry(error or final, wait, retries)
        await self._sleep(wait)
        key = await asyncio.to_thread(keys.rotation.take_soonest)
        if key is None:
            raise final
        return keys.to(call, key), retries

    def _send(
        self,
        call: HttpCall,
        origin: Origin,
        timeout: httpx.Timeout,
        clients: SharedClient | None = None,
    ) -> Exchange:
        log.debug("%s %s", call.method, origin.url)
        return Exchange(clients or self._clients, call, origin, timeout)


def _decode_all(
    decoder: StreamDecoder, found: list[SSEEvent], channel: Channel, meter: UsageMeter
) -> list[ChatEvent]:
    """Events for several SSE events; if one fails, those before it are still delivered.

    Until output has started, the first output is delivered as soon as it is decoded, before
    the rest of the read: a fast provider's first read may hold the whole answer, and the
    first token should not wait for it all to be decoded.
    """
    events: list[ChatEvent] = []
    try:
        for sse in found:
            events += decoder.feed(sse)
            if events and not meter.output_started:
                meter.count(events)
                channel.put_many(events)
                events = []
    except UpstreamFailure:
        meter.count(events)
        channel.put_many(events)
        raise
    return events


def _publish_finish(decoder: StreamDecoder, channel: Channel, meter: UsageMeter) -> None:
    finish = decoder.finish()
    meter.count(finish.events)
    meter.reported, meter.cached = finish.usage, finish.cached_input
    usage = ChatEvent("usage", meter.wire())
    channel.close(
        ChatEvent("done", {"finishReason": finish.finish_reason}), [*finish.events, usage]
    )


def _publish_result(result: ChatResult, channel: Channel, meter: UsageMeter) -> None:
    events = [ChatEvent("reasoning", {"text": result.reasoning})] if result.reasoning else []
    if result.content:
        events.append(ChatEvent("delta", {"text": result.content}))
    events += [tool_call_event(i, call) for i, call in enumerate(result.tool_calls)]
    meter.count(events)
    meter.reported, meter.cached = result.usage, result.cached_input
    usage = ChatEvent("usage", meter.wire())
    channel.close(ChatEvent("done", {"finishReason": result.finish_reason}), [*events, usage])
