"""The local HTTP server: the frontend's files, `/api/rpc`, the chat routes and their guards.

`create_app` builds the Flask app; `LocalServer` runs it under waitress on 127.0.0.1 in a
thread. Guards (contract section 5), in this order for every request: the Host must name this
loopback port (a defence against DNS rebinding), a present Origin must be the app's own, and
every `/api/` request must carry the token. No CORS header is ever sent, so other sites can
neither read answers nor send JSON to the API.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, Response, request, send_from_directory
from werkzeug.exceptions import HTTPException

from backend.bridge import RPC_METHODS, Bridge
from backend.errors import InternalError, InvalidConfig, MiaodaError, NotFound, Unauthorized

log = logging.getLogger("miaoda.server")

TOKEN_HEADER = "X-MiaoDa-Token"  # noqa: S105 - a header name, not a secret
MAX_BODY_BYTES = 16 * 1024 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)


class ChatGateway(Protocol):
    """What the chat routes need: a validated stream of SSE bytes, or one whole answer."""

    def stream(self, body: Any, is_disconnected: Callable[[], bool]) -> Iterator[bytes]: ...

    def complete(self, body: Any) -> dict[str, Any]: ...


def envelope_response(err: MiaodaError, status: int | None = None) -> Response:
    """A JSON error envelope with the error's HTTP status."""
    body = json_bytes({"success": False, "error": err.to_dict()})
    return Response(body, status=status or err.http_status, mimetype="application/json")


def create_app(
    bridge: Bridge,
    *,
    token: str,
    frontend_dir: Path,
    chat: ChatGateway | None = None,
    stopping: threading.Event | None = None,
) -> Flask:
    """Build the Flask app around one bridge (without native dialogs)."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    stop_event = stopping or threading.Event()

    def own_origins() -> set[str]:
        port = request.environ.get("SERVER_PORT", "")
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    @app.before_request
    def guard() -> Response | None:
        hosts = own_origins()
        if request.host not in hosts:
            return _forbidden("This address is not MiaoDa Chat's; open the link the app printed.")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in hosts}:
            return _forbidden("Requests from other sites are refused.")
        if request.path.startswith("/api/"):
            given = request.headers.get(TOKEN_HEADER, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return envelope_response(Unauthorized())
            if request.method != "POST":
                return envelope_response(
                    InvalidConfig("The API takes POST requests only."), status=405
                )
            if request.mimetype != "application/json":
                return envelope_response(
                    InvalidConfig("Send the body as application/json."), status=415
                )
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if request.path.startswith("/api/") or request.path == "/":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        status = err.code or 500
        if status == 413:
            return envelope_response(
                InvalidConfig(f"The request is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB."),
                status=413,
            )
        if request.path.startswith("/api/"):
            message = "No such API route." if status == 404 else (err.description or "Bad request.")
            return envelope_response(InvalidConfig(message), status=status)
        return Response(err.description or "Not found.", status=status, mimetype="text/plain")

    @app.errorhandler(MiaodaError)
    def app_error(err: MiaodaError) -> Response:
        return envelope_response(err)

    @app.errorhandler(Exception)
    def crash(err: Exception) -> Response:
        log.exception("unhandled error on %s", request.path)
        return envelope_response(InternalError())

    @app.post("/api/rpc/<method>")
    def rpc(method: str) -> Response:
        if method not in RPC_METHODS:
            return envelope_response(NotFound(f"There is no API method named {method[:64]}."))
        args = _json_body()
        if not isinstance(args, list):
            return envelope_response(
                InvalidConfig(
                    "The body must be a JSON array of the method's arguments.",
                    fields={"arguments": ["Must be an array."]},
                )
            )
        result = getattr(bridge, method)(*args)
        return Response(json_bytes(result), mimetype="application/json")

    @app.post("/api/chat/stream")
    def chat_stream() -> Response:
        if chat is None:
            return envelope_response(InternalError("Chat is not available in this build."))
        body = _json_body()
        disconnected = request.environ.get("waitress.client_disconnected")

        def gone() -> bool:
            return stop_event.is_set() or bool(disconnected and disconnected())

        try:
            events = chat.stream(body, gone)
        except MiaodaError as err:
            return envelope_response(err)
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return Response(
            events, mimetype="text/event-stream", headers=headers, direct_passthrough=True
        )

    @app.post("/api/chat")
    def chat_once() -> Response:
        if chat is None:
            return envelope_response(InternalError("Chat is not available in this build."))
        try:
            result = {"success": True, **chat.complete(_json_body())}
        except MiaodaError as err:
            return envelope_response(err)
        return Response(json_bytes(result), mimetype="application/json")

    @app.get("/")
    def index() -> Response:
        return send_from_directory(frontend_dir, "index.html")

    @app.get("/<path:filename>")
    def static_file(filename: str) -> Response:
        # send_from_directory joins safely: `..` and absolute paths give 404.
        return send_from_directory(frontend_dir, filename)

    return app


def json_bytes(value: Any) -> bytes:
    """JSON as UTF-8, non-ASCII text kept as is; a lone surrogate (see chat.wire_bytes), which
    UTF-8 cannot carry, makes the whole document fall back to ASCII escapes."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value).encode()


def _json_body() -> Any:
    try:
        return json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise _BadJson() from None


class _BadJson(InvalidConfig):
    default_message = "The request body is not valid JSON."


def _forbidden(message: str) -> Response:
    err = Unauthorized(message)
    return envelope_response(err, status=403)


# How long the server loop waits in select() before checking whether it should stop.
_LOOP_TIMEOUT = 0.5


class LocalServer:
    """Runs a WSGI app under waitress on 127.0.0.1 in a background thread."""

    def __init__(self, app: Flask, *, port: int = 0, threads: int = 32) -> None:
        from waitress.server import create_server

        self._server = create_server(
            app,
            host="127.0.0.1",
            port=port,
            threads=threads,
            # A look-ahead lets waitress notice a vanished client while a response streams.
            channel_request_lookahead=4,
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
        from waitress import wasyncore

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
        from waitress import wasyncore

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
        """Stop accepting, drop open connections, wait for the workers, and join the thread."""
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
