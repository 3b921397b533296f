"""Run `backend.chat.relay.sse_events` as the server does, on a thread of its own, and keep what
it yields: the chat relay's tests read its bytes without an HTTP connection in between."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from backend.chat.relay import sse_events
from backend.providers import ChatStream, ProviderService


class RelayRun:
    """One relay body iterated into memory; the "client" can leave whenever a test says so."""

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
        del service  # the relay needs only the stream; kept for the callers' symmetry
        self.chunks: list[bytes] = []
        self.ended = threading.Event()
        self.left_at: float | None = None
        self._gone = threading.Event()
        self._leave_when = leave_when
        self._lock = threading.Lock()
        provider_id, model, request_id = ids
        self._body = sse_events(
            stream,
            provider_id=provider_id,
            model=model,
            request_id=request_id,
            is_disconnected=self._gone.is_set,
            heartbeat=heartbeat,
            on_finish=on_finish,
        )
        if leave_after is not None:
            timer = threading.Timer(leave_after, self.leave)
            timer.daemon = True
            timer.start()
        threading.Thread(target=self._serve, name="relay-run", daemon=True).start()

    def _serve(self) -> None:
        # As a WSGI server does: iterate, stop writing once the client is gone, always close.
        try:
            for chunk in self._body:
                if self._gone.is_set():
                    break
                with self._lock:
                    self.chunks.append(chunk)
                    chunks = list(self.chunks)
                if self._leave_when is not None and self._leave_when(chunks):
                    self.leave()
        finally:
            self._body.close()  # type: ignore[attr-defined]
            self.ended.set()

    # --- the test's side -----------------------------------------------------------------

    def leave(self) -> None:
        """The client goes away now."""
        if self.left_at is None:
            self.left_at = time.monotonic()
        self._gone.set()

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
