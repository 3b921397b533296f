"""The WSGI side of `backend.server.httpd`: a WSGI app (Flask) run on a thread pool.

A request is handed to a worker thread; the app's answer comes back to the event loop one
call at a time (`loop.call_soon_threadsafe`), where the connection's `Responder` writes it.
A worker waits while more than 256 KB are queued for the loop or the socket's buffer is full,
so a client that reads slowly holds the app back instead of filling memory. The environ
carries `miaoda.client_disconnected`, a callable that turns true once the client is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

from backend.server.httpd import Request, Responder

log = logging.getLogger("miaoda.httpd")

_QUEUED_LIMIT = 256 * 1024  # bytes a WSGI worker may have waiting for the loop


class ClientGone(Exception):
    """The client closed the connection while a WSGI app was still answering."""


class WsgiHandler:
    """Runs a WSGI app on a thread pool; its answer is written by the loop."""

    def __init__(self, app: Callable[..., Iterable[bytes]], threads: int) -> None:
        self._app = app
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http-worker")
        self.port = 0

    def __call__(self, request: Request, responder: Responder) -> None:
        loop = asyncio.get_running_loop()
        self._pool.submit(self._run, loop, request, _ThreadSide(loop, responder))

    def shutdown(self, timeout: float) -> None:
        """Wait up to `timeout` s for running apps; queued ones are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for thread in list(getattr(self._pool, "_threads", ())):
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, loop: asyncio.AbstractEventLoop, request: Request, side: _ThreadSide) -> None:
        environ = wsgi_environ(request, self.port, side)
        state: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info and side.head_sent:
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = int(status.split(" ", 1)[0]), headers
            return side.write

        result: Iterable[bytes] = ()
        try:
            result = self._app(environ, start_response)
            if isinstance(result, (list, tuple)) and len(result) <= 1:
                side.whole(state["status"], state["headers"], b"".join(result))
            else:
                for chunk in result:
                    if chunk:
                        if not side.head_sent:
                            side.head(state["status"], state["headers"])
                        side.write(chunk)
                if not side.head_sent:
                    side.head(state["status"], state["headers"])
                side.end()
        except ClientGone:
            pass
        except Exception:
            log.exception("the app failed on %s", request.path[:200])
            side.fail()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()


class _ThreadSide:
    """A Responder as seen from a worker thread: each call is queued onto the loop.

    Flow control: a worker waits while more than `_QUEUED_LIMIT` bytes wait for the loop, or
    while the socket's buffer is full, so a client that reads slowly holds the app back
    instead of filling memory.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, responder: Responder) -> None:
        self._loop = loop
        self._responder = responder
        self._room = threading.Condition()
        self._queued = 0
        self._paused = False
        self.head_sent = False

    def gone(self) -> bool:
        return self._responder.gone

    def head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.head_sent = True
        self._call(self._responder.start, status, headers)

    def whole(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.head_sent = True
        self._call(self._start_and_end, status, headers, body)

    def write(self, data: bytes) -> None:
        if not self.head_sent:
            raise RuntimeError("write() before the status was set")
        with self._room:
            while self._paused or self._queued > _QUEUED_LIMIT:
                if self.gone():
                    raise ClientGone
                self._room.wait(0.5)
            self._queued += len(data)
        if self.gone():
            raise ClientGone
        self._call(self._write, data)

    def end(self) -> None:
        self._call(self._responder.end)

    def fail(self) -> None:
        def broken() -> None:
            if not self._responder.started:
                self._responder.start(
                    500, [("Content-Type", "text/plain"), ("Content-Length", "0")]
                )
            self._responder._conn.must_close = True
            self._responder.end()

        self._call(broken)

    def _start_and_end(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self._responder.start(status, headers, body=body)
        self._responder.end()

    def _write(self, data: bytes) -> None:
        self._responder.write(data)
        with self._room:
            self._queued -= len(data)
            if not self._responder.writable and not self._responder.gone:
                self._paused = True
                self._responder.on_writable(self._resume)
            self._room.notify_all()

    def _resume(self) -> None:
        with self._room:
            self._paused = False
            self._room.notify_all()

    def _call(self, func: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(func, *args)
        except RuntimeError:
            raise ClientGone from None  # the loop is closed: the server stopped


def wsgi_environ(request: Request, port: int, side: _ThreadSide) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of a request."""
    path = unquote_to_bytes(request.path).decode("latin-1")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": request.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": request.version,
        "REMOTE_ADDR": request.peer[0],
        "REMOTE_PORT": str(request.peer[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "miaoda.client_disconnected": side.gone,
    }
    for name, value in request.headers:
        if "_" in name:
            continue
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]}, {value}" if key in environ else value
    environ.setdefault("CONTENT_LENGTH", str(len(request.body)))
    return environ
