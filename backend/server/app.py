"""The local HTTP server: the frontend's files, `/api/rpc`, the chat routes and their guards.

`create_app` builds the Flask app; `LocalServer` serves it on 127.0.0.1 with `backend.server.httpd`,
on the provider event loop, where `ChatStreamRoute` answers `POST /api/chat/stream` itself so
a stream's bytes go from the upstream socket to the client's in one thread. Guards (contract
section 5, `refusal()`), in this order for every request: the Host must name this loopback port
(a defence against DNS rebinding), a present Origin must be the app's own, and every `/api/`
request must carry the token. No CORS header is ever sent, so other sites can neither read
answers nor send JSON to the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, Response, request, send_from_directory
from werkzeug.exceptions import HTTPException

from backend.bridge import RPC_METHODS, Bridge
from backend.chat.relay import PushRelay, cancelled_record
from backend.chat.service import OpenedStream
from backend.errors import InternalError, InvalidConfig, MiaodaError, NotFound, Unauthorized
from backend.server import httpd
from backend.server.httpd_wsgi import WsgiHandler

log = logging.getLogger("miaoda.server")

TOKEN_HEADER = "X-MiaoDa-Token"  # noqa: S105 - a header name, not a secret
MAX_BODY_BYTES = 16 * 1024 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


def refusal(
    *,
    host: str,
    origin: str | None,
    path: str,
    method: str,
    given_token: str,
    mimetype: str,
    port: str,
    token: str,
) -> tuple[int, MiaodaError] | None:
    """Why a request is refused (its status and error), or None: the guards, in order."""
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    if host not in hosts:
        return 403, Unauthorized(
            "This address is not MiaoDa Chat's; open the link the app printed."
        )
    if origin is not None and origin not in {f"http://{h}" for h in hosts}:
        return 403, Unauthorized("Requests from other sites are refused.")
    if path.startswith("/api/"):
        if not hmac.compare_digest(given_token.encode(), token.encode()):
            return 401, Unauthorized()
        if method != "POST":
            return 405, InvalidConfig("The API takes POST requests only.")
        if mimetype != "application/json":
            return 415, InvalidConfig("Send the body as application/json.")
    return None


class ChatGateway(Protocol):
    """What the chat routes need: a started stream, or one whole answer."""

    @property
    def heartbeat(self) -> float: ...

    def open(self, body: Any) -> OpenedStream: ...

    def open_remembered(self, body: Any) -> OpenedStream | None: ...

    def complete(self, body: Any) -> dict[str, Any]: ...

    def record(self, record: dict[str, Any]) -> None: ...


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
) -> Flask:
    """Build the Flask app around one bridge (without native dialogs)."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.before_request
    def guard() -> Response | None:
        refused = refusal(
            host=request.host,
            origin=request.headers.get("Origin"),
            path=request.path,
            method=request.method,
            given_token=request.headers.get(TOKEN_HEADER, ""),
            mimetype=request.mimetype,
            port=request.environ.get("SERVER_PORT", ""),
            token=token,
        )
        return None if refused is None else envelope_response(refused[1], status=refused[0])

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS:
            response.headers[name] = value
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
    return _parse_json(request.get_data(cache=False))


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise _BadJson() from None


class _BadJson(InvalidConfig):
    default_message = "The request body is not valid JSON."


_UNPARSED = object()
# Bodies up to this size are parsed on the loop (a few tens of µs); larger ones on a worker.
_LOOP_BODY_BYTES = 64 * 1024


