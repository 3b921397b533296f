"""The Flask app: the frontend's files, `/api/rpc`, the chat routes and their guards.

`create_app` builds it from the RPC methods it serves and the chat service;
`backend.server.wsgi.LocalServer` serves it. Guards (docs/API.md, "Guards"; `refusal()`), in
this order for every request, as a `before_request` hook: the Host header must name this
loopback port (a defence against DNS rebinding; a request without one, as HTTP/1.0 allows, is
refused), a present Origin must be the app's own, and every `/api/` request must carry the
token, be a POST and be JSON. No CORS header is ever sent, so other sites can neither read
answers nor send JSON to the API.

A JSON body is parsed strictly (no NaN or infinities) and may nest arrays and objects at most
`MAX_JSON_DEPTH` deep; anything else is a 400 envelope, so no later step (validation,
re-serializing a reply) can hit Python's recursion limit. Static files come only from inside
the frontend folder, symlinks resolved.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, Response, abort, request, send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.security import safe_join

from backend.errors import InternalError, InvalidConfig, MiaodaError, NotFound, Unauthorized
from backend.i18n import tr

log = logging.getLogger("miaoda.server")

TOKEN_HEADER = "X-MiaoDa-Token"  # noqa: S105 - a header name, not a secret
MAX_BODY_BYTES = 16 * 1024 * 1024
# Arrays and objects in a request body nest at most this deep: far beyond any real request (a
# tool's JSON Schema included), and far below what would let validation or re-serializing a
# reply reach Python's recursion limit.
MAX_JSON_DEPTH = 64
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
        return 403, Unauthorized(tr("api.refused.foreignHost"))
    if origin is not None and origin not in {f"http://{h}" for h in hosts}:
        return 403, Unauthorized(tr("api.refused.otherSite"))
    if path.startswith("/api/"):
        if not hmac.compare_digest(given_token.encode(), token.encode()):
            return 401, Unauthorized()
        if method != "POST":
            return 405, InvalidConfig(tr("api.postOnly"))
        if mimetype != "application/json":
            return 415, InvalidConfig(tr("api.jsonOnly"))
    return None


class ChatGateway(Protocol):
    """What the chat routes need: a validated stream of SSE bytes, or one whole answer."""

    def stream(self, body: Any, is_disconnected: Callable[[], bool]) -> Iterator[bytes]: ...

    def complete(self, body: Any) -> dict[str, Any]: ...


RpcMethods = Mapping[str, Callable[..., Any]]


def envelope_response(err: MiaodaError, status: int | None = None) -> Response:
    """A JSON error envelope with the error's HTTP status."""
    body = json_bytes({"success": False, "error": err.to_dict()})
    return Response(body, status=status or err.http_status, mimetype="application/json")


def create_app(
    rpc: RpcMethods,
    *,
    token: str,
    frontend_dir: Path,
    chat: ChatGateway | None = None,
) -> Flask:
    """Build the Flask app serving `rpc` (method name → callable returning an envelope)."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.before_request
    def guard() -> Response | None:
        refused = refusal(
            # The header itself: `request.host` falls back to the server's own name.
            host=request.environ.get("HTTP_HOST", ""),
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
                InvalidConfig(tr("api.tooLarge", size=MAX_BODY_BYTES // (1024 * 1024))),
                status=413,
            )
        if request.path.startswith("/api/"):
            message = err.description or tr("api.badRequest")
            if status == 404:
                message = tr("api.noRoute")
            return envelope_response(InvalidConfig(message), status=status)
        text = err.description or tr("api.notFound")
        return Response(text, status=status, mimetype="text/plain")

    @app.errorhandler(MiaodaError)
    def app_error(err: MiaodaError) -> Response:
        return envelope_response(err)

    @app.errorhandler(Exception)
    def crash(err: Exception) -> Response:
        log.exception("unhandled error on %s", request.path)
        return envelope_response(InternalError())

    @app.post("/api/rpc/<method>")
    def rpc_call(method: str) -> Response:
        call = rpc.get(method)
        if call is None:
            return envelope_response(NotFound(tr("api.noMethod", method=method[:64])))
        args = _json_body()
        if not isinstance(args, list):
            return envelope_response(
                InvalidConfig(
                    tr("api.argumentsNotArray"), fields={"arguments": [tr("fields.notArray")]}
                )
            )
        result = call(*args)
        return Response(json_bytes(result), mimetype="application/json")

    @app.post("/api/chat/stream")
    def chat_stream() -> Response:
        if chat is None:
            return envelope_response(InternalError(tr("api.chatUnavailable")))
        disconnected = request.environ.get("waitress.client_disconnected")

        def gone() -> bool:
            return bool(disconnected is not None and disconnected())

        events = chat.stream(_json_body(), gone)  # body and provider errors raise here
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return Response(
            events,
            mimetype="text/event-stream",
            headers=headers,
            direct_passthrough=True,
        )

    @app.post("/api/chat")
    def chat_once() -> Response:
        if chat is None:
            return envelope_response(InternalError(tr("api.chatUnavailable")))
        try:
            result = {"success": True, **chat.complete(_json_body())}
        except MiaodaError as err:
            return envelope_response(err)
        return Response(json_bytes(result), mimetype="application/json")

    root = frontend_dir.resolve()

    def send_static(filename: str) -> Response:
        # safe_join refuses `..` and absolute paths; resolving then catches a symlink (to a
        # file or a folder) that leads out of the frontend folder. Links within it still work.
        joined = safe_join(str(root), filename)
        if joined is None:
            abort(404)
        try:
            real = Path(joined).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            abort(404)
        if not real.is_relative_to(root) or not real.is_file():
            abort(404)
        return send_from_directory(root, real.relative_to(root).as_posix())

    @app.get("/")
    def index() -> Response:
        return send_static("index.html")

    @app.get("/<path:filename>")
    def static_file(filename: str) -> Response:
        return send_static(filename)

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
    """The request's JSON body: strict JSON (no NaN or infinities), at most `MAX_JSON_DEPTH`
    arrays and objects deep. Anything else is a 400 `INVALID_CONFIG`, never a crash."""
    try:
        body = json.loads(
            request.get_data(cache=False) or b"null",
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise _TooDeep() from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError, NaN, over-long integers
        raise _BadJson() from None
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        raise _TooDeep()
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity, which JSON cannot carry back
        raise ValueError(f"{text[:32]} is out of range")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep in `value` (the outermost one is
    depth 1). Iterative, so it cannot itself hit the recursion limit."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class _BadJson(InvalidConfig):
    default_key = "api.badJson"


class _TooDeep(InvalidConfig):
    default_key = "api.tooDeep"

    def default_text(self) -> str:
        return tr(self.default_key, depth=MAX_JSON_DEPTH)
