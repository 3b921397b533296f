"""A reply saved as it streams: in memory on the relay's hot path, in SQLite off it.

`ReplyRecorder.observe` is the relay's `on_batch`: it only appends the batch's text, reasoning
and tool calls under a short lock. `ReplySaver` is one thread that writes every reply that
changed, every `SAVE_INTERVAL` seconds (the contract asks for at least every second), so the
relay never waits for SQLite while text arrives. `ReplyRecorder.close` writes the end
(finishReason, usage, times, error) synchronously, before `done` is sent. Text goes through
`REDACTOR.redact()` on its way to the database: an upstream that echoes a key back must not get
it stored.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from backend.errors import MiaodaError
from backend.i18n import tr
from backend.models import ChatEvent
from backend.redact import REDACTOR
from backend.storage import ConversationStore

log = logging.getLogger("miaoda.chat")

SAVE_INTERVAL = 0.5  # seconds between saves of a reply that is still changing (contract: <= 1 s)


class ReplyRecorder:
    """One reply being written: what the relay saw of it, and its saves.

    `observe` runs on the relay's hot path and only appends under a short lock; `flush` (the
    saver thread) and `close` (the end) write to SQLite. `_save_lock` orders the writes, so a
    periodic save can never land after the final one and reopen the reply.
    """

    def __init__(self, store: ConversationStore, message_id: str) -> None:
        self.message_id = message_id
        self._store = store
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._tool_calls: list[dict[str, Any]] = []
        self._usage: dict[str, Any] | None = None
        self._error: dict[str, Any] | None = None
        self._dirty = False
        self._closed = False

    def observe(self, batch: list[ChatEvent]) -> None:
        """Take in one batch of provider events (the relay's `on_batch`)."""
        with self._lock:
            for event in batch:
                kind, data = event.kind, event.data
                if kind == "delta":
                    self._content.append(data["text"])
                elif kind == "reasoning":
                    self._reasoning.append(data["text"])
                elif kind == "tool_call":
                    self._tool_calls.append(
                        {"id": data["id"], "name": data["name"], "arguments": data["arguments"]}
                    )
                elif kind == "usage":
                    self._usage = dict(data)
                elif kind == "error":
                    self._error = {"code": data.get("code"), "message": data.get("message")}
            self._dirty = True

    def flush(self) -> None:
        """Save the partial reply if it changed since the last save (still "streaming")."""
        with self._save_lock:
            with self._lock:
                if self._closed or not self._dirty:
                    return
                self._dirty = False
                content, reasoning = "".join(self._content), "".join(self._reasoning)
                calls = list(self._tool_calls)
            self._store.save_reply(
                self.message_id,
                content=REDACTOR.redact(content),
                reasoning=REDACTOR.redact(reasoning),
                tool_calls=calls,
            )

    def close(self, record: dict[str, Any]) -> None:
        """The final save, from the relay's analytics record (finishReason, usage, times)."""
        with self._save_lock:
            with self._lock:
                self._closed = True
                content, reasoning = "".join(self._content), "".join(self._reasoning)
                calls = list(self._tool_calls)
                usage, error = self._usage, self._error
            self._close(
                content=content,
                reasoning=reasoning,
                tool_calls=calls,
                usage=usage or _usage_of(record),
                finish_reason=record.get("finishReason") or "cancelled",
                error=error,
                error_code=record.get("errorCode"),
                ttft_ms=record.get("ttftMs"),
                elapsed_ms=record.get("elapsedMs"),
            )

    def close_whole(self, result: dict[str, Any], elapsed_ms: int) -> None:
        """The save of a non-streamed answer (`POST /api/chat`)."""
        message = result["message"]
        with self._save_lock:
            self._closed = True
            self._close(
                content=message.get("content") or "",
                reasoning=message.get("reasoning") or "",
                tool_calls=message.get("toolCalls") or [],
                usage=result.get("usage"),
                finish_reason=result.get("finishReason") or "stop",
                error=None,
                error_code=None,
                ttft_ms=None,
                elapsed_ms=elapsed_ms,
            )

    def close_failed(self, error: MiaodaError, elapsed_ms: int | None = None) -> None:
        """Close a reply that failed before it could stream (the request never started)."""
        with self._save_lock:
            self._closed = True
            self._close(
                content="",
                reasoning="",
                tool_calls=[],
                usage=None,
                finish_reason="error",
                error={"code": error.code, "message": error.message},
                error_code=error.code,
                ttft_ms=None,
                elapsed_ms=elapsed_ms,
            )

    def _close(
        self,
        *,
        content: str,
        reasoning: str,
        tool_calls: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        finish_reason: str,
        error: dict[str, Any] | None,
        error_code: str | None,
        ttft_ms: int | None,
        elapsed_ms: int | None,
    ) -> None:
        if finish_reason == "error":
            vanished = tr("conversations.replyVanished")
            error = error or {"code": error_code or "INVALID_RESPONSE", "message": vanished}
            error = {
                "code": str(error.get("code") or "INTERNAL"),
                "message": REDACTOR.redact(str(error.get("message") or vanished)),
            }
        else:
            error = None
        self._store.save_reply(
            self.message_id,
            content=REDACTOR.redact(content),
            reasoning=REDACTOR.redact(reasoning),
            tool_calls=tool_calls,
            usage=usage,
            finish_reason=finish_reason,
            error=error,
            ttft_ms=ttft_ms,
            elapsed_ms=elapsed_ms,
        )


def _usage_of(record: dict[str, Any]) -> dict[str, Any] | None:
    if record.get("inputTokens") is None and record.get("outputTokens") is None:
        return None
    return {
        "inputTokens": record.get("inputTokens"),
        "outputTokens": record.get("outputTokens"),
        "source": record.get("usageSource"),
    }


class ReplySaver:
    """One thread that saves every changing reply every `interval` seconds, so the relay
    never waits for SQLite while text arrives. Started on first use; `close()` stops it."""

    def __init__(self, interval: float = SAVE_INTERVAL) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._replies: set[ReplyRecorder] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, reply: ReplyRecorder) -> None:
        with self._lock:
            self._replies.add(reply)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="reply-saver", daemon=True)
                self._thread.start()

    def remove(self, reply: ReplyRecorder) -> None:
        with self._lock:
            self._replies.discard(reply)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                replies = list(self._replies)
            for reply in replies:
                try:
                    reply.flush()
                except Exception:
                    # The next save (or the final one) tries again with the whole text.
                    log.exception("saving reply %s failed", reply.message_id)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread (the replies still open are saved by their own ends)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
