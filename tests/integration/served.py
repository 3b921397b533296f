"""The real app served for integration tests, and the calls they make to it over HTTP.

`serve()` starts `MiaodaApp` on a data folder (encrypted-file secrets, token "tok", an
OS-chosen loopback port); `rpc()` calls `/api/rpc/<method>` and `post()` any route with that
token. Both fail the test if an answer ever carries the canary key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from backend.app import MiaodaApp
from tests.helpers import CANARY_KEY

TOKEN = "tok"
Call = Callable[..., dict[str, Any]]


def serve(data_dir: Path, **options: Any) -> MiaodaApp:
    """The app on `data_dir`, serving; `options` go to `MiaodaApp` (e.g. chat_heartbeat)."""
    app = MiaodaApp(data_dir, secret_backend="file", token=TOKEN, **options)
    app.start_server(0)
    return app


def post(app: MiaodaApp, path: str, body: Any, timeout: float = 30) -> httpx.Response:
    """POST `body` as JSON to `path` of the app, with its token."""
    response = httpx.post(
        f"{app.server_url}{path}",
        json=body,
        headers={"X-MiaoDa-Token": TOKEN},
        timeout=timeout,
    )
    assert CANARY_KEY not in response.text
    return response


def rpc(app: MiaodaApp, method: str, *args: Any) -> dict[str, Any]:
    """The envelope `/api/rpc/<method>` answers for these positional arguments."""
    result: dict[str, Any] = post(app, f"/api/rpc/{method}", list(args)).json()
    return result