class ChatStreamRoute:
    """`POST /api/chat/stream`, answered on the event loop (see `backend.chat.PushRelay`).

    The guards run on the loop (they only compare strings); parsing the body, validating it
    and reading the provider and its key happen on a worker thread, because they touch the
    database and the secret store. That worker also starts the upstream request, so the
    request is on its way while the answer's head is being written.
    """

    def __init__(self, chat: ChatGateway, *, token: str, threads: int = 8) -> None:
        self._chat = chat
        self._token = token
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chat-open")
        # One writer for the analytics records, waited for at close so none is lost.
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-record")

    def __call__(self, request: httpd.Request, responder: httpd.Responder) -> None:
        mimetype = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        refused = refusal(
            host=request.header("host") or "",
            origin=request.header("origin"),
            path=request.path,
            method=request.method,
            given_token=request.header(TOKEN_HEADER.lower()) or "",
            mimetype=mimetype,
            port=str(request.port),
            token=self._token,
        )
        if refused is not None:
            _send_envelope(responder, refused[1], refused[0])
            return
        body: Any = _UNPARSED
        if len(request.body) <= _LOOP_BODY_BYTES:
            # Small bodies are parsed and validated here; a remembered provider starts at once.
            try:
                body = _parse_json(request.body)
                opened = self._chat.open_remembered(body)
            except MiaodaError as err:
                _send_envelope(responder, err, err.http_status)
                return
            if opened is not None:
                # The upstream request has left already (on a kept connection; else it leaves
                # on the stream task's first step, after a connect that takes far longer).
                self._relay(opened, responder)
                return
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(self._pool, self._open, request.body, body)
        opening.add_done_callback(lambda done: self._opened(done, responder))

    def close(self) -> None:
        """Stop the workers and write the records still queued (call after the connections
        were dropped, so that the streams they cancelled are recorded too)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._recorder.shutdown(wait=True)

    def _open(self, raw: bytes, body: Any) -> OpenedStream:
        return self._chat.open(_parse_json(raw) if body is _UNPARSED else body)

    def _opened(self, done: asyncio.Future[OpenedStream], responder: httpd.Responder) -> None:
        if done.cancelled():
            responder.end()
            return
        err = done.exception()
        if err is not None:
            if not isinstance(err, MiaodaError):
                log.error("opening a chat stream failed", exc_info=err)
                err = InternalError()
            _send_envelope(responder, err, err.http_status)
            return
        opened = done.result()
        if responder.gone:
            opened.stream.cancel()
            record = cancelled_record(
                opened.stream,
                request_id=opened.request_id,
                provider_id=opened.provider_id,
                model=opened.model,
            )
            self._record_later(record)
            return
        self._relay(opened, responder)

    def _record_later(self, record: dict[str, Any]) -> None:
        """Store the analytics record on a worker: a database write must not hold the loop."""
        try:
            self._recorder.submit(self._chat.record, record)
        except RuntimeError:  # the server has stopped: keep the record anyway
            self._chat.record(record)

    def _relay(self, opened: OpenedStream, responder: httpd.Responder) -> None:
        headers = [
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("X-Accel-Buffering", "no"),
            *SECURITY_HEADERS,
        ]
        responder.start(200, headers)
        relay = PushRelay(
            opened.stream,
            responder,
            provider_id=opened.provider_id,
            model=opened.model,
            request_id=opened.request_id,
            heartbeat=self._chat.heartbeat,
            on_finish=self._record_later,
        )
        responder.on_gone(relay.client_gone)
        relay.start()


def _send_envelope(responder: httpd.Responder, err: MiaodaError, status: int) -> None:
    body = json_bytes({"success": False, "error": err.to_dict()})
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *SECURITY_HEADERS,
    ]
    responder.start(status, headers, body=body)
    responder.end()


def _error_body(err: httpd.HttpError, request: httpd.Request | None) -> tuple[bytes, str]:
    """What the HTTP layer's own refusals say: the JSON envelope on `/api/`, else text."""
    if request is not None and request.path.startswith("/api/"):
        envelope = {"success": False, "error": InvalidConfig(err.message).to_dict()}
        return json_bytes(envelope), "application/json"
    return err.message.encode(), "text/plain; charset=utf-8"


class LocalServer:
    """Serves a WSGI app, and native routes, on 127.0.0.1 from an asyncio event loop.

    Give it the provider layer's loop so that native routes share it; without one it runs its
    own loop thread. The port is bound at construction; `start()` begins accepting.
    """

    def __init__(
        self,
        app: Flask,
        *,
        port: int = 0,
        threads: int = 32,
        loop: asyncio.AbstractEventLoop | None = None,
        native: dict[tuple[str, str], httpd.Handler] | None = None,
    ) -> None:
        self._own_thread: threading.Thread | None = None
        if loop is None:
            loop = asyncio.new_event_loop()
            self._own_thread = threading.Thread(
                target=loop.run_forever, name="http-server", daemon=True
            )
            self._own_thread.start()
        self._loop = loop
        self._native = dict(native or {})
        self._wsgi = WsgiHandler(app, threads)
        self._http = httpd.HttpServer(
            loop, self._wsgi, native=self._native, max_body=MAX_BODY_BYTES, error_body=_error_body
        )
        self._call(self._http.listen(port))
        self.port: int = self._http.port
        self._wsgi.port = self.port
        self._stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start accepting connections."""
        self._call(self._http.start())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, drop open connections, wait for the workers, stop an own loop."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            self._call(self._http.close(), timeout)
        self._wsgi.shutdown(timeout)
        for handler in self._native.values():
            close = getattr(handler, "close", None)
            if close is not None:
                close()
        if self._own_thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._own_thread.join(timeout)
            if not self._own_thread.is_alive():
                self._loop.close()

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
