"""`BackgroundWrites`: disk writes that must happen but that no request should wait for.

A route's member that fails before answering changes its circuit, its health record of real
chats and the usage records; each of those is a SQLite commit with a disk sync. The next
member's request is already on its way by then, and its first token must not wait behind
them: the in-memory state changes at once (so the next request sees it), and the write goes
to this one background thread, in order. `drain()` waits for what was handed in (the app
calls it before it closes the database).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger("miaoda.background")

Write = Callable[[], None]


class BackgroundWrites:
    """One thread running the writes handed to `submit`, in the order they came."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="miaoda-writes")
        self._lock = threading.Lock()
        self._last: Future[None] | None = None
        self._closed = False

    def submit(self, write: Write) -> None:
        """Run `write` soon on the writer thread; after `close`, run it here and now."""
        with self._lock:
            if not self._closed:
                self._last = self._pool.submit(_logged, write)
                return
        _logged(write)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every write handed in so far is done; False if that took too long."""
        with self._lock:
            last = self._last
        if last is None:
            return True
        try:
            last.result(timeout)
        except TimeoutError:
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Finish the writes handed in; later ones run on the caller's thread."""
        with self._lock:
            self._closed = True
        if not self.drain(timeout):
            log.warning("background writes did not finish within %g s", timeout)
        self._pool.shutdown(wait=False)


def _logged(write: Write) -> None:
    try:
        write()
    except Exception:
        # A lost write only costs a restart's memory of a count; the chat must go on.
        log.exception("a background write failed")
