"""Run `backend.chat.PushRelay` as the server does, on the provider loop, and keep what it
writes: the chat relay's tests read its bytes without an HTTP connection in between."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from backend.chat.relay import PushRelay
from backend.providers import ChatStream, ProviderService


class RelayRun:
    """One relay writing into memory; the "client" can leave whenever a test says so."""

    def __init__(
        self,
        service: ProviderService,
        stream: ChatStream,
        *,
        heartbeat: float = 15.0,
        on_finish: Callable[[dict[str, Any]], None] | None = None,
        leave_when: Callable[[list[bytes]], bool] | None = None,
        leave_after: float | None = None,
        ids: tuple[str, str, str] = ("prov-1", "fake-model", "req-1"),
    ) -> None:
        self.chunks: list[bytes] = []
        self.ended = threading.Event()
        self.left_at: float | None = None
        self.writable = True
        self._loop = service.loop
        self._leave_when = leave_when
        self._lock = threading.Lock()
        provider_id, model, request_id = ids

        async def begin() -> PushRelay:
            relay = PushRelay(
                stream,
                self,
                provider_id=provider_id,
                model=model,
                request_id=request_id,
                heartbeat=heartbeat,
                on_finish=on_finish,
            )
            relay.start()
            if leave_after is not None:
                asyncio.get_running_loop().call_later(leave_after, self._leave_now)
            return relay

        self._relay = asyncio.run_coroutine_threadsafe(begin(), self._loop).result(5)

    # --- the sink (called on the loop) --------------------------------------------------

    def on_writable(self, callback: Callable[[], None]) -> None:
        self._loop.call_soon(callback)

    def write(self, data: bytes) -> None:
        with self._lock:
            self.chunks.append(data)
        if self._leave_when is not None and self._leave_when(self.chunks):
            self._loop.call_soon(self._leave_now)

    def end(self, data: bytes = b"") -> None:
        if data:
            with self._lock:
                self.chunks.append(data)
        self.ended.set()

    # --- the test's side -----------------------------------------------------------------

    def leave(self) -> None:
        """The client goes away now (from the test thread)."""
        self._loop.call_soon_threadsafe(self._leave_now)

    def _leave_now(self) -> None:
        if self.left_at is None:
            self.left_at = time.monotonic()
        self._relay.client_gone()

    def wait(self, timeout: float = 10.0) -> list[bytes]:
        """Everything written once the relay ended (AssertionError if it did not)."""
        assert self.ended.wait(timeout), "the relay did not end"
        with self._lock:
            return list(self.chunks)

    def wait_for_chunks(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """The first `count` chunks, once written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.chunks) >= count:
                    return list(self.chunks[:count])
            time.sleep(0.005)
        raise AssertionError(f"fewer than {count} chunks within {timeout} s")
