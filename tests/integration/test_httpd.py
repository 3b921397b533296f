"""The app's HTTP/1.1 server (backend.server.httpd) over raw sockets: framing and limits."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from backend.server import httpd
from backend.server.app import LocalServer

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()
    token = environ.get("HTTP_X_MIAODA_TOKEN", "-")
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("X-Token", token)],
    )
    return [body]


class Streaming:
    """A WSGI app streaming `count` parts without a length; notes when its body is closed."""

    def __init__(self, count: int = 3, delay: float = 0.0) -> None:
        self.count, self.delay = count, delay
        self.closed = threading.Event()
        self.saw_gone = threading.Event()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self._parts(environ)

    def _parts(self, environ: Environ) -> Iterator[bytes]:
        try:
            for i in range(self.count):
                if environ["miaoda.client_disconnected"]():
                    self.saw_gone.set()
                    return
                yield f"part{i};".encode()
                time.sleep(self.delay)
        finally:
            self.closed.set()


@pytest.fixture
def serve() -> Iterator[Callable[..., LocalServer]]:
    servers: list[LocalServer] = []

    def start(app: Any = hello, **options: Any) -> LocalServer:
        server = LocalServer(app, port=0, threads=4, **options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def connect(server: LocalServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def request(target: str = "/", method: str = "GET", extra: str = "", body: bytes = b"") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def test_keep_alive_answers_several_requests_on_one_connection(serve: Any) -> None:
    server = serve()
    with connect(server) as sock:
        for path in ("/a", "/b"):
            sock.sendall(request(path))
            reply = sock.recv(65536)
            assert status_of(reply) == 200 and reply.endswith(f"GET {path}".encode())
            assert b"connection: close" not in reply.lower()


def test_pipelined_requests_are_answered_in_order(serve: Any) -> None:
    server = serve()
    with connect(server) as sock:
        sock.sendall(
            request("/one") + request("/two") + request("/three", extra="Connection: close\r\n")
        )
        replies = read_all(sock)
    assert replies.index(b"GET /one") < replies.index(b"GET /two") < replies.index(b"GET /three")
    assert replies.count(b"HTTP/1.1 200 OK") == 3


def test_http_1_0_gets_one_answer_then_the_connection_closes(serve: Any) -> None:
    server = serve()
    with connect(server) as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        reply = read_all(sock)
    assert status_of(reply) == 200 and reply.endswith(b"GET /old")
    assert b"Connection: close" in reply


def test_head_gets_headers_and_no_body(serve: Any) -> None:
    server = serve()
    with connect(server) as sock:
        sock.sendall(request("/x", method="HEAD", extra="Connection: close\r\n"))
        reply = read_all(sock)
    assert status_of(reply) == 200 and reply.endswith(b"\r\n\r\n")


def test_expect_100_continue_is_answered_before_the_body(serve: Any) -> None:
    server = serve()
    with connect(server) as sock:
        sock.sendall(
            b"POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        assert b"POST /up" in sock.recv(65536)


def test_a_streamed_answer_is_chunked_and_complete(serve: Any) -> None:
    server = serve(Streaming(count=3))
    with connect(server) as sock:
        sock.sendall(request(extra="Connection: close\r\n"))
        reply = read_all(sock)
    assert b"Transfer-Encoding: chunked" in reply
    body = reply.split(b"\r\n\r\n", 1)[1]
    assert body == b"6\r\npart0;\r\n6\r\npart1;\r\n6\r\npart2;\r\n0\r\n\r\n"


def test_a_client_that_leaves_closes_the_apps_streamed_body(serve: Any) -> None:
    app = Streaming(count=1000, delay=0.01)
    server = serve(app)
    with connect(server) as sock:
        sock.sendall(request())
        assert b"part0;" in sock.recv(65536)
    assert app.closed.wait(3)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded: 1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nA: \x00\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"GET / HTTP/1.1\r\nHost: x\r\nA: " + b"a" * (70 * 1024) + b"\r\n\r\n", 431),
    ],
    ids=[
        "http2",
        "no version",
        "double space",
        "bad method",
        "no host",
        "space in name",
        "folded header",
        "nul in value",
        "negative length",
        "two lengths",
        "length and chunked",
        "chunked body",
        "huge head",
    ],
)
def test_malformed_requests_are_refused_and_the_connection_closed(
    serve: Any, raw: bytes, status: int
) -> None:
    server = serve()
    with connect(server) as sock:
        sock.sendall(raw)
        reply = read_all(sock)
    assert status_of(reply) == status
    assert b"Connection: close" in reply


def test_a_body_over_the_limit_is_refused_before_it_is_sent(serve: Any) -> None:
    server = serve()
    with connect(server) as sock:
        sock.sendall(b"POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
        reply = sock.recv(65536)  # answered at once: the body is never waited for
    assert status_of(reply) == 413 and b'"success": false' in reply


def test_header_names_with_underscores_are_dropped(serve: Any) -> None:
    # X_MiaoDa_Token would otherwise become the same environ key as X-MiaoDa-Token.
    server = serve()
    with connect(server) as sock:
        sock.sendall(request(extra="X_MiaoDa_Token: sneaky\r\nConnection: close\r\n"))
        reply = read_all(sock)
    assert b"X-Token: -" in reply


def test_a_request_head_that_drips_in_is_dropped(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpd, "HEAD_SECONDS", 0.5)
    server = serve()
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < 5:
            try:
                sock.sendall(b"X-Slow: 1\r\n")  # a header line every 0.1 s, never the end
            except OSError:
                closed = True
                break
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                try:
                    closed = sock.recv(1) == b""
                except ConnectionResetError:
                    closed = True
        assert closed and time.monotonic() - started < 2.5


def test_an_idle_keep_alive_connection_is_closed(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpd, "IDLE_SECONDS", 0.3)
    server = serve()
    with connect(server) as sock:
        sock.sendall(request())
        assert status_of(sock.recv(65536)) == 200
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server
        assert time.monotonic() - started < 2.5


def test_connections_over_the_limit_get_503(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpd, "MAX_CONNECTIONS", 2)
    server = serve()
    held = [connect(server), connect(server)]
    try:
        for sock in held:
            sock.sendall(request())
            assert status_of(sock.recv(65536)) == 200
        with connect(server) as extra:
            assert status_of(read_all(extra)) == 503
    finally:
        for sock in held:
            sock.close()


def test_stop_returns_promptly_while_a_response_streams(serve: Any) -> None:
    app = Streaming(count=10_000, delay=0.01)
    server = LocalServer(app, port=0, threads=4)
    server.start()
    with connect(server) as sock:
        sock.sendall(request())
        sock.recv(100)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
        assert app.closed.wait(2)


def test_a_slow_reader_holds_the_app_back_instead_of_filling_memory(serve: Any) -> None:
    big = b"x" * 65536

    class Firehose:
        sent = 0

        def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return self.parts()

        def parts(self) -> Iterator[bytes]:
            for _ in range(2000):  # 128 MB if nothing held it back
                Firehose.sent += 1
                yield big

    server = serve(Firehose())
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(request())
        sock.recv(1000)
        time.sleep(1.0)  # not reading
        assert Firehose.sent < 200  # stopped at the socket buffers, not 128 MB in memory


def test_many_pipelined_requests_answered_at_once_do_not_recurse(serve: Any) -> None:
    # A native route may answer synchronously (a refusal); the next pipelined request must
    # then wait its turn on the loop, not be handled inside the previous one's stack.
    def refuse(request: httpd.Request, responder: httpd.Responder) -> None:
        responder.start(401, [("Content-Length", "0")])
        responder.end()

    server = serve(native={("POST", "/x"): refuse})
    count = 3000
    with connect(server) as sock:
        sock.sendall(request("/x", method="POST", body=b"{}") * count)
        replies = b""
        while replies.count(b"HTTP/1.1 401") < count:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {replies.count(b'HTTP/1.1 401')} answers"
            replies += chunk
