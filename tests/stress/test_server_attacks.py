"""Attacks on the local server of the real app: raw requests over a socket, exact bytes.

Raw sockets rather than httpx so request targets reach the server as written (httpx would
normalise `..` segments away) and Host/Origin headers are exactly the attacker's.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backend.app import MiaodaApp
from tests.stress.helpers import TOKEN, port_of, raw_request


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiaodaApp]:
    """One app for the whole table (the cases do not change its state)."""
    instance = MiaodaApp(
        tmp_path_factory.mktemp("attacks"), secret_backend="file", token=TOKEN, chat_heartbeat=0.3
    )
    instance.start_server(0)
    yield instance
    instance.close()


JSON = {"Content-Type": "application/json"}
AUTH = {**JSON, "X-MiaoDa-Token": TOKEN}
EMPTY_ARGS = b"[]"
CHAT = json.dumps({"providerId": "x", "messages": [{"role": "user", "content": "hi"}]}).encode()

RPC = "/api/rpc/getAllCustomProviders"
OWN = "http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Attack:
    """One request and the status it must get; `{port}` in host/headers is filled in."""

    status: int
    headers: dict[str, str] = field(default_factory=lambda: AUTH)
    method: str = "POST"
    target: str = RPC
    body: bytes = EMPTY_ARGS
    host: str | None = None


def token(value: str) -> dict[str, str]:
    return {**JSON, "X-MiaoDa-Token": value}


CASES: dict[str, Attack] = {
    "control: rpc with the token": Attack(200),
    "control: localhost host": Attack(200, host="localhost:{port}"),
    "control: own origin": Attack(200, {**AUTH, "Origin": OWN}),
    "no token rpc": Attack(401, JSON),
    "no token chat stream": Attack(401, JSON, target="/api/chat/stream", body=CHAT),
    "no token chat": Attack(401, JSON, target="/api/chat", body=CHAT),
    "wrong token": Attack(401, token("nope")),
    "empty token": Attack(401, token("")),
    "token prefix": Attack(401, token(TOKEN[:-1])),
    "token plus suffix": Attack(401, token(TOKEN + "x")),
    "token in query only": Attack(401, JSON, target=f"{RPC}?token={TOKEN}"),
    "rebinding host evil": Attack(403, host="evil.example:{port}"),
    "rebinding host no port": Attack(403, host="127.0.0.1"),
    "rebinding host other port": Attack(403, host="127.0.0.1:1"),
    "rebinding host suffix": Attack(403, host="localhost.evil.example:{port}"),
    "rebinding host on a page": Attack(403, {}, "GET", "/", b"", "attacker.example:{port}"),
    "foreign origin": Attack(403, {**AUTH, "Origin": "https://evil.example"}),
    "origin null": Attack(403, {**AUTH, "Origin": "null"}),
    "origin other port": Attack(403, {**AUTH, "Origin": "http://127.0.0.1:1"}),
    "origin https scheme": Attack(403, {**AUTH, "Origin": "https://127.0.0.1:{port}"}),
    "foreign origin on chat": Attack(
        403, {**AUTH, "Origin": "http://evil.example"}, target="/api/chat/stream", body=CHAT
    ),
    "oversized body": Attack(413, body=b"[" + b" " * (17 * 1024 * 1024) + b"]"),
    "content type text/plain": Attack(415, {**AUTH, "Content-Type": "text/plain"}),
    "content type form": Attack(
        415, {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}, body=b"a=1"
    ),
    "no content type": Attack(415, {"X-MiaoDa-Token": TOKEN}),
    "content type on chat": Attack(
        415, {**AUTH, "Content-Type": "text/plain"}, target="/api/chat/stream", body=CHAT
    ),
    "invalid json": Attack(400, body=b"[1,"),
    "GET on the api": Attack(405, method="GET", body=b""),
    "PUT on the api": Attack(405, method="PUT"),
    "DELETE on chat": Attack(405, method="DELETE", target="/api/chat/stream", body=b""),
    "POST on a page": Attack(405, JSON, target="/", body=b"{}"),
    "unknown rpc method": Attack(404, target="/api/rpc/__init__"),
    "private rpc attribute": Attack(404, target="/api/rpc/_manager"),
}
TRAVERSALS = [
    "/../backend/app.py",
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/..%5c..%5c..%5cetc%5cpasswd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/....//....//....//etc/passwd",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "/assets/../../backend/app.py",
    "/index.html/../../pyproject.toml",
    "/.%2e/.%2e/pyproject.toml",
    "/%00../../etc/passwd",
]


@pytest.mark.parametrize("name", list(CASES))
def test_request_gets_the_right_status(served: MiaodaApp, name: str) -> None:
    case = CASES[name]
    port = port_of(served)
    headers = {k: v.replace("{port}", str(port)) for k, v in case.headers.items()}
    host = case.host.replace("{port}", str(port)) if case.host else None
    status, reply = raw_request(port, case.method, case.target, headers, case.body, host)
    assert status == case.status, (status, reply[:300])
    if case.target.startswith("/api/") and status != 200:
        envelope = json.loads(reply)
        assert envelope["success"] is False and envelope["error"]["message"]
        if status == 401:
            assert envelope["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("target", TRAVERSALS)
def test_static_path_traversal_is_refused(served: MiaodaApp, target: str) -> None:
    status, reply = raw_request(port_of(served), "GET", target)
    assert status in (400, 403, 404), (status, reply[:200])
    assert b"root:" not in reply and b"MiaodaApp" not in reply and b"[project]" not in reply


def test_a_real_static_file_is_served(served: MiaodaApp) -> None:
    status, reply = raw_request(port_of(served), "GET", "/")
    assert status == 200 and b"<html" in reply.lower()


def listening_addresses(port: int) -> list[str]:
    """Local addresses of LISTEN sockets on `port`, from /proc/net/tcp and tcp6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:
                if len(address) == 8:  # IPv4, little-endian
                    found.append(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.append("ipv6:" + address)
    return found


def test_the_server_listens_on_loopback_only(served: MiaodaApp) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp")
    assert listening_addresses(port_of(served)) == ["127.0.0.1"]


# --- the HTTP layer: malformed framing, idle sockets, requests without a Host ---------------


def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data` as it is and read until the server closes (or `timeout`); what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
    return received


BAD_LENGTHS = [
    "²".encode("latin-1"),  # a Unicode digit that int() does not take
    "٣".encode(),  # an Arabic-Indic three, which int() would take as 3
    "３".encode(),  # a full-width three
    b"+3",
    b"-1",
    b"0x3",
    b"3 3",
    b"3,3",
    b"99999999999999999999999999",
    b"",
]


@pytest.mark.parametrize("length", BAD_LENGTHS, ids=lambda value: repr(value))
def test_a_malformed_content_length_is_refused_without_a_traceback(
    served: MiaodaApp, length: bytes
) -> None:
    port = port_of(served)
    request = (
        (
            f"POST {RPC} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"X-MiaoDa-Token: {TOKEN}\r\n"
        ).encode()
        + b"Content-Length: "
        + length
        + b"\r\n\r\n[]"
    )
    reply = raw_exchange(port, request)
    if reply:  # a closed connection without an answer is a refusal too
        status = int(reply.split(b" ", 2)[1])
        assert status in (400, 413), reply[:200]
    log = Path(served.log_file).read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log


def test_two_different_content_lengths_are_refused(served: MiaodaApp) -> None:
    port = port_of(served)
    request = (
        f"POST {RPC} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-MiaoDa-Token: {TOKEN}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n[] "
    ).encode()
    reply = raw_exchange(port, request)
    assert not reply or int(reply.split(b" ", 2)[1]) == 400, reply[:200]


ROUTES = ["/", "/index.html", "/css/base.css", "/nothing", RPC, "/api/chat/stream", "/api/chat"]


@pytest.mark.parametrize("target", ROUTES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_http_1_0_without_a_host_is_refused_on_every_route(
    served: MiaodaApp, target: str, method: str
) -> None:
    body = b"[]" if target == RPC else CHAT
    request = (
        f"{method} {target} HTTP/1.0\r\nContent-Type: application/json\r\n"
        f"X-MiaoDa-Token: {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    reply = raw_exchange(port_of(served), request)
    status = int(reply.split(b" ", 2)[1])
    assert status in (400, 403), reply[:300]
    assert b"<html" not in reply.lower() and b'"providers"' not in reply


HOLD_SOCKETS = """
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(130)]
print("holding", len(held), flush=True)
sys.stdin.read()
"""


def test_130_idle_sockets_of_another_process_do_not_lock_the_app_out(served: MiaodaApp) -> None:
    import subprocess
    import sys
    import time

    port = port_of(served)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SOCKETS, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().startswith("holding 130")
        started = time.monotonic()
        status, reply = raw_request(port, "POST", RPC, AUTH, EMPTY_ARGS)
        assert status == 200 and json.loads(reply)["success"] is True
        assert time.monotonic() - started < 15
    finally:
        holder.kill()
        holder.wait(10)


def test_a_connection_that_sends_nothing_is_dropped_within_about_ten_seconds(
    served: MiaodaApp,
) -> None:
    import time

    with socket.create_connection(("127.0.0.1", port_of(served)), timeout=20) as sock:
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1) == b""  # closed by the server, nothing said
        assert time.monotonic() - started < 12
