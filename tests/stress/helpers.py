"""Helpers for the stress suite: the app's token and shortened provider timeouts, adding a
provider, calling /api/chat/stream and reading its event stream, and raw requests over a socket."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from backend.app import MiaodaApp
from backend.providers.retry import RetryPolicy
from backend.providers.transport import ProviderTimeouts
from tests.helpers import CANARY_KEY

TOKEN = "stress-token"
CHAT_PATH = "/v1/chat/completions"
# Short enough for a quick suite, long enough that a loaded CI box does not time out by accident.
READ_TIMEOUT = 1.5
CONNECT_TIMEOUT = 3.0
TIMEOUTS = ProviderTimeouts(
    connect=CONNECT_TIMEOUT, read=READ_TIMEOUT, write=5.0, pool=5.0, chat_read=READ_TIMEOUT
)
FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=lambda: 0.0)


def add_provider(app: MiaodaApp, base_url: str, name: str = "fake", **extra: Any) -> str:
    """Add an openai-compatible provider (without a check) and return its id."""
    config = {
        "name": name,
        "displayName": name.title(),
        "baseURL": base_url,
        "model": "fake-model",
        "type": "openai-compatible",
        "apiKey": CANARY_KEY,
        **extra,
    }
    result = app.bridge().addCustomProvider(config, {"validate": False})
    assert result["success"], result
    return str(result["id"])


def api_headers(token: str = TOKEN) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-MiaoDa-Token": token}


def chat_body(provider_id: str, text: str = "Hello") -> dict[str, Any]:
    return {"providerId": provider_id, "messages": [{"role": "user", "content": text}]}


def parse_events(raw: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of an SSE body; comment lines are skipped."""
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        kind = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads("\n".join(line[6:] for line in lines if line.startswith("data: ")))
        events.append((kind, data))
    return events


def stream_chat(
    url: str, provider_id: str, text: str = "Hello", timeout: float = 20.0
) -> tuple[str, list[tuple[str, Any]], float]:
    """POST /api/chat/stream; the raw body, its events and the wall time in seconds."""
    started = time.monotonic()
    response = httpx.post(
        f"{url}/api/chat/stream",
        json=chat_body(provider_id, text),
        headers=api_headers(),
        timeout=timeout,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response.text, parse_events(response.text), elapsed


def assert_well_formed(events: list[tuple[str, Any]]) -> None:
    """`start` first and `done` last, exactly once each; an error is followed by done/error."""
    kinds = [kind for kind, _ in events]
    assert kinds and kinds[0] == "start", kinds
    assert kinds[-1] == "done", kinds
    assert kinds.count("start") == 1 and kinds.count("done") == 1, kinds
    if "error" in kinds:
        assert kinds.count("error") == 1 and kinds[-2] == "error", kinds
        assert events[-1][1]["finishReason"] == "error"


def port_of(app: MiaodaApp) -> int:
    """The loopback port the app serves on."""
    return int(urlsplit(str(app.server_url)).port or 0)


def raw_request(
    port: int,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request as written over a plain socket (httpx would normalise `..`
    away and set its own Host); the status and the body bytes."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest
