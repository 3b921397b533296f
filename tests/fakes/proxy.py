"""A real forward proxy on loopback for the provider layer's proxy tests.

It understands what clients send to an HTTP proxy: `CONNECT host:port` (then it relays bytes
both ways, so TLS runs end to end through it) and absolute-form requests (`GET http://host/…`,
forwarded once and relayed until either side closes). Host names in `hosts` resolve to the
address given, so a test can reach a local server under a name that is not loopback (loopback
is never proxied). `silent=True` accepts connections and never answers (for time-outs).
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import threading
from typing import Any


class FakeProxy:
    """`with FakeProxy(...) as proxy:` serves on 127.0.0.1; `proxy.url`, `proxy.seen`."""

    def __init__(self, hosts: dict[str, str] | None = None, *, silent: bool = False) -> None:
        self.hosts = dict(hosts or {})
        self.silent = silent
        self.seen: list[str] = []  # request lines, as received
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FakeProxy


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        proxy = self.server.proxy
        head = _read_head(client)
        if head is None:
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        proxy.seen.append(line)
        if proxy.silent:
            with contextlib.suppress(OSError):
                client.recv(1)  # until the client gives up
            return
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._connect(host, int(port))
            if upstream is None:
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            rest = target.split("://", 1)[1]
            authority, _, path = rest.partition("/")
            host, _, port = authority.partition(":")
            upstream = self._connect(host, int(port or 80))
            if upstream is None:
                return
            headers = head.partition(b"\r\n")[2]
            upstream.sendall(f"{method} /{path} HTTP/1.1\r\n".encode() + headers)
        with upstream:
            _relay(client, upstream)

    def _connect(self, host: str, port: int) -> socket.socket | None:
        address = self.server.proxy.hosts.get(host, host)
        try:
            upstream = socket.create_connection((address, port), timeout=5)
        except OSError:
            self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return None
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return upstream


def _read_head(sock: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            piece = sock.recv(65536)
        except OSError:
            return None
        if not piece:
            return None
        data += piece
    return data


def _relay(one: socket.socket, other: socket.socket) -> None:
    peers: dict[Any, socket.socket] = {one: other, other: one}
    while True:
        readable, _, _ = select.select(list(peers), [], [], 30)
        if not readable:
            return
        for sock in readable:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            peers[sock].sendall(data)
