"""A streamable HTTP MCP server that wants `Authorization: Bearer <token>` (see __init__.py).

The token is the environment variable FAKE_MCP_TOKEN (never on the command line). The server
listens on 127.0.0.1 on a port the OS picks and prints `PORT <n>` as its first line once it
accepts connections. Any other token, or none, gets 401 with a body that echoes what was sent
(so a test can prove the client never shows it).
"""

from __future__ import annotations

import os
import socket
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

server = MCPServer("fake-http", log_level="WARNING")


@server.tool()
def echo(message: str) -> str:
    """Returns the message."""
    return f"echo: {message}"


class BearerGate:
    """Refuses every request whose Authorization header is not the expected bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            sent = dict(scope["headers"]).get(b"authorization", b"")
            if sent != self.expected:
                body = b'{"error": "bad token: ' + sent + b'"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


async def main() -> None:
    token = os.environ["FAKE_MCP_TOKEN"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    app = BearerGate(server.streamable_http_app(host="127.0.0.1"), token)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    web = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(web.serve, [sock])
        while not web.started:
            await anyio.sleep(0.01)
        print(f"PORT {sock.getsockname()[1]}", flush=True)


if __name__ == "__main__":
    try:
        anyio.run(main)
    except KeyboardInterrupt:
        sys.exit(0)
