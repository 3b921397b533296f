"""`LocalServer`: the Flask app served by waitress on 127.0.0.1, in a background thread.

waitress is a maintained, pure-Python WSGI server for Windows, macOS and Linux (why this one:
docs/DECISIONS.md). Its settings here are the app's limits (docs/API.md, "Limits"):

- a connection that sends nothing, or sits idle between requests, is closed after
  `IDLE_SECONDS` (checked every second), so sockets held open by another local process free
  themselves quickly;
- up to `CONNECTION_LIMIT` connections at once, far more than a window and a few scripts use,
  so a process holding a hundred idle sockets does not lock the window out even before they
  time out;
- a request look-ahead, which lets a streaming route ask `waitress.client_disconnected()` and
  stop an upstream request as soon as its client goes away;
- bodies over twice the app's own limit refused by waitress itself; smaller ones reach Flask,
  which answers over-limit bodies with the JSON envelope (413).
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger("miaoda.server")

IDLE_SECONDS = 8
CONNECTION_LIMIT = 500
# How long the server loop waits in poll()/select() before checking whether it should stop.
_LOOP_TIMEOUT = 0.5


class LocalServer:
    """Serves a WSGI app on 127.0.0.1; the port is bound at construction, `start()` serves."""

    def __init__(
        self, app: Flask, *, port: int = 0, threads: int = 32, max_body: int = 16 * 1024 * 1024
    ) -> None:
        self._server: Any = create_server(
            app,
            host="127.0.0.1",
            port=port,
            threads=threads,
            channel_request_lookahead=4,
            channel_timeout=IDLE_SECONDS,
            cleanup_interval=1,
            connection_limit=CONNECTION_LIMIT,
            max_request_body_size=2 * max_body,
            # poll() has no FD_SETSIZE ceiling; Windows has only select().
            asyncore_use_poll=hasattr(select, "poll"),
            ident="MiaoDa",
            clear_untrusted_proxy_headers=True,
            expose_tracebacks=False,
        )
        self.port: int = int(self._server.effective_port)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()

    def _run(self) -> None:
        # waitress's own run() loops until every socket is closed, and is stopped by closing
        # them through its wake-up pipe. That makes shutdown depend on the pipe still being
        # writable, and lets a worker thread that finishes late write its wake-up byte into a
        # descriptor number some other file has reused. So the loop here checks a flag, and
        # the pipe is closed only after every worker has finished (see stop()).
        server = self._server
        try:
            while not self._stopping.is_set():
                wasyncore.loop(
                    timeout=_LOOP_TIMEOUT,
                    map=server._map,
                    use_poll=server.adj.asyncore_use_poll,
                    count=1,
                )
        except Exception:
            log.exception("the HTTP server stopped with an error")
        finally:
            self._close_sockets()

    def _close_sockets(self) -> None:
        """Close the listening socket and every connection, but not the wake-up pipe."""
        server = self._server
        for dispatcher in list(server._map.values()):
            if dispatcher is server.trigger:
                continue
            with contextlib.suppress(OSError):
                if dispatcher is server:
                    # The server's own close() would also close the wake-up pipe.
                    wasyncore.dispatcher.close(dispatcher)
                else:
                    dispatcher.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, drop open connections (their streams see the client gone and
        cancel), wait for the workers, and join the thread."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread.is_alive():
            with contextlib.suppress(OSError):
                # Wakes the loop at once; without it, it notices the flag within _LOOP_TIMEOUT.
                self._server.trigger.pull_trigger()
            self._thread.join(timeout)
        else:
            self._close_sockets()  # never started, or its loop already ended
        self._server.task_dispatcher.shutdown(timeout=timeout)
        with contextlib.suppress(OSError):
            self._server.trigger.close()
