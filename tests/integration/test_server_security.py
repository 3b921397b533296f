"""The local HTTP server's guards (docs/API.md, "Guards"), against the real server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.bridge import rpc_methods
from backend.paths import frontend_dir
from backend.server.app import create_app
from backend.server.wsgi import LocalServer
from tests.helpers import CANARY_KEY, provider_config

TOKEN = "test-token-123"


@pytest.fixture
def secret_store(file_secret_store: Any) -> Any:
    """The guards do not depend on the secret backend: only the file store."""
    return file_secret_store


@pytest.fixture
def server(bridge: Any) -> Iterator[LocalServer]:
    app = create_app(rpc_methods(bridge), token=TOKEN, frontend_dir=frontend_dir())
    srv = LocalServer(app, port=0, threads=8)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def rpc(client: httpx.Client, method: str, *args: Any, **headers: str) -> httpx.Response:
    return client.post(
        f"/api/rpc/{method}",
        content=json.dumps(list(args)),
        headers={"Content-Type": "application/json", "X-MiaoDa-Token": TOKEN, **headers},
    )


def test_rpc_with_the_token_answers_with_the_envelope(client: httpx.Client) -> None:
    response = rpc(client, "getAllCustomProviders")
    assert response.status_code == 200
    assert response.json() == {"success": True, "providers": []}


def test_rpc_mirrors_the_bridge(client: httpx.Client) -> None:
    added = rpc(client, "addCustomProvider", provider_config(), {"validate": False}).json()
    assert added["success"]
    got = rpc(client, "getCustomProvider", added["id"]).json()
    assert got["provider"]["name"] == "groq"
    assert CANARY_KEY not in json.dumps([added, got])


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_missing_or_wrong_token_gets_401_unauthorized(
    client: httpx.Client, token: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-MiaoDa-Token"] = token
    response = client.post("/api/rpc/getAllCustomProviders", content="[]", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost", "0.0.0.0:{port}"]
)
def test_a_foreign_host_gets_403(client: httpx.Client, server: LocalServer, host: str) -> None:
    response = rpc(client, "getAllCustomProviders", Host=host.format(port=server.port))
    assert response.status_code == 403
    page = client.get("/", headers={"Host": host.format(port=server.port)})
    assert page.status_code == 403


def test_localhost_host_is_accepted(client: httpx.Client, server: LocalServer) -> None:
    assert rpc(client, "getAllCustomProviders", Host=f"localhost:{server.port}").status_code == 200


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1:1", "http://localhost"]
)
def test_a_foreign_origin_gets_403(client: httpx.Client, origin: str) -> None:
    assert rpc(client, "getAllCustomProviders", Origin=origin).status_code == 403


def test_the_apps_own_origin_is_accepted(client: httpx.Client, server: LocalServer) -> None:
    assert rpc(client, "getAllCustomProviders", Origin=server.url).status_code == 200


def test_no_cors_headers_are_ever_sent(client: httpx.Client) -> None:
    responses = [
        rpc(client, "getAllCustomProviders", Origin="https://evil.example"),
        rpc(client, "getAllCustomProviders"),
        client.options(
            "/api/rpc/getAllCustomProviders",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        ),
        client.get("/"),
    ]
    for response in responses:
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_unknown_methods_and_private_attributes_are_not_callable(client: httpx.Client) -> None:
    for name in ("_manager", "__init__", "nope", "_failure"):
        response = rpc(client, name)
        assert response.json()["success"] is False
        assert response.status_code in (404,)


def test_a_body_that_is_not_a_json_array_is_refused(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json", "X-MiaoDa-Token": TOKEN}
    assert (
        client.post("/api/rpc/getAllCustomProviders", content="{}", headers=headers).status_code
        == 400
    )
    bad = client.post("/api/rpc/getAllCustomProviders", content="not json", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_CONFIG"


def test_a_wrong_content_type_is_refused(client: httpx.Client) -> None:
    response = client.post(
        "/api/rpc/getAllCustomProviders",
        content="[]",
        headers={"Content-Type": "text/plain", "X-MiaoDa-Token": TOKEN},
    )
    assert response.status_code == 415


def test_an_oversized_body_is_refused(client: httpx.Client) -> None:
    big = b"[" + b'"' + b"x" * (17 * 1024 * 1024) + b'"]'
    response = client.post(
        "/api/rpc/getAllCustomProviders",
        content=big,
        headers={"Content-Type": "application/json", "X-MiaoDa-Token": TOKEN},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "path",
    ["/../pyproject.toml", "/%2e%2e/pyproject.toml", "/..%2fpyproject.toml", "/js/../../README.md"],
)
def test_static_files_cannot_escape_the_frontend_folder(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert "miaoda-chat" not in response.text


def test_pages_carry_a_strict_content_security_policy(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_the_server_listens_on_loopback_only(server: LocalServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")


def test_stop_returns_promptly_with_an_idle_keep_alive_connection(bridge: Any) -> None:
    import time

    app = create_app(rpc_methods(bridge), token=TOKEN, frontend_dir=frontend_dir())
    srv = LocalServer(app, port=0, threads=4)
    srv.start()
    with httpx.Client(base_url=srv.url) as c:
        c.get("/")
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 2


def test_frontend_index_exists() -> None:
    assert (Path(frontend_dir()) / "index.html").is_file()
